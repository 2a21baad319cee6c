package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/httpkit"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/rawhttp"
)

// upstream is a real HTTP server that echoes what it received and counts
// requests.
type upstream struct {
	*httptest.Server
	hits atomic.Int64
}

func newUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		w.Header().Set("X-Upstream", name)
		echo.Handler{All: true}.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// gateway is a proxy.Handler on a real listener.
type gateway struct {
	*httptest.Server
	h *Handler
}

func newGateway(t *testing.T, yaml string, opts Options) *gateway {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return &gateway{srv, h}
}

// rawGet sends a request line exactly as given, bypassing every client-side
// normalisation, and returns the response.
func rawGet(t *testing.T, addr, target string, headers ...string) (*http.Response, string) {
	t.Helper()
	return rawRequest(t, addr, "GET", target, headers...)
}

func rawRequest(t *testing.T, addr, method, target string, headers ...string) (*http.Response, string) {
	t.Helper()
	req := method + " " + target + " HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\nContent-Length: 0\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	return rawhttp.Exchange(t, addr, req+"\r\n")
}

func echoed(t *testing.T, body string) echo.Request {
	t.Helper()
	var got echo.Request
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("upstream body %q: %v", body, err)
	}
	return got
}

// TestPathBypass feeds the path forms that have let requests past gateways
// and asserts that each is either refused (400, never proxied) or matched
// to a route and forwarded as exactly the path that was matched.
func TestPathBypass(t *testing.T) {
	admin, public, pub, api := newUpstream(t, "admin"), newUpstream(t, "public"), newUpstream(t, "pub"), newUpstream(t, "api")
	gw := newGateway(t, fmt.Sprintf(`
routes:
  - {name: admin, path_prefix: /admin, upstream: %s, api_set: ops}
  - {name: pub, path_prefix: /pub, upstream: %s, auth: none}
  - {name: api, path_prefix: /api, upstream: %s/base, strip_prefix: true, auth: none}
  - {name: public, path_prefix: /, upstream: %s, auth: none}
`, admin.URL, pub.URL, api.URL, public.URL), Options{})
	addr := gw.Listener.Addr().String()

	tests := []struct {
		target   string
		status   int
		upstream string // which upstream must have answered
		path     string // the path it must have received
	}{
		// refused: never proxied
		{"/a/../admin", 400, "", ""},
		{"/admin/../admin", 400, "", ""},
		{"/%2e%2e/admin", 400, "", ""},
		{"/%2E%2E/admin", 400, "", ""},
		{"/.%2e/admin", 400, "", ""},
		{"/pub/%2e%2e/admin", 400, "", ""},
		{"/x/%2e%2e%2fadmin", 400, "", ""},
		{"/%2Fadmin", 400, "", ""},
		{"/pub%2F..%2Fadmin", 400, "", ""},
		{"/%5Cadmin", 400, "", ""},
		{"/pub\\..\\admin", 400, "", ""},
		{"//admin", 400, "", ""},
		{"/pub//admin", 400, "", ""},
		{"/./admin", 400, "", ""},
		{"/pub/./x", 400, "", ""},
		{"/admin;x=1", 400, "", ""},
		{"/pub;/../admin", 400, "", ""},
		{"/admin%00", 400, "", ""},
		{"/pub/%00/x", 400, "", ""},
		{"/pub/%252e%252e/admin", 400, "", ""},
		{"/pub%", 400, "", ""},
		{"/pub%2Fx{", 400, "", ""}, // an invalid byte must not make the encoded slash disappear
		{"/pub/%2f..%2f..%2fadmin", 400, "", ""},
		{"*", 400, "", ""},
		// issue 16: forms a decode-then-reparse, UTF-8-normalising or Windows upstream reads as another path
		{"/pub/x%3F/../../admin", 400, "", ""},
		{"/pub/a%3fb", 400, "", ""},
		{"/pub/a%23b", 400, "", ""},
		{"/pub/%C0%AE%C0%AE/admin", 400, "", ""},
		{"/pub/%c0%ae%c0%ae%c0%afadmin", 400, "", ""},
		{"/pub/%FF", 400, "", ""},
		{"/pub/%EF%BC%8E%EF%BC%8E/admin", 400, "", ""},
		{"/pub/%EF%BC%8E%EF%BC%8E%EF%BC%8Fadmin", 400, "", ""},
		{"/%EF%BD%81dmin", 400, "", ""},
		{"/admin.", 400, "", ""},
		{"/admin%2e", 400, "", ""},
		{"/admin%20", 400, "", ""},
		{"/admin%20/users", 400, "", ""},
		{"/pub/...", 400, "", ""},
		// matched and forwarded as the matched path
		{"/admin", 401, "", ""}, // auth required, no credential: never proxied
		{"/admin/users", 401, "", ""},
		{"/%61dmin", 401, "", ""}, // decodes to /admin: same route, same refusal
		{"/%61dmin/x", 401, "", ""},
		{"/admin/", 401, "", ""},
		{"/ADMIN", 200, "public", "/ADMIN"}, // paths are case-sensitive: not /admin
		{"/Admin/users", 200, "public", "/Admin/users"},
		{"/administrator", 200, "public", "/administrator"}, // prefix on segment boundary only
		{"/pub", 200, "pub", "/pub"},
		{"/pub/", 200, "pub", "/pub/"},
		{"/pub/x", 200, "pub", "/pub/x"},
		{"/public", 200, "public", "/public"},
		{"/p%75b/x", 200, "pub", "/pub/x"},
		{"/pub/caf%c3%a9", 200, "pub", "/pub/caf%C3%A9"},
		{"/pub/a%20b", 200, "pub", "/pub/a%20b"},
		{"/api/v1/x", 200, "api", "/base/v1/x"},
		{"/api", 200, "api", "/base/"},
		{"/apiary", 200, "public", "/apiary"},
		{"http://gw.test/pub/abs", 200, "pub", "/pub/abs"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			before := admin.hits.Load() + public.hits.Load() + pub.hits.Load() + api.hits.Load()
			resp, body := rawGet(t, addr, tt.target)
			after := admin.hits.Load() + public.hits.Load() + pub.hits.Load() + api.hits.Load()
			if resp.StatusCode != tt.status {
				t.Errorf("GET %q: status %d, want %d (body %s)", tt.target, resp.StatusCode, tt.status, body)
				return
			}
			if tt.upstream == "" {
				if after != before {
					t.Errorf("GET %q: refused with %d but an upstream was called", tt.target, resp.StatusCode)
				}
				return
			}
			if got := resp.Header.Get("X-Upstream"); got != tt.upstream {
				t.Errorf("GET %q: answered by upstream %q, want %q", tt.target, got, tt.upstream)
			}
			if got := echoed(t, body).Path; got != tt.path {
				t.Errorf("GET %q: upstream received path %q, want %q", tt.target, got, tt.path)
			}
		})
	}
	if n := admin.hits.Load(); n != 0 {
		t.Errorf("the admin upstream was reached %d times", n)
	}
}

func TestRouting(t *testing.T) {
	a, b, c := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")
	gw := newGateway(t, fmt.Sprintf(`
routes:
  - {name: host-a, host: api.example.com, path_prefix: /, upstream: %s, auth: none}
  - {name: read, path_prefix: /items, methods: [GET], upstream: %s, auth: none}
  - {name: write, path_prefix: /items, methods: [POST, DELETE], upstream: %s, auth: none}
  - {name: deep, path_prefix: /items/special/x, upstream: %s, auth: none}
`, a.URL, b.URL, c.URL, a.URL), Options{})

	tests := []struct {
		method, host, path string
		status             int
		upstream           string
		allow              string
	}{
		{"GET", "api.example.com", "/items", 200, "a", ""},
		{"GET", "API.Example.com:8080", "/anything", 200, "a", ""},
		{"GET", "api.example.com.", "/items", 200, "a", ""},
		{"GET", "other.test", "/items/1", 200, "b", ""},
		{"HEAD", "other.test", "/items/1", 200, "b", ""},
		{"POST", "other.test", "/items", 200, "c", ""},
		{"PUT", "other.test", "/items/1", 405, "", "GET, POST, DELETE"},
		{"GET", "other.test", "/items/special/x/y", 200, "a", ""},
		{"GET", "other.test", "/nothing", 404, "", ""},
		{"TRACE", "api.example.com", "/items", 405, "", ""},
		{"GET", "other.test", "/", 404, "", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, gw.URL+tt.path, nil)
		req.Host = tt.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s%s: status %d, want %d", tt.method, tt.host, tt.path, resp.StatusCode, tt.status)
			continue
		}
		if got := resp.Header.Get("X-Upstream"); got != tt.upstream {
			t.Errorf("%s %s%s: upstream %q, want %q", tt.method, tt.host, tt.path, got, tt.upstream)
		}
		if got := resp.Header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s%s: Allow %q, want %q", tt.method, tt.host, tt.path, got, tt.allow)
		}
		if tt.status >= 400 && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s%s: error Content-Type %q, want application/json", tt.method, tt.host, tt.path, resp.Header.Get("Content-Type"))
		}
	}
}

// fixedAuth stands in for authz at the Authenticator seam: it accepts
// the one credential "Bearer good" and otherwise answers with authz's
// outcomes. (authz itself is tested against real stores in its package
// and end to end in gateway.)
type fixedAuth struct{}

func (fixedAuth) Verify(_ context.Context, authorization []string, need authz.Need, _ netip.Addr) (*authz.Identity, error) {
	if len(authorization) == 0 {
		return nil, authz.ErrNoCredential
	}
	switch authorization[0] {
	case "Bearer good":
		id := &authz.Identity{User: "alice", CredentialID: "cred_1", Kind: authz.KindKeyToken, APISets: []string{"ops", "cortex"}, Scopes: []string{"read"}}
		if need.Scope != "read" {
			return nil, &authz.ScopeError{Scope: need.Scope}
		}
		return id, nil
	case "Bearer broken-store":
		return nil, io.ErrUnexpectedEOF
	case "Bearer a b":
		return nil, authz.ErrMalformed
	}
	return nil, authz.ErrInvalid
}

func TestHeaders(t *testing.T) {
	up := newUpstream(t, "up")
	cfg := fmt.Sprintf(`
trusted_proxies: [10.9.0.0/16]
auth: {identity_headers: [X-User-Id]}
routes:
  - {name: open, path_prefix: /open, upstream: %[1]s, auth: none}
  - {name: maybe, path_prefix: /maybe, upstream: %[1]s, auth: optional, api_set: ops}
  - {name: keep, path_prefix: /keep, upstream: %[1]s, auth: none, forward_authorization: true}
  - {name: private, path_prefix: /private, upstream: %[1]s, api_set: ops}
`, up.URL)
	gw := newGateway(t, cfg, Options{Authenticator: fixedAuth{}})
	addr := gw.Listener.Addr().String()

	t.Run("untrusted peer's forwarded headers are replaced", func(t *testing.T) {
		_, body := rawGet(t, addr, "/open", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-Proto: https", "X-Forwarded-Host: evil.test", "Forwarded: for=1.2.3.4")
		h := echoed(t, body).Headers
		if h["X-Forwarded-For"] != "127.0.0.1" || h["X-Forwarded-Proto"] != "http" || h["X-Forwarded-Host"] != "gw.test" || h["Forwarded"] != "" {
			t.Errorf("forwarded headers = %q", h)
		}
	})
	t.Run("request id kept when well-formed", func(t *testing.T) {
		resp, body := rawGet(t, addr, "/open", "X-Request-Id: abc-123_x.y")
		if got := echoed(t, body).Headers["X-Request-Id"]; got != "abc-123_x.y" || resp.Header.Get("X-Request-Id") != got {
			t.Errorf("upstream saw request id %q, response had %q; want abc-123_x.y", got, resp.Header.Get("X-Request-Id"))
		}
	})
	t.Run("request id replaced when malformed", func(t *testing.T) {
		resp, body := rawGet(t, addr, "/open", "X-Request-Id: <script>")
		got := echoed(t, body).Headers["X-Request-Id"]
		if got == "" || got == "<script>" || !httpkit.ValidRequestID(got) || resp.Header.Get("X-Request-Id") != got {
			t.Errorf("upstream saw request id %q, response %q", got, resp.Header.Get("X-Request-Id"))
		}
	})
	t.Run("client identity headers are stripped", func(t *testing.T) {
		_, body := rawGet(t, addr, "/open", "X-Keygate-User: root", "x-keygate-api-sets: all", "X_Keygate_Scopes: write", "X-KEYGATE-CREDENTIAL-ID: 1")
		for name, v := range echoed(t, body).Headers {
			if isIdentityHeader(name) {
				t.Errorf("upstream received client-sent %s: %s", name, v)
			}
		}
	})
	t.Run("configured identity headers are stripped", func(t *testing.T) {
		_, body := rawGet(t, addr, "/open", "X-User-Id: root", "x_user_id: root", "X-Other: kept")
		h := echoed(t, body).Headers
		for name := range h {
			if strings.EqualFold(strings.ReplaceAll(name, "_", "-"), "X-User-Id") {
				t.Errorf("upstream received client-sent %s", name)
			}
		}
		if h["X-Other"] != "kept" {
			t.Errorf("X-Other = %q, want it forwarded", h["X-Other"])
		}
	})
	t.Run("optional route", func(t *testing.T) {
		resp, body := rawGet(t, addr, "/maybe")
		if resp.StatusCode != 200 || echoed(t, body).Headers[HeaderUser] != "" {
			t.Errorf("anonymous request on an optional route: %d, user %q; want 200 and no identity", resp.StatusCode, echoed(t, body).Headers[HeaderUser])
		}
		resp, body = rawGet(t, addr, "/maybe", "Authorization: Bearer good")
		if resp.StatusCode != 200 || echoed(t, body).Headers[HeaderUser] != "alice" {
			t.Errorf("credential on an optional route: %d, user %q; want 200 alice", resp.StatusCode, echoed(t, body).Headers[HeaderUser])
		}
		if resp, _ := rawGet(t, addr, "/maybe", "Authorization: Bearer bad"); resp.StatusCode != 401 {
			t.Errorf("bad credential on an optional route: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("authorization removed unless forward_authorization", func(t *testing.T) {
		_, body := rawGet(t, addr, "/open", "Authorization: Bearer secret")
		if got := echoed(t, body).Headers["Authorization"]; got != "" {
			t.Errorf("upstream received Authorization %q on a route without forward_authorization", got)
		}
		_, body = rawGet(t, addr, "/keep", "Authorization: Bearer secret")
		if got := echoed(t, body).Headers["Authorization"]; got != "Bearer secret" {
			t.Errorf("upstream received Authorization %q, want it forwarded", got)
		}
	})
	t.Run("identity set and survives a Connection header naming it", func(t *testing.T) {
		resp, body := rawGet(t, addr, "/private", "Authorization: Bearer good", "Connection: X-Keygate-User, X-Keygate-Scopes, close", "X-Keygate-User: mallory")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		h := echoed(t, body).Headers
		want := map[string]string{HeaderUser: "alice", HeaderCredentialID: "cred_1", HeaderCredentialKind: "key_token", HeaderAPISets: "ops,cortex", HeaderScopes: "read", "Authorization": ""}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("upstream %s = %q, want %q", k, h[k], v)
			}
		}
	})
	t.Run("auth outcomes", func(t *testing.T) {
		for _, tc := range []struct {
			method, auth string
			status       int
			code         string
			challenge    string
		}{
			{"GET", "", 401, "unauthorized", `Bearer realm="keygate"`},
			{"GET", "Authorization: Bearer bad", 401, "invalid_token", `Bearer realm="keygate", error="invalid_token"`},
			{"GET", "Authorization: Bearer a b", 400, "invalid_request", `Bearer realm="keygate", error="invalid_request"`},
			{"POST", "Authorization: Bearer good", 403, "insufficient_scope", `Bearer realm="keygate", error="insufficient_scope", scope="write"`},
			{"GET", "Authorization: Bearer broken-store", 503, "temporarily_unavailable", ""},
		} {
			before := up.hits.Load()
			var hdrs []string
			if tc.auth != "" {
				hdrs = append(hdrs, tc.auth)
			}
			resp, body := rawRequest(t, addr, tc.method, "/private", hdrs...)
			if resp.StatusCode != tc.status || !strings.Contains(body, `"error":"`+tc.code+`"`) {
				t.Errorf("%s %q: %d %s, want %d %s", tc.method, tc.auth, resp.StatusCode, body, tc.status, tc.code)
			}
			if got := resp.Header.Values("Www-Authenticate"); tc.challenge != "" && (len(got) == 0 || got[0] != tc.challenge) {
				t.Errorf("%s %q: WWW-Authenticate %q, want %q first", tc.method, tc.auth, got, tc.challenge)
			}
			if tc.status == 401 && len(resp.Header.Values("Www-Authenticate")) != 2 {
				t.Errorf("%q: WWW-Authenticate %q, want the Bearer and ApiKey challenges", tc.auth, resp.Header.Values("Www-Authenticate"))
			}
			if tc.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Errorf("%q: 503 without Retry-After", tc.auth)
			}
			if up.hits.Load() != before {
				t.Errorf("%q: refused request reached the upstream", tc.auth)
			}
		}
	})
}

// TestUpstreamIdentity: auth.upstream_identity chooses the identity
// headers sent upstream; the others are not sent, and client-sent ones
// are removed whatever it says.
func TestUpstreamIdentity(t *testing.T) {
	up := newUpstream(t, "up")
	all := []string{HeaderUser, HeaderCredentialID, HeaderCredentialKind, HeaderAPISets, HeaderScopes}
	for _, tc := range []struct {
		config string
		want   map[string]string
	}{
		{"", map[string]string{HeaderUser: "alice", HeaderCredentialID: "cred_1", HeaderCredentialKind: "key_token", HeaderAPISets: "ops,cortex", HeaderScopes: "read"}},
		{"auth: {upstream_identity: [user]}", map[string]string{HeaderUser: "alice"}},
		{"auth: {upstream_identity: [scopes, credential_id]}", map[string]string{HeaderCredentialID: "cred_1", HeaderScopes: "read"}},
		{"auth: {upstream_identity: []}", map[string]string{}},
	} {
		gw := newGateway(t, fmt.Sprintf("%s\nroutes:\n  - {name: private, path_prefix: /, upstream: %s, api_set: ops}\n", tc.config, up.URL), Options{Authenticator: fixedAuth{}})
		resp, body := rawGet(t, gw.Listener.Addr().String(), "/x", "Authorization: Bearer good", "X-Keygate-Credential-Kind: forged", "X-Keygate-User: mallory")
		if resp.StatusCode != 200 {
			t.Fatalf("%q: status %d: %s", tc.config, resp.StatusCode, body)
		}
		h := echoed(t, body).Headers
		for _, name := range all {
			if h[name] != tc.want[name] {
				t.Errorf("%q: upstream %s = %q, want %q", tc.config, name, h[name], tc.want[name])
			}
		}
	}
}

func TestTrustedProxyForwarding(t *testing.T) {
	up := newUpstream(t, "up")
	// The test client connects from 127.0.0.1, so trusting it makes this
	// test the trusted-peer path.
	gw := newGateway(t, fmt.Sprintf("trusted_proxies: [127.0.0.1, 10.0.0.0/8]\nroutes:\n  - {name: open, path_prefix: /, upstream: %s, auth: none}\n", up.URL), Options{})
	_, body := rawGet(t, gw.Listener.Addr().String(), "/x", "X-Forwarded-For: 203.0.113.7, 10.1.2.3", "X-Forwarded-Proto: https", "X-Forwarded-Host: api.example.com")
	h := echoed(t, body).Headers
	if h["X-Forwarded-For"] != "203.0.113.7, 10.1.2.3, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the trusted chain kept and extended", h["X-Forwarded-For"])
	}
	if h["X-Forwarded-Proto"] != "https" || h["X-Forwarded-Host"] != "api.example.com" {
		t.Errorf("X-Forwarded-Proto = %q, X-Forwarded-Host = %q, want the trusted proxy's", h["X-Forwarded-Proto"], h["X-Forwarded-Host"])
	}
}

func TestClientAddr(t *testing.T) {
	trusted := trustedProxies{}
	for _, s := range []string{"10.0.0.0/8", "192.0.2.1"} {
		p, _ := config.ParsePrefix(s)
		trusted = append(trusted, p)
	}
	tests := []struct {
		peer string
		xff  []string
		want string
	}{
		{"203.0.113.9:1234", []string{"1.1.1.1"}, "203.0.113.9"},               // untrusted peer: header ignored
		{"10.0.0.1:1234", []string{"1.1.1.1"}, "1.1.1.1"},                      // trusted peer
		{"10.0.0.1:1234", []string{"1.1.1.1, 10.2.2.2"}, "1.1.1.1"},            // skip trusted hops
		{"10.0.0.1:1234", []string{"6.6.6.6, 1.1.1.1", "10.3.3.3"}, "1.1.1.1"}, // right-most untrusted
		{"10.0.0.1:1234", []string{"garbage, 10.2.2.2"}, "10.2.2.2"},           // stop at garbage
		{"10.0.0.1:1234", nil, "10.0.0.1"},
		{"[::ffff:192.0.2.1]:80", []string{"2001:db8::1"}, "2001:db8::1"},
	}
	for _, tt := range tests {
		if got := trusted.clientAddr(peerAddr(tt.peer), tt.xff).String(); got != tt.want {
			t.Errorf("clientAddr(%s, %q) = %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
}

func TestUpstreamFailures(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	// Port 1 is privileged and outside the ephemeral range: no other test
	// can be listening there, as it could on the port of a closed
	// httptest server, which another test process may take meanwhile.
	const closedURL = "http://127.0.0.1:1"
	up := newUpstream(t, "up")

	gw := newGateway(t, fmt.Sprintf(`
server: {max_body_bytes: 1024}
routes:
  - {name: slow, path_prefix: /slow, upstream: %s, auth: none, timeout: 100ms}
  - {name: down, path_prefix: /down, upstream: %s, auth: none}
  - {name: up, path_prefix: /up, upstream: %s, auth: none}
`, slow.URL, closedURL, up.URL), Options{})

	tests := []struct {
		name, method, path string
		body               io.Reader
		length             int64
		status             int
		code               string
	}{
		{"timeout", "GET", "/slow", nil, 0, 504, "gateway_timeout"},
		{"connection refused", "GET", "/down", nil, 0, 502, "bad_gateway"},
		{"declared body too large", "POST", "/up", strings.NewReader(strings.Repeat("x", 2048)), 2048, 413, "request_too_large"},
		{"streamed body too large", "POST", "/up", io.MultiReader(strings.NewReader(strings.Repeat("x", 4096))), -1, 413, "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, gw.URL+tt.path, tt.body)
			req.ContentLength = tt.length
			before := up.hits.Load()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), `"error":"`+tt.code+`"`) {
				t.Errorf("status %d body %s, want %d with error %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if tt.length > 0 && up.hits.Load() != before {
				t.Errorf("a body declared over the limit reached the upstream")
			}
		})
	}
}

// TestOverrideHeaders (issue 16.1): a read-only credential cannot make an
// upstream framework run another method or serve another path through
// X-HTTP-Method-Override and its kin, unless the route names the header,
// and then the scope check uses the overridden method. X-Real-IP from the
// client is replaced with the address keygate determined.
func TestOverrideHeaders(t *testing.T) {
	up := newUpstream(t, "up")
	gw := newGateway(t, fmt.Sprintf(`
routes:
  - {name: private, path_prefix: /private, upstream: %[1]s, api_set: ops}
  - {name: legacy, path_prefix: /legacy, upstream: %[1]s, api_set: ops, methods: [GET, POST, DELETE], method_override: x-http-method-override}
`, up.URL), Options{Authenticator: fixedAuth{}})
	addr := gw.Listener.Addr().String()
	const good = "Authorization: Bearer good" // read scope only

	t.Run("removed by default", func(t *testing.T) {
		for _, hdr := range []string{
			"X-HTTP-Method-Override: DELETE",
			"X-HTTP-Method: DELETE",
			"X-Method-Override: DELETE",
			"x-http-method-override: DELETE",
			"X_HTTP_METHOD_OVERRIDE: DELETE",
			"X-Original-URL: /admin",
			"X-Rewrite-URL: /admin",
			"x_original_url: /admin",
		} {
			resp, body := rawGet(t, addr, "/private/x", good, hdr)
			if resp.StatusCode != 200 {
				t.Errorf("GET with %q: status %d, want 200: %s", hdr, resp.StatusCode, body)
				continue
			}
			for name, v := range echoed(t, body).Headers {
				if isOverrideHeader(name) {
					t.Errorf("GET with %q: upstream received %s: %s", hdr, name, v)
				}
			}
		}
	})
	t.Run("named by the route", func(t *testing.T) {
		for _, tc := range []struct {
			method string
			hdrs   []string
			status int
			seen   string // the override the upstream must receive
		}{
			{"GET", []string{"X-HTTP-Method-Override: DELETE"}, 403, ""},  // needs write
			{"POST", []string{"X-HTTP-Method-Override: GET"}, 200, "GET"}, // needs read only
			{"POST", nil, 403, ""},
			{"POST", []string{"X-HTTP-Method-Override: PUT"}, 405, ""}, // not a method the route serves
			{"POST", []string{"X-HTTP-Method-Override: TRACE"}, 400, ""},
			{"POST", []string{"X-HTTP-Method-Override: get"}, 400, ""},
			{"POST", []string{"X-HTTP-Method-Override: GET, DELETE"}, 400, ""},
			{"POST", []string{"X-HTTP-Method-Override: GET", "X-HTTP-Method-Override: DELETE"}, 400, ""},
			{"GET", []string{"X-Method-Override: DELETE"}, 200, ""}, // not the one named: removed
			{"GET", []string{"X_HTTP_Method_Override: DELETE"}, 200, ""},
		} {
			name := fmt.Sprintf("%s %q", tc.method, tc.hdrs)
			before := up.hits.Load()
			resp, body := rawRequest(t, addr, tc.method, "/legacy/x", append([]string{good}, tc.hdrs...)...)
			if resp.StatusCode != tc.status {
				t.Errorf("%s: status %d, want %d: %s", name, resp.StatusCode, tc.status, body)
				continue
			}
			if tc.status != 200 {
				if up.hits.Load() != before {
					t.Errorf("%s: refused with %d but proxied", name, tc.status)
				}
				continue
			}
			h := echoed(t, body).Headers
			if got := h["X-Http-Method-Override"]; got != tc.seen {
				t.Errorf("%s: upstream received X-Http-Method-Override %q, want %q", name, got, tc.seen)
			}
			for n, v := range h {
				if isOverrideHeader(n) && n != "X-Http-Method-Override" {
					t.Errorf("%s: upstream received %s: %s", name, n, v)
				}
			}
		}
	})
	t.Run("X-Real-IP replaced", func(t *testing.T) {
		_, body := rawGet(t, addr, "/private/x", good, "X-Real-IP: 10.0.0.1", "X_Real_IP: 10.0.0.2")
		h := echoed(t, body).Headers
		if got := h["X-Real-Ip"]; got != "127.0.0.1" {
			t.Errorf("upstream X-Real-Ip %q, want 127.0.0.1 (keygate's client address)", got)
		}
		for name, v := range h {
			if foldEqual(name, "x-real-ip") && name != "X-Real-Ip" {
				t.Errorf("upstream received %s: %s", name, v)
			}
		}
		_, body = rawGet(t, addr, "/private/x", good)
		if got, ok := echoed(t, body).Headers["X-Real-Ip"]; ok {
			t.Errorf("upstream received X-Real-Ip %q though the client sent none", got)
		}
	})
}
