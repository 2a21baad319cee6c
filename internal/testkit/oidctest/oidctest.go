// Package oidctest runs a real OpenID Connect provider in the test
// process (github.com/oauth2-proxy/mockoidc: discovery, JWKS, the
// authorization code flow with PKCE) and lets a test bend its answers:
// another nonce, ID token claims rewritten (and signed again with the
// provider's key), or the provider stopped.
package oidctest

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// IdP is a running provider. Its issuer is http://localhost:PORT/oidc:
// "localhost" is another site than the 127.0.0.1 of the servers under
// test, so a browser treats the provider's redirect back as the
// cross-site navigation it is in production.
type IdP struct {
	*mockoidc.MockOIDC

	mu      sync.Mutex
	nonce   string                     // if set, replaces the nonce sent to the authorize endpoint
	rewrite func(claims jwt.MapClaims) // if set, changes the ID token's claims
	down    bool                       // answer 503 to everything
}

// hostAddr is the listener's address under another host name.
type hostAddr struct {
	net.Addr
	s string
}

func (a hostAddr) String() string { return a.s }

type namedListener struct {
	net.Listener
	addr net.Addr
}

func (l namedListener) Addr() net.Addr { return l.addr }

// Start runs a provider until the test ends.
func Start(t testing.TB) *IdP {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = m.Keypair.KeyID() // computed now, before a server goroutine reads it
	p := &IdP{MockOIDC: m}
	_ = m.AddMiddleware(p.bend)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if err := m.Start(namedListener{ln, hostAddr{ln.Addr(), "localhost:" + port}}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

// User queues the person who signs in at the next authorize request.
func (p *IdP) User(u *mockoidc.MockUser) { p.QueueUser(u) }

// WrongNonce makes the provider put another nonce in the next ID tokens.
func (p *IdP) WrongNonce(nonce string) { p.mu.Lock(); p.nonce = nonce; p.mu.Unlock() }

// Down makes the provider answer every request with 503 (true) or serve
// again (false).
func (p *IdP) Down(down bool) { p.mu.Lock(); p.down = down; p.mu.Unlock() }

// Rewrite changes the claims of the ID tokens the provider issues from
// now on (nil: no more).
func (p *IdP) Rewrite(f func(jwt.MapClaims)) { p.mu.Lock(); p.rewrite = f; p.mu.Unlock() }

func (p *IdP) bend(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		nonce, rewrite, down := p.nonce, p.rewrite, p.down
		p.mu.Unlock()
		switch {
		case down:
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		case r.URL.Path == mockoidc.AuthorizationEndpoint && nonce != "":
			q := r.URL.Query()
			q.Set("nonce", nonce)
			r.URL.RawQuery = q.Encode()
		case r.URL.Path == mockoidc.TokenEndpoint && rewrite != nil:
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			var tr map[string]any
			if rec.Code == http.StatusOK && json.Unmarshal(body, &tr) == nil {
				if raw, ok := tr["id_token"].(string); ok {
					claims := jwt.MapClaims{}
					if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err == nil {
						rewrite(claims)
						if signed, err := p.Keypair.SignJWT(claims); err == nil {
							tr["id_token"] = signed
							body, _ = json.Marshal(tr)
						}
					}
				}
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			_, _ = w.Write(bytes.Clone(body))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Callback follows the provider's answer to an authorize URL (made by the
// server under test) and returns the URL it sends the browser back to.
func (p *IdP) Callback(t testing.TB, authorize string) *url.URL {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authorize)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize %s: %d, want 302", authorize, resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}
