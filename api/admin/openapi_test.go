package admin_test

import (
	"os"
	"testing"

	"github.com/keygate/keygate/internal/httpkit/httpkittest"

	"github.com/keygate/keygate/api/admin"
)

// TestOpenAPIMatchesRoutes holds the OpenAPI document against the
// handler: every route is documented and every documented operation is a
// route; every $ref resolves; every route is under /admin/.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newAPI(t, "embedded", "")
	h := newHandler(t, e.svc, e.cfg, admin.Options{})
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	// Every route is under /admin/; every $ref points at something, and
	// it is what GET /admin/openapi.json serves, to anyone.
	httpkittest.CheckOpenAPI(t, raw, h.Routes(), "/admin/")
	// It is valid OpenAPI 3.0 (openapi3's Validate, examples included),
	// has servers, and no nullable without a type.
	if _, err := httpkittest.LintOpenAPI(raw); err != nil {
		t.Error(err)
	}
	httpkittest.CheckServed(t, h, "/admin/openapi.json", raw)
}

// TestOpenAPIPlainWords: the served document names the flows, never the
// internal "seed" documents they came from.
func TestOpenAPIPlainWords(t *testing.T) {
	e := newAPI(t, "embedded", "")
	httpkittest.CheckPlainWords(t, newHandler(t, e.svc, e.cfg, admin.Options{}), "/admin/openapi.json")
}
