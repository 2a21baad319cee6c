package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/httpkit/httpkittest"
	"github.com/keygate/keygate/internal/httpkit/httpkittest/gatewaytest"
)

// answer is what the public listener should answer to GET path: the
// status and, when set, a text in the body and in a header's values.
type answer struct {
	path         string
	status       int
	body         string
	header, text string
}

// TestFrontEndDispatch: with a front end on, the public listener serves it
// at its paths beside the other front ends and the proxied routes; off,
// its paths are just unrouted (404), never proxied.
func TestFrontEndDispatch(t *testing.T) {
	proxied := answer{path: "/orders/1", status: 200, body: `"path": "/orders/1"`}
	up := gatewaytest.Upstream(t)
	for _, c := range []struct {
		name string
		y    string // the front ends' sections
		want []answer
	}{
		// The account pages at account.path, beside the self-service API.
		{"account/enabled=true", "self_service: {enabled: true}\naccount: {enabled: true, path: /me}\n", []answer{
			{path: "/me/signin", status: 200, body: `name="password"`, header: "Content-Security-Policy", text: "frame-ancestors 'none'"},
			{path: "/user", status: http.StatusUnauthorized},
			proxied,
		}},
		{"account/enabled=false", "self_service: {enabled: true}\naccount: {enabled: false, path: /me}\n", []answer{
			{path: "/me/signin", status: http.StatusNotFound},
			{path: "/user", status: http.StatusUnauthorized},
			proxied,
		}},
		{"self_service/enabled=true", "self_service: {enabled: true}\n", []answer{
			{path: "/user", status: 401, header: "Www-Authenticate", text: `Basic realm="keygate"`},
			{path: "/%75ser", status: http.StatusNotFound}, // never proxied
			proxied,
		}},
		{"self_service/enabled=false", "self_service: {enabled: false}\n", []answer{
			{path: "/user", status: http.StatusNotFound},
			{path: "/%75ser", status: http.StatusNotFound}, // never proxied
			proxied,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, _ := gatewaytest.Gateway(t, fmt.Sprintf("store: {driver: embedded, embedded: {path: %q}}\n%sroutes:\n  - {name: orders, path_prefix: /orders, upstream: %s, auth: none}\n",
				t.TempDir()+"/keygate.db", c.y, up), nil)
			base := "http://" + g.Addr().String()
			for _, w := range c.want {
				r := httpkittest.Do(t, "GET", base+w.path, "", "", "")
				values := strings.Join(r.Header.Values(w.header), ",")
				if r.Status != w.status || !strings.Contains(string(r.Body), w.body) || !strings.Contains(values, w.text) {
					t.Errorf("GET %s: %d %s=%q %s; want %d with %q in the body and %q in %s", w.path, r.Status, w.header, values, r.Body, w.status, w.body, w.text, w.header)
				}
			}
		})
	}
}
