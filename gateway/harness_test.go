package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/testkit"
)

// The harness of the gateway's tests: real Gateways on loopback ports,
// talked to over HTTP.

func parse(t *testing.T, y string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(y), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// writeConfig writes y to path (a config file for Options.ConfigFile).
func writeConfig(t *testing.T, path, y string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadFile writes y to gateway.yaml in a new temporary folder and loads
// it: the config and its path.
func loadFile(t *testing.T, y string) (*config.Config, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeConfig(t, path, y)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

// listening builds a Gateway (logging nowhere unless opts.Logger is set)
// and binds its listeners.
func listening(t *testing.T, cfg *config.Config, opts Options) *Gateway {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	g, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := g.Listen(); err != nil {
		g.Close()
		t.Fatalf("Listen: %v", err)
	}
	return g
}

// serve runs g until the test ends; stop ends it earlier and checks that
// Serve returned nil.
func serve(t *testing.T, g *Gateway) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			stop()
		}
	})
	return stop
}

// boot is listening then serve.
func boot(t *testing.T, cfg *config.Config, opts Options) (*Gateway, func()) {
	t.Helper()
	g := listening(t, cfg, opts)
	return g, serve(t, g)
}

// start boots a Gateway with the default options.
func start(t *testing.T, cfg *config.Config) (*Gateway, func()) {
	t.Helper()
	return boot(t, cfg, Options{})
}

// observed is a logger whose lines (Info and up) the test can read.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.InfoLevel)
	return zap.New(core), logs
}

// startLogged boots a Gateway logging to an observer.
func startLogged(t *testing.T, cfg *config.Config, opts Options) (*Gateway, *observer.ObservedLogs) {
	t.Helper()
	var logs *observer.ObservedLogs
	opts.Logger, logs = observed()
	g, _ := boot(t, cfg, opts)
	return g, logs
}

// send sends a request with an Authorization header and a JSON body, each
// left out when empty.
func send(t *testing.T, method, url, authorization, body string) (int, http.Header, string) {
	t.Helper()
	var headers []string
	if authorization != "" {
		headers = append(headers, "Authorization", authorization)
	}
	if body != "" {
		headers = append(headers, "Content-Type", "application/json")
	}
	return callBody(t, method, url, body, headers...)
}

// call sends a request with the given headers (name, value, ...): the
// answer's status, headers and body.
func call(t *testing.T, method, url string, headers ...string) (int, http.Header, string) {
	t.Helper()
	return callBody(t, method, url, "", headers...)
}

// callBody is call with a request body.
func callBody(t *testing.T, method, url, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func do(t *testing.T, method, url, authorization string) (int, http.Header, string) {
	t.Helper()
	return send(t, method, url, authorization, "")
}

// adminCall sends a request to a gateway's admin listener.
func adminCall(t *testing.T, g *Gateway, method, path, authorization, body string) (int, http.Header, string) {
	t.Helper()
	return send(t, method, "http://"+g.AdminAddr().String()+path, authorization, body)
}

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	code, _, body := do(t, "GET", url, "")
	return code, body
}

// waitStatus waits up to 10s until GET url answers want.
func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	waitCode(t, 10*time.Second, fmt.Sprintf("GET %s answering %d", url, want), url, "", want)
}

// waitCode waits up to within until GET url with authorization answers
// want; what names the wait in the failure, which also logs the last
// answer.
func waitCode(t *testing.T, within time.Duration, what, url, authorization string, want int) {
	t.Helper()
	var code int
	var body string
	waited := false
	defer func() {
		if !waited {
			t.Logf("last answer: %d %q", code, body)
		}
	}()
	testkit.Eventually(t, within, what, func() bool {
		code, _, body = do(t, "GET", url, authorization)
		return code == want
	})
	waited = true
}

// namedKey creates user's named key handle on g: its token.
func namedKey(t *testing.T, g *Gateway, user, handle string) string {
	t.Helper()
	tok, _, err := g.Auth().Accounts.CreateKey(t.Context(), user, authz.KeySpec{Handle: handle})
	if err != nil {
		t.Fatalf("CreateKey %s/%s: %v", user, handle, err)
	}
	return tok
}

// apiKeyToken issues a new token of user's ApiKey pair on g: the key and
// the token.
func apiKeyToken(t *testing.T, g *Gateway, user string) (key, token string) {
	t.Helper()
	key, token, err := g.Auth().Accounts.NewAPIKeyToken(t.Context(), user)
	if err != nil {
		t.Fatalf("NewAPIKeyToken %s: %v", user, err)
	}
	return key, token
}
