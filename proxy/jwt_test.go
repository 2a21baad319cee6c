package proxy

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/httpkit/httpkittest"
)

// idp is a real OpenID Connect provider in the test process
// (github.com/oauth2-proxy/mockoidc: discovery and JWKS over HTTP) whose
// signing key can be rotated and which can be stopped.
type idp struct {
	*mockoidc.MockOIDC
	mu        sync.RWMutex // held while serving; Lock to swap the key
	jwksReads atomic.Int64
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{MockOIDC: m}
	_, _ = m.Keypair.KeyID() // computed now, before a server goroutine reads it
	_ = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.RLock()
			defer p.mu.RUnlock()
			if r.URL.Path == mockoidc.JWKSEndpoint {
				p.jwksReads.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

// keypair returns the provider's current signing key.
func (p *idp) keypair() *mockoidc.Keypair {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.Keypair
}

// rotate makes the provider publish and sign with a new key (and no
// longer the old one).
func (p *idp) rotate(t *testing.T) *mockoidc.Keypair {
	t.Helper()
	kp := randomKeypair(t)
	p.mu.Lock()
	p.Keypair = kp
	p.mu.Unlock()
	return kp
}

var netipLoopback = netip.MustParseAddr("127.0.0.1")

func randomKeypair(t *testing.T) *mockoidc.Keypair {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := mockoidc.NewKeypair(key)
	_, _ = kp.KeyID() // computed now, before a server goroutine reads it
	return kp
}

// sign makes a token signed by kp with the claims (exp, iat and the
// rest as given).
func sign(t *testing.T, kp *mockoidc.Keypair, claims gojwt.MapClaims) string {
	t.Helper()
	s, err := kp.SignJWT(claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwtGateway is keygate's proxy with real authz on a real store, taking
// the provider's JWTs for audience "orders-api", in front of a real
// upstream; now is its clock.
type jwtGateway struct {
	url      string
	upstream *upstream
	svc      *authz.Service
	h        *Handler
	clock    atomic.Int64 // unix ns
}

func (g *jwtGateway) now() time.Time { return time.Unix(0, g.clock.Load()) }

func (g *jwtGateway) advance(d time.Duration) { g.clock.Add(int64(d)) }

func newJWTGateway(t *testing.T, p *idp, extra string) *jwtGateway {
	return newJWTGatewayTop(t, p, "", extra)
}

// newJWTGatewayTop is newJWTGateway with more top-level config.
func newJWTGatewayTop(t *testing.T, p *idp, top, extra string) *jwtGateway {
	t.Helper()
	g := &jwtGateway{upstream: newUpstream(t, "orders")}
	g.clock.Store(time.Now().UnixNano())
	cfg := httpkittest.Config(t, fmt.Sprintf(`
%s
%s
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
  failure_limit: {rate: -1}
  jwt:
    issuers:
      - issuer: %s
        audiences: [orders-api]
        jwks_min_refresh_interval: 1m
%s
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
`, httpkittest.StoreYAML(t, "embedded"), top, p.Issuer(), extra, g.upstream.URL))
	_, svc := httpkittest.Core(t, cfg, g.now)
	g.svc = svc
	h, err := New(cfg, Options{Authenticator: svc.Verifier})
	if err != nil {
		t.Fatal(err)
	}
	g.h = h
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	g.url = srv.URL
	return g
}

// claims are a valid token's claims at the gateway's time.
func (g *jwtGateway) claims(p *idp) gojwt.MapClaims {
	now := g.now()
	return gojwt.MapClaims{
		"iss": p.Issuer(), "aud": []string{"orders-api"}, "sub": "alice",
		"jti":      "tok-1",
		"iat":      now.Unix(),
		"exp":      now.Add(5 * time.Minute).Unix(),
		"api_sets": []string{"orders", "reports"},
		"scope":    "openid read write",
	}
}

type answer struct {
	status int
	body   string
	hdr    http.Header
}

func (g *jwtGateway) get(t *testing.T, token string) answer {
	t.Helper()
	req, _ := http.NewRequest("GET", g.url+"/orders/42", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

// with returns the claims with changes (nil deletes).
func with(c gojwt.MapClaims, changes gojwt.MapClaims) gojwt.MapClaims {
	out := gojwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// unsigned builds a token with the given header and the claims, and sig
// as its signature part.
func unsigned(t *testing.T, header string, c gojwt.MapClaims, sig string) string {
	t.Helper()
	tok := gojwt.NewWithClaims(gojwt.SigningMethodNone, c)
	s, err := tok.SigningString()
	if err != nil {
		t.Fatal(err)
	}
	payload := s[strings.IndexByte(s, '.')+1:]
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + payload + "." + sig
}

// TestJWTOnRoutes: a JWT from the identity provider passes through keygate
// to the upstream with its identity, and every token keygate must not
// accept is refused before the upstream: 401 invalid_token for a token of
// another audience or issuer, expired, not yet valid, issued in the
// future, without exp, signed by another key under the provider's kid,
// alg none, HS256 keyed with the provider's public key; 403 for a token
// without the route's API set or scope.
func TestJWTOnRoutes(t *testing.T) {
	p := newIdP(t)
	g := newJWTGateway(t, p, "")
	kp := p.keypair()
	kid, _ := kp.KeyID()
	c := g.claims(p)

	t.Run("valid", func(t *testing.T) {
		a := g.get(t, sign(t, kp, c))
		if a.status != 200 {
			t.Fatalf("valid token: %d %s, want 200", a.status, a.body)
		}
		got := echoed(t, a.body).Headers
		for h, want := range map[string]string{
			"X-Keygate-User": "alice", "X-Keygate-Credential-Id": "tok-1", "X-Keygate-Credential-Kind": "jwt",
			"X-Keygate-Api-Sets": "orders,reports", "X-Keygate-Scopes": "openid,read,write", "Authorization": "",
		} {
			if got[h] != want {
				t.Errorf("upstream got %s %q, want %q", h, got[h], want)
			}
		}
	})
	t.Run("keygate's own key token beside JWTs", func(t *testing.T) {
		if _, err := g.svc.Accounts.CreateUser(t.Context(), authz.User{Name: "bob", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
			t.Fatal(err)
		}
		tok, _, err := g.svc.Accounts.CreateKey(t.Context(), "bob", authz.KeySpec{Handle: "k"})
		if err != nil {
			t.Fatal(err)
		}
		a := g.get(t, tok)
		if h := echoed(t, a.body).Headers; a.status != 200 || h["X-Keygate-User"] != "bob" || h["X-Keygate-Credential-Kind"] != "key_token" {
			t.Errorf("key token: %d, user %q, kind %q; want 200 bob key_token", a.status, h["X-Keygate-User"], h["X-Keygate-Credential-Kind"])
		}
	})
	t.Run("no jti: the credential id is a digest, never the token", func(t *testing.T) {
		tok := sign(t, kp, with(c, gojwt.MapClaims{"jti": nil}))
		a := g.get(t, tok)
		id := echoed(t, a.body).Headers["X-Keygate-Credential-Id"]
		if a.status != 200 || !strings.HasPrefix(id, "jwt_") || len(id) != 4+32 || strings.Contains(tok, id[4:]) {
			t.Errorf("got %d, credential id %q; want 200 and jwt_<32 hex digits of a digest>", a.status, id)
		}
	})

	other := randomKeypair(t)
	other.Kid = kid // another key under the provider's kid
	hs := gojwt.NewWithClaims(gojwt.SigningMethodHS256, c)
	hs.Header["kid"] = kid
	der, _ := x509.MarshalPKIXPublicKey(kp.PublicKey)
	hsTok, err := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	noneHeader := fmt.Sprintf(`{"alg":"none","typ":"JWT","kid":%q}`, kid)
	now := g.now()
	for _, tt := range []struct {
		name  string
		token string
		want  int
		code  string
	}{
		{"another audience", sign(t, kp, with(c, gojwt.MapClaims{"aud": []string{"billing-api"}})), 401, "invalid_token"},
		{"no audience", sign(t, kp, with(c, gojwt.MapClaims{"aud": nil})), 401, "invalid_token"},
		{"another issuer", sign(t, kp, with(c, gojwt.MapClaims{"iss": "https://idp.evil.example"})), 401, "invalid_token"},
		{"expired", sign(t, kp, with(c, gojwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), 401, "invalid_token"},
		{"not yet valid", sign(t, kp, with(c, gojwt.MapClaims{"nbf": now.Add(time.Minute).Unix()})), 401, "invalid_token"},
		{"issued in the future", sign(t, kp, with(c, gojwt.MapClaims{"iat": now.Add(time.Minute).Unix()})), 401, "invalid_token"},
		{"no exp", sign(t, kp, with(c, gojwt.MapClaims{"exp": nil})), 401, "invalid_token"},
		{"no sub", sign(t, kp, with(c, gojwt.MapClaims{"sub": nil})), 401, "invalid_token"},
		{"another key under the provider's kid", sign(t, other, c), 401, "invalid_token"},
		{"alg none", unsigned(t, noneHeader, c, ""), 401, "invalid_token"},
		{"alg none with a signature part", unsigned(t, noneHeader, c, "c2ln"), 401, "invalid_token"},
		{"HS256 with the public key as secret", hsTok, 401, "invalid_token"},
		{"tampered claims", func() string {
			parts := strings.Split(sign(t, kp, c), ".")
			return parts[0] + "." + strings.Split(unsigned(t, "{}", with(c, gojwt.MapClaims{"api_sets": []string{"orders", "admin"}}), ""), ".")[1] + "." + parts[2]
		}(), 401, "invalid_token"},
		{"without the route's API set", sign(t, kp, with(c, gojwt.MapClaims{"api_sets": []string{"reports"}})), 403, "insufficient_scope"},
		{"without the method's scope", sign(t, kp, with(c, gojwt.MapClaims{"scope": "openid write"})), 403, "insufficient_scope"},
		{"scopes from scp", sign(t, kp, with(c, gojwt.MapClaims{"scope": nil, "scp": []string{"read"}})), 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := g.upstream.hits.Load()
			a := g.get(t, tt.token)
			if a.status != tt.want || !strings.Contains(a.body, tt.code) {
				t.Fatalf("got %d %s, want %d %s", a.status, a.body, tt.want, tt.code)
			}
			if tt.want != 200 && g.upstream.hits.Load() != before {
				t.Errorf("refused with %d but the upstream was called", a.status)
			}
		})
	}
	t.Run("a cached token expires", func(t *testing.T) {
		tok := sign(t, kp, with(c, gojwt.MapClaims{"jti": "short", "exp": g.now().Add(time.Minute).Unix()}))
		if a := g.get(t, tok); a.status != 200 {
			t.Fatalf("got %d %s, want 200", a.status, a.body)
		}
		g.advance(2 * time.Minute) // past exp and the 30s skew
		if a := g.get(t, tok); a.status != 401 || !strings.Contains(a.body, "invalid_token") {
			t.Errorf("after exp: %d %s, want 401 invalid_token", a.status, a.body)
		}
	})
}

// TestJWTGroupMapping: API sets from a mapping of a nested claim's values
// (Keycloak's realm_access.roles), the user from another claim with a
// prefix.
func TestJWTGroupMapping(t *testing.T) {
	p := newIdP(t)
	g := newJWTGateway(t, p, `        user_claim: preferred_username
        user_prefix: "idp:"
        api_set_map: {claim: realm_access.roles, values: {order-clerks: [orders], auditors: [reports]}}`)
	kp := p.keypair()
	c := with(g.claims(p), gojwt.MapClaims{"api_sets": nil, "preferred_username": "alice.smith"})
	a := g.get(t, sign(t, kp, with(c, gojwt.MapClaims{"realm_access": map[string]any{"roles": []string{"auditors", "order-clerks"}}})))
	if a.status != 200 {
		t.Fatalf("mapped role: %d %s, want 200", a.status, a.body)
	}
	if h := echoed(t, a.body).Headers; h["X-Keygate-User"] != "idp:alice.smith" || h["X-Keygate-Api-Sets"] != "reports,orders" {
		t.Errorf("upstream got user %q, API sets %q; want idp:alice.smith, reports,orders", h["X-Keygate-User"], h["X-Keygate-Api-Sets"])
	}
	a = g.get(t, sign(t, kp, with(c, gojwt.MapClaims{"jti": "2", "realm_access": map[string]any{"roles": []string{"auditors"}}, "api_sets": []string{"orders"}})))
	if a.status != 403 {
		t.Errorf("role without orders (api_sets claim ignored under a mapping): %d %s, want 403", a.status, a.body)
	}
}

// TestJWTKeyRotation: a token signed by the provider's new key is
// accepted once keygate reads the keys again on the unknown kid, and
// while the provider is down the keys held keep verifying, a token with a
// kid keygate does not hold gets 503 (not 401), and the keys are asked for
// at most once per jwks_min_refresh_interval.
func TestJWTKeyRotation(t *testing.T) {
	p := newIdP(t)
	g := newJWTGateway(t, p, "")
	c := g.claims(p)
	old := p.keypair()
	if a := g.get(t, sign(t, old, c)); a.status != 200 {
		t.Fatalf("before rotation: %d %s", a.status, a.body)
	}
	reads := p.jwksReads.Load()

	// A kid not published, within the refresh interval of the last read:
	// 401 without asking the provider again.
	unknown := randomKeypair(t)
	if a := g.get(t, sign(t, unknown, with(c, gojwt.MapClaims{"jti": "u1"}))); a.status != 401 {
		t.Errorf("unpublished kid: %d %s, want 401", a.status, a.body)
	}
	if n := p.jwksReads.Load(); n != reads {
		t.Errorf("keys read %d times more within the refresh interval, want 0", n-reads)
	}

	newKey := p.rotate(t)
	g.advance(time.Minute)
	if a := g.get(t, sign(t, newKey, with(c, gojwt.MapClaims{"jti": "r1"}))); a.status != 200 {
		t.Fatalf("new key after rotation: %d %s, want 200", a.status, a.body)
	}
	if n := p.jwksReads.Load(); n != reads+1 {
		t.Errorf("keys read %d times for the new kid, want 1", n-reads)
	}
	// The old key is gone from the provider's set: a new token signed by
	// it is refused.
	if a := g.get(t, sign(t, old, with(c, gojwt.MapClaims{"jti": "r2"}))); a.status != 401 {
		t.Errorf("retired key: %d %s, want 401", a.status, a.body)
	}

	// The provider goes down.
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	g.advance(2 * time.Hour) // past jwks_max_age: keygate tries to read the keys again, and keeps the held ones
	c = g.claims(p)
	if a := g.get(t, sign(t, newKey, with(c, gojwt.MapClaims{"jti": "d1"}))); a.status != 200 {
		t.Errorf("held key while the provider is down: %d %s, want 200", a.status, a.body)
	}
	g.advance(time.Minute)
	a := g.get(t, sign(t, randomKeypair(t), with(c, gojwt.MapClaims{"jti": "d2"})))
	if a.status != 503 || a.hdr.Get("Retry-After") == "" {
		t.Errorf("unknown kid while the provider is down: %d %s (Retry-After %q), want 503 with Retry-After", a.status, a.body, a.hdr.Get("Retry-After"))
	}
	if a := g.get(t, sign(t, newKey, with(c, gojwt.MapClaims{"jti": "d3"}))); a.status != 200 {
		t.Errorf("held key after a failed read: %d %s, want 200", a.status, a.body)
	}
}

// TestJWTProviderDownAtStart: keygate starts while the provider cannot be
// reached, and its tokens get 503 (not 401) until it can.
func TestJWTProviderDownAtStart(t *testing.T) {
	p := newIdP(t)
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	g := newJWTGateway(t, p, "")
	a := g.get(t, sign(t, p.keypair(), g.claims(p)))
	if a.status != 503 || !strings.Contains(a.body, "temporarily_unavailable") {
		t.Errorf("provider down: %d %s, want 503 temporarily_unavailable", a.status, a.body)
	}
}

// TestJWTForwardAuth: an ingress's check of a request with a provider's
// JWT (Handler.Check, which the forwardauth package calls with the
// original request) gets the same decision as a proxied request, with the
// identity headers on 200.
func TestJWTForwardAuth(t *testing.T) {
	p := newIdP(t)
	g := newJWTGatewayTop(t, p, "trusted_proxies: [127.0.0.0/8]\nforward_auth: {enabled: true}", "")
	c := g.claims(p)
	check := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "https://api.example/orders/7", nil)
		req.RemoteAddr = "127.0.0.1:5000"
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		g.h.Check(w, req)
		return w
	}
	if w := check(sign(t, p.keypair(), c)); w.Code != 200 || w.Header().Get("X-Keygate-User") != "alice" || w.Header().Get("X-Keygate-Credential-Kind") != "jwt" {
		t.Errorf("check with a valid JWT: %d %s, user %q kind %q; want 200 alice jwt", w.Code, w.Body, w.Header().Get("X-Keygate-User"), w.Header().Get("X-Keygate-Credential-Kind"))
	}
	if w := check(sign(t, p.keypair(), with(c, gojwt.MapClaims{"aud": "billing-api"}))); w.Code != 401 {
		t.Errorf("check with another audience: %d %s, want 401", w.Code, w.Body)
	}
	if n := g.upstream.hits.Load(); n != 0 {
		t.Errorf("a check reached the upstream %d times", n)
	}
}

// TestJWTNotOnSelfService: a provider's JWT does not identify anyone to
// the self-service API (Authenticate), even when its sub names a keygate
// user: only routes take JWTs.
func TestJWTNotOnSelfService(t *testing.T) {
	p := newIdP(t)
	g := newJWTGateway(t, p, "")
	cfg := httpkittest.Config(t, fmt.Sprintf("%s\nauth:\n  digest_keys: [{id: t1, secret: \"a-test-digest-key-of-at-least-32-bytes\"}]\n  jwt: {issuers: [{issuer: %s, audiences: [orders-api]}]}\nroutes: [{name: o, path_prefix: /o, upstream: http://127.0.0.1:1, api_set: orders}]\n",
		httpkittest.StoreYAML(t, "embedded"), p.Issuer()))
	_, svc := httpkittest.Core(t, cfg, nil)
	if _, err := svc.Accounts.CreateUser(t.Context(), authz.User{Name: "alice", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	tok := sign(t, p.keypair(), g.claims(p))
	if _, err := svc.Verifier.Verify(t.Context(), []string{"Bearer " + tok}, authz.Need{APISet: "orders", Scope: "read"}, netipLoopback); err != nil {
		t.Fatalf("Verify on a route: %v, want the identity", err)
	}
	if id, err := svc.Verifier.Authenticate(t.Context(), []string{"Bearer " + tok}, netipLoopback); err == nil {
		t.Errorf("Authenticate took a JWT as %+v, want ErrInvalid", id)
	}
}

// BenchmarkJWTVerify compares, in one run, verifying a provider's JWT on a
// cache hit with verifying a named API key's token (keygate's own fast
// path), through the Verifier alone and through the whole proxy to a real
// upstream. Compare the sub-benchmarks' ns/op (the ratio), not absolute
// figures.
func BenchmarkJWTVerify(b *testing.B) {
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	_, _ = m.Keypair.KeyID()
	if err := m.Start(ln, nil); err != nil {
		b.Fatal(err)
	}
	defer m.Shutdown()
	up := benchUpstream(b)
	cfg := benchConfig(b, `
log: {access_log: false}
auth:
  digest_keys: [{id: b1, secret: "benchmark-digest-key-of-32-bytes-or-more"}]
  failure_limit: {rate: -1}
  jwt: {issuers: [{issuer: %s, audiences: [orders-api]}]}
routes:
  - {name: api, path_prefix: /api, upstream: %s, api_set: orders}
`, m.Issuer(), up.URL)
	svc, keyTok := benchService(b, cfg, "orders")
	now := time.Now()
	jwtTok, err := m.Keypair.SignJWT(gojwt.MapClaims{
		"iss": m.Issuer(), "aud": "orders-api", "sub": "alice", "jti": "bench-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"api_sets": []string{"orders"}, "scope": "read write",
	})
	if err != nil {
		b.Fatal(err)
	}
	h := benchHandler(b, cfg, Options{Authenticator: svc.Verifier})
	need := authz.Need{APISet: "orders", Scope: "read"}
	for _, c := range []struct{ name, token string }{{"key_token", keyTok}, {"jwt_cache_hit", jwtTok}} {
		authorization := []string{"Bearer " + c.token}
		if _, err := svc.Verifier.Verify(b.Context(), authorization, need, netipLoopback); err != nil {
			b.Fatalf("%s: %v", c.name, err) // and the JWT is now cached
		}
		b.Run("verify/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.Verifier.Verify(b.Context(), authorization, need, netipLoopback); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("proxy/"+c.name, func(b *testing.B) {
			req := benchRequest("GET", "http://gw.test/api/v1/items/42", "Authorization", authorization[0])
			benchStatus(b, 200, func(w *httptest.ResponseRecorder) { h.ServeHTTP(w, req) })
		})
	}
}
