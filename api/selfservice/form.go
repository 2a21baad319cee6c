package selfservice

import (
	"net/http"
	"net/url"

	"github.com/keygate/keygate/internal/httpkit"
)

var (
	errNotForm        = &httpkit.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Content-Type must be application/x-www-form-urlencoded."}
	errQueryParameter = &httpkit.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Parameters must be sent in the request body, not in the URL."}
)

// readForm reads an application/x-www-form-urlencoded body (RFC 6749
// §3.2, RFC 7009 §2.1, RFC 7662 §2.1). Parameters in the URL are refused
// (a secret must not travel in a URL), a parameter given twice is refused
// (RFC 6749 §3.2) and one without a value counts as absent (§3.1).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *httpkit.Error) {
	if r.URL.RawQuery != "" {
		return nil, errQueryParameter
	}
	if httpkit.MediaType(r) != "application/x-www-form-urlencoded" {
		return nil, errNotForm
	}
	body, herr := httpkit.ReadBody(w, r)
	if herr != nil {
		return nil, herr
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, httpkit.BadRequest("The request body is not valid form data.")
	}
	for name, vals := range form {
		if len(vals) > 1 {
			return nil, httpkit.BadRequest("%s: given more than once", name)
		}
		if vals[0] == "" {
			delete(form, name)
		}
	}
	return form, nil
}
