package admin

import (
	_ "embed"
	"net/http"

	"github.com/keygate/keygate/internal/httpkit"
)

// openAPIDoc is the OpenAPI 3 document of the admin API. A test checks
// that it documents exactly the routes the handler serves.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI is GET /admin/openapi.json. It needs no authentication: it is
// the document published with keygate's source and tells nothing about
// this installation.
func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request, _ *actor) error {
	httpkit.WriteDocument(w, r, openAPIDoc)
	return nil
}
