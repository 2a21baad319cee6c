package selfservice

import (
	_ "embed"
	"net/http"

	"github.com/keygate/keygate/internal/httpkit"
)

// openAPIDoc is the OpenAPI 3 document of the self-service API. A test
// checks that it documents exactly the routes the handler serves.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI is GET /openapi.json; it needs no sign-in.
func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request, _ *caller) error {
	httpkit.WriteDocument(w, r, openAPIDoc)
	return nil
}
