package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestUnderAccountPath(t *testing.T) {
	checkDispatch(t, "under(%q, /account)", func(r *http.Request) bool { return under(r, "/account") }, []dispatchCase{
		{"/account", true},
		{"/account?x=1", true},
		{"/account/profile", true},
		{"/accounts", false},
		{"/accountx/profile", false},
		{"/%61ccount/profile", false}, // to the proxy: no route there, 404
		{"/orders/account", false},
		{"/", false},
	})
}

// dispatchCase is a request target and whether it goes to a front end.
type dispatchCase struct {
	target string
	want   bool
}

// checkDispatch runs the cases through a dispatch test; call names it,
// with %q for the target.
func checkDispatch(t *testing.T, call string, goes func(*http.Request) bool, cases []dispatchCase) {
	t.Helper()
	for _, c := range cases {
		if got := goes(httptest.NewRequest("GET", c.target, nil)); got != c.want {
			t.Errorf(call+" = %v, want %v", c.target, got, c.want)
		}
	}
}

// BenchmarkUnderAccountPath is what the account pages add to every
// proxied request while they are on.
func BenchmarkUnderAccountPath(b *testing.B) {
	r := httptest.NewRequest("GET", "/orders/12345?x=1", nil)
	b.ReportAllocs()
	for b.Loop() {
		if under(r, "/account") {
			b.Fatal("proxied path taken for the account pages")
		}
	}
}

// TestAccountReloadTrustedProxies: the pages take trusted_proxies on
// reload: X-Forwarded-Proto https from a newly trusted peer makes the
// cookie Secure.
func TestAccountReloadTrustedProxies(t *testing.T) {
	up := echoUpstream(t)
	dbPath := t.TempDir() + "/keygate.db"
	y := func(trusted string) string {
		return fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: embedded, embedded: {path: %q}}
trusted_proxies: [%s]
account: {enabled: true}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, auth: none}
`, dbPath, trusted, up.URL)
	}
	g, _ := start(t, parse(t, y("")))
	secure := func() bool {
		req, _ := http.NewRequest("GET", "http://"+g.Addr().String()+"/account/signin", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cs := resp.Cookies()
		return len(cs) == 1 && cs[0].Secure
	}
	if secure() {
		t.Fatalf("X-Forwarded-Proto from an untrusted peer made the cookie Secure")
	}
	if err := g.Reload(parse(t, y("127.0.0.1/32"))); err != nil {
		t.Fatal(err)
	}
	if !secure() {
		t.Errorf("after the reload trusting 127.0.0.1, the cookie is not Secure")
	}
}
