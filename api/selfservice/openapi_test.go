package selfservice_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/httpkit/httpkittest"

	"go.uber.org/zap"

	"github.com/keygate/keygate/api/selfservice"
	"github.com/keygate/keygate/config"
)

// newHandler builds the self-service handler alone, on an embedded store
// in a temporary directory.
func newHandler(t *testing.T) *selfservice.Handler {
	t.Helper()
	cfg := httpkittest.Config(t, "self_service: {enabled: true}\nroutes:\n  - {name: r, path_prefix: /r, upstream: http://127.0.0.1:1, auth: none}\n"+
		httpkittest.StoreYAML(t, "embedded"))
	_, svc := httpkittest.Core(t, cfg, nil)
	h, err := selfservice.New(svc, cfg, selfservice.Options{Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestOpenAPIMatchesRoutes holds the OpenAPI document against the
// handler: every route is documented and every documented operation is a
// route; every $ref resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHandler(t)
	// Every $ref points at something; it is valid OpenAPI 3.0, and what
	// GET /openapi.json serves, to anyone.
	httpkittest.CheckDocument(t, "openapi.json", h, "/", "/openapi.json")
	routes := h.Routes()
	for _, path := range config.SelfServicePaths {
		found := false
		for _, r := range routes {
			_, p, _ := strings.Cut(r, " ")
			found = found || p == path || strings.HasPrefix(p, path+"/")
		}
		if !found {
			t.Errorf("config.SelfServicePaths has %s, but no route is under it", path)
		}
	}
}

// TestOpenAPIPlainWords: the served document names the flows, never the
// internal "seed" documents they came from.
func TestOpenAPIPlainWords(t *testing.T) {
	httpkittest.CheckPlainWords(t, newHandler(t), "/openapi.json")
}
