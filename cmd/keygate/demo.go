package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/gateway"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/version"
)

// demoConfig is the gateway the demo runs: the embedded store in a
// temporary folder and a sample upstream that echoes what it receives.
const demoConfig = `
listen: %q
admin_listen: %q
health_listen: %q
log: {format: console}
store:
  driver: embedded
  embedded: {path: %q}
routes:
  - name: public
    path_prefix: /public
    upstream: %s
    auth: none
  - name: private
    path_prefix: /private
    upstream: %s
    api_set: demo
`

func demo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "public listener `address`")
	admin := fs.String("admin", "127.0.0.1:9090", "admin listener `address` (the admin API)")
	health := fs.String("health", "127.0.0.1:9091", "health listener `address` (/healthz, /readyz, /metrics)")
	once := fs.Bool("once", false, "exit after showing the sample requests")
	upstreamOnly := fs.String("upstream-only", "", "run only the sample upstream, on `address` (e.g. 127.0.0.1:9001, where gateway.yaml's routes point), until stopped")
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	upAddr := "127.0.0.1:0"
	if *upstreamOnly != "" {
		upAddr = *upstreamOnly
	}
	upL, err := net.Listen("tcp", upAddr)
	if err != nil {
		fmt.Fprintln(stderr, "keygate demo: sample upstream:", err)
		return exitError
	}
	up := &http.Server{Handler: echo.Handler{}, ReadHeaderTimeout: 5 * time.Second}
	go up.Serve(upL)
	defer up.Close()
	if *upstreamOnly != "" {
		fmt.Fprintf(stdout, "keygate demo: the sample upstream echoes requests on http://%s; Ctrl-C stops it\n", upL.Addr())
		<-ctx.Done()
		return exitOK
	}
	upURL := "http://" + upL.Addr().String()

	dir, err := os.MkdirTemp("", "keygate-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "keygate demo:", err)
		return exitError
	}
	defer os.RemoveAll(dir)

	y := fmt.Sprintf(demoConfig, *listen, *admin, *health, filepath.Join(dir, "keygate.db"), upURL, upURL)
	cfg, err := config.Parse("demo", []byte(y), nil)
	if err != nil {
		printProblems(stderr, err)
		return exitConfig
	}
	g, err := gateway.New(ctx, cfg, gateway.Options{Version: version.Get()})
	if err != nil {
		fmt.Fprintln(stderr, "keygate demo:", err)
		return exitError
	}
	if err := g.Listen(); err != nil {
		g.Close()
		fmt.Fprintf(stderr, "keygate demo: %v\n(another program uses the port? try: keygate demo -listen 127.0.0.1:18080 -admin 127.0.0.1:19090 -health 127.0.0.1:19091)\n", err)
		return exitError
	}
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Serve(serveCtx) }()
	fail := func(err error) int {
		fmt.Fprintln(stderr, "keygate demo:", err)
		cancel()
		<-done
		return exitError
	}

	// What `keygate users add demo --api-sets demo` and `keygate keys
	// create demo --handle demo` do, in this process.
	ctx = audit.WithActor(ctx, cliActor())
	if _, err := g.Auth().Accounts.CreateUser(ctx, authz.User{Name: "demo", APISets: []string{"demo"}, Scopes: []string{"read", "write"}}); err != nil {
		return fail(err)
	}
	token, _, err := g.Auth().Accounts.CreateKey(ctx, "demo", authz.KeySpec{Handle: "demo", Description: "keygate demo"})
	if err != nil {
		return fail(err)
	}

	base := "http://" + g.Addr().String()
	fmt.Fprintf(stdout, "keygate demo: gateway on %s, sample upstream on %s, metrics on http://%s/metrics\n", base, upURL, g.HealthAddr())
	fmt.Fprintf(stdout, "keygate demo: user \"demo\" (API set demo; scopes read, write) with a named API key \"demo\"; its token:\n  %s\n\n", token)
	for _, r := range []struct{ path, authorization string }{
		{"/public/hello?name=world", ""},
		{"/private/hello", ""},
		{"/private/hello", "Bearer " + token},
	} {
		if err := showRequest(stdout, base+r.path, r.authorization); err != nil {
			return fail(err)
		}
	}
	if *once {
		cancel()
	} else {
		fmt.Fprintln(stdout, "keygate is running: try the curl commands above. Ctrl-C stops it.")
	}
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "keygate demo:", err)
		return exitError
	}
	return exitOK
}

// showRequest prints a request through the gateway, with an
// Authorization header unless authorization is empty, as a person would
// see it with curl.
func showRequest(w io.Writer, url, authorization string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
		fmt.Fprintf(w, "$ curl -i -H 'Authorization: %s' '%s'\n", authorization, url)
	} else {
		fmt.Fprintf(w, "$ curl -i '%s'\n", url)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %s\n", resp.Proto, resp.Status)
	for _, h := range []string{"Content-Type", "X-Request-Id", "Www-Authenticate"} {
		for _, v := range resp.Header.Values(h) {
			fmt.Fprintf(w, "%s: %s\n", h, v)
		}
	}
	fmt.Fprintf(w, "\n%s\n\n", strings.TrimSpace(string(body)))
	return nil
}
