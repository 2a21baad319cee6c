package account

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/httpkit/httpkittest"
	"github.com/keygate/keygate/internal/testkit"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// clock is a settable clock for session deadlines.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// ahead is the credential service's clock: the real time moved ahead by
// a settable amount (to see a key expire; the store's own TTLs stay on
// real time).
type ahead struct{ d atomic.Int64 }

func (a *ahead) Now() time.Time      { return time.Now().Add(time.Duration(a.d.Load())) }
func (a *ahead) Add(d time.Duration) { a.d.Add(int64(d)) }

// env is the account pages on a real embedded store and credential
// service, served by an httptest server, with a clock the test moves.
type env struct {
	// closeStore closes the store under the pages (to see them fail).
	closeStore func()
	srv        *httptest.Server
	svc        *authz.Service
	h          *Handler
	clock      *clock
	// authzClock is svc's clock.
	authzClock *ahead
	// logs holds what svc logged (its audit lines among them).
	logs *observer.ObservedLogs
}

// newEnv starts the pages on an embedded store; extra is more YAML for the
// top level (with an auth section of its own, it replaces the test digest
// key's).
func newEnv(t *testing.T, extra string) *env {
	t.Helper()
	return startEnv(t, fmt.Sprintf("store: {driver: embedded, embedded: {path: %q}}", filepath.Join(t.TempDir(), "keygate.db")), extra)
}

// startEnv starts the pages on the store section storeYAML.
func startEnv(t *testing.T, storeYAML, extra string) *env {
	t.Helper()
	if !strings.Contains(extra, "auth:") {
		extra += "\nauth: {digest_keys: [{id: t1, secret: \"a-test-digest-key-of-at-least-32-bytes\"}]}"
	}
	account := "account: {enabled: true, session_idle_timeout: 10m, session_absolute_timeout: 1h}"
	if strings.Contains(extra, "account:") { // the test's own
		account = ""
	}
	y := fmt.Sprintf(`
%s
%s
%s
routes:
  - {name: orders, path_prefix: /orders, upstream: "http://127.0.0.1:1", api_set: orders}
`, storeYAML, account, extra)
	cfg := httpkittest.Config(t, y)
	ac := &ahead{}
	core, logs := observer.New(zap.InfoLevel)
	st, svc := httpkittest.CoreLog(t, cfg, ac.Now, zap.New(core))
	c := &clock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	h, err := New(svc, st, cfg, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{srv: srv, svc: svc, h: h, clock: c, authzClock: ac, logs: logs, closeStore: func() { _ = st.Close() }}
}

// user makes a user with the password "pw-<name>-secret".
func (e *env) user(t *testing.T, name string, sets []string, authorities ...string) {
	t.Helper()
	httpkittest.User(t, e.svc, name, sets, []string{"read", "write"}, authorities...)
}

// signedIn creates the user (as user does) and returns a browser signed
// in as them.
func (e *env) signedIn(t *testing.T, name string, sets []string, authorities ...string) *browser {
	t.Helper()
	e.user(t, name, sets, authorities...)
	b := e.browser(t)
	b.signIn(name)
	return b
}

// browser is a client with a cookie jar that does not follow redirects
// (tests look at them).
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string // the last page's form token
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var p page
	p.status, p.header, p.body = testkit.SendForm(b.t, b.c, method, b.e.srv.URL+path, form)
	b.csrf = testkit.CSRF(p.body, b.csrf)
	return p
}

func (b *browser) get(path string) page { return b.do("GET", path, nil) }

// post sends a form with the last page's CSRF token.
func (b *browser) post(path string, form url.Values) page {
	return b.do("POST", path, testkit.WithCSRF(form, b.csrf))
}

// signIn signs in as name with their password and checks it worked.
func (b *browser) signIn(name string) {
	b.t.Helper()
	b.get("/account/signin")
	p := b.post("/account/signin", url.Values{"username": {name}, "password": {"pw-" + name + "-secret"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/account/profile" {
		b.t.Fatalf("sign in as %s: %d %s %s", name, p.status, p.header.Get("Location"), p.body)
	}
	b.get("/account/profile")
}

// verify asks the credential service whether authorization may read the
// API set apiSet from 127.0.0.1, as a proxied GET would.
func (e *env) verify(t *testing.T, authorization, apiSet string) error {
	t.Helper()
	_, err := e.svc.Verifier.Verify(t.Context(), []string{authorization}, authz.Need{APISet: apiSet, Scope: "read"}, netip.MustParseAddr("127.0.0.1"))
	return err
}
