package httpkit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keygate/keygate/internal/rawhttp"
)

// TestContentTypeRequired (issue 16.5): a state-changing request of the
// JSON APIs needs Content-Type application/json even without a body, so a
// cross-site HTML form (which can send only form, multipart or text/plain
// bodies without a CORS preflight) changes nothing, while the OAuth
// endpoints keep taking the form bodies RFC 6749, 7009 and 7662 define.
// The requests are written by hand on a raw connection: no client library
// adds or tidies a Content-Type.
func TestContentTypeRequired(t *testing.T) {
	var ran atomic.Int64
	mux := http.NewServeMux()
	for _, p := range []string{"POST /user/apikey/token", "POST /oauth/token", "PUT /admin/users/{name}/password", "PATCH /admin/users/{name}", "DELETE /user/keys/{handle}", "GET /user"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			ran.Add(1)
			w.WriteHeader(http.StatusNoContent)
		})
	}
	mux.HandleFunc("/", NotServed(mux, http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Serve(w, r, "", mux)
	}))
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name    string
		request string // request line and headers, without Host and the final CRLF
		status  int
	}{
		{"form-typed empty POST", "POST /user/apikey/token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n", 415},
		{"text/plain POST", "POST /user/apikey/token HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n", 415},
		{"multipart POST", "POST /user/apikey/token HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 0\r\n", 415},
		{"untyped empty POST", "POST /user/apikey/token HTTP/1.1\r\nContent-Length: 0\r\n", 415},
		{"JSON-typed empty POST", "POST /user/apikey/token HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 0\r\n", 204},
		{"JSON with charset", "POST /user/apikey/token HTTP/1.1\r\nContent-Type: Application/JSON; charset=utf-8\r\nContent-Length: 0\r\n", 204},
		{"PUT without type", "PUT /admin/users/alice/password HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 415},
		{"PATCH without type", "PATCH /admin/users/alice HTTP/1.1\r\nContent-Length: 0\r\n", 415},
		{"DELETE without type", "DELETE /user/keys/ci HTTP/1.1\r\nContent-Length: 0\r\n", 204},
		{"GET without type", "GET /user HTTP/1.1\r\n", 204},
		{"OAuth token endpoint takes a form", "POST /oauth/token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials", 204},
		{"unserved path is still 404", "POST /nowhere HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n", 404},
		{"unserved method is still 405", "PUT /user/apikey/token HTTP/1.1\r\nContent-Length: 0\r\n", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ran.Load()
			line, rest, _ := strings.Cut(tc.request, "\r\n")
			raw := line + "\r\nHost: api.test\r\nConnection: close\r\n" + rest
			if !strings.Contains(rest, "\r\n\r\n") {
				raw += "\r\n"
			}
			resp, respBody := rawhttp.Exchange(t, srv.Listener.Addr().String(), raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, respBody, tc.status)
			}
			if tc.status == 415 {
				if !strings.Contains(respBody, "Content-Type must be application/json") {
					t.Errorf("415 body %s does not name the Content-Type", respBody)
				}
				if ran.Load() != before {
					t.Errorf("refused with 415 but the endpoint ran")
				}
			}
		})
	}
}
