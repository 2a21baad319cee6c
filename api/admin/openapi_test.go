package admin_test

import (
	"encoding/json"
	"github.com/keygate/keygate/internal/httpkit/httpkittest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate/api/admin"
)

// TestOpenAPIMatchesRoutes holds the OpenAPI document against the
// handler: every route is documented and every documented operation is a
// route; every $ref resolves; every route is under /admin/.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, "embedded", "")
	h := newHandler(t, e.svc, e.g.Config(), admin.Options{})
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	routes := h.Routes()
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
		if _, p, _ := strings.Cut(r, " "); !strings.HasPrefix(p, "/admin/") {
			t.Errorf("route %s is not under /admin/", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.json documents %s, which the handler does not serve", d)
		}
	}

	// Every $ref points at something, and it is what GET /admin/openapi.json serves, to anyone.
	httpkittest.CheckRefs(t, raw)
	httpkittest.CheckServed(t, h, "/admin/openapi.json", raw)
}

// TestOpenAPIPlainWords: the served document names the flows, never the
// internal "seed" documents they came from.
func TestOpenAPIPlainWords(t *testing.T) {
	e := newEnv(t, "embedded", "")
	httpkittest.CheckPlainWords(t, newHandler(t, e.svc, e.g.Config(), admin.Options{}), "/admin/openapi.json")
}
