package admin_test

import (
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
	// Every route is under /admin/; every $ref points at something; it is
	// valid OpenAPI 3.0, and what GET /admin/openapi.json serves, to
	// anyone.
	httpkittest.CheckDocument(t, "openapi.json", h, "/admin/", "/admin/openapi.json")
}

// TestOpenAPIPlainWords: the served document names the flows, never the
// internal "seed" documents they came from.
func TestOpenAPIPlainWords(t *testing.T) {
	e := newAPI(t, "embedded", "")
	httpkittest.CheckPlainWords(t, newHandler(t, e.svc, e.cfg, admin.Options{}), "/admin/openapi.json")
}
