package httpkittest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/httpkit/httpkittest"
)

// doc is a small API: GET /things/{id} answers 200 {"id": string} or
// 404; it needs Bearer.
const doc = `{
  "openapi": "3.0.3",
  "info": {"title": "t", "version": "1"},
  "servers": [{"url": "/"}],
  "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
  "security": [{"bearer": []}],
  "paths": {"/things/{id}": {"get": {
    "operationId": "getThing",
    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
    "responses": {
      "200": {"description": "ok", "content": {"application/json": {"schema": {
        "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}, "n": {"type": "integer", "nullable": true}}}}}},
      "401": {"description": "no"},
      "404": {"description": "none"}
    }}}}
}`

// recorder is a testing.TB that keeps what the validator reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}

// TestOpenAPIValidates: the validating client fails the test on an
// undocumented status, an undocumented field, a wrong type, a missing
// required field and a success to a request the document does not
// allow; it passes documented answers and calls outside the document.
func TestOpenAPIValidates(t *testing.T) {
	tests := []struct {
		name, path, auth string
		status           int
		body             string
		fails            string // "" for a pass, else a part of the report
	}{
		{"documented", "/things/a", "Bearer x", 200, `{"id": "a", "n": null}`, ""},
		{"documented error", "/things/a", "Bearer x", 404, ``, ""},
		{"refused without a credential", "/things/a", "", 401, ``, ""},
		{"undocumented status", "/things/a", "Bearer x", 403, ``, "status is not supported"},
		{"undocumented field", "/things/a", "Bearer x", 200, `{"id": "a", "extra": 1}`, "extra"},
		{"wrong type", "/things/a", "Bearer x", 200, `{"id": 7}`, "does not match the document"},
		{"missing field", "/things/a", "Bearer x", 200, `{}`, "does not match the document"},
		{"accepted without a credential", "/things/a", "", 200, `{"id": "a"}`, "does not allow"},
		{"not in the document", "/other", "", 418, `{"x": 1}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.body != "" {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			rec := &recorder{TB: t}
			client := httpkittest.LoadOpenAPI(t, []byte(doc)).Client(rec)
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			switch got := strings.Join(rec.errs, "\n"); {
			case tt.fails == "" && got != "":
				t.Errorf("reported %s; want a pass", got)
			case tt.fails != "" && !strings.Contains(got, tt.fails):
				t.Errorf("reported %q; want a failure saying %q", got, tt.fails)
			}
		})
	}
}

// TestLintOpenAPI: a document without servers, or with nullable and no
// type, is refused, each problem named.
func TestLintOpenAPI(t *testing.T) {
	if _, err := httpkittest.LintOpenAPI([]byte(doc)); err != nil {
		t.Fatalf("the test document: %v", err)
	}
	bad := strings.Replace(doc, `"servers": [{"url": "/"}],`, "", 1)
	bad = strings.Replace(bad, `"type": "integer", "nullable": true`, `"nullable": true`, 1)
	_, err := httpkittest.LintOpenAPI([]byte(bad))
	for _, want := range []string{"servers is empty", "#/paths/~1things~1{id}/get/responses/200/content/application~1json/schema/properties/n: nullable without type"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LintOpenAPI: %v; want an error saying %q", err, want)
		}
	}
}
