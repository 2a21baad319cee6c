package selfservice

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDoc is the OpenAPI 3 document of the self-service API. A test
// checks that it documents exactly the routes the handler serves.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI is GET /openapi.json; it needs no sign-in.
func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request, _ *caller) error {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "public, max-age=300")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(openAPIDoc)
	}
	return nil
}
