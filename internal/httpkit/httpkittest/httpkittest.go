// Package httpkittest is the one test harness of keygate's front ends:
// the credential service on a real store built from a config (Core), a
// whole keygate on loopback ports for the flows that cross front ends
// (gatewaytest.Gateway), HTTP calls and the checks of their answers (Do, Want,
// WantError), and the checks of an API's OpenAPI document (CheckDocument,
// CheckOpenAPI, CheckRefs, CheckServed, CheckPlainWords, and LoadOpenAPI, whose client
// validates every call against the document).
package httpkittest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
)

// CheckOpenAPI holds the OpenAPI document raw against an API's routes
// ("METHOD pattern"): it is OpenAPI 3, every route is documented, every
// documented operation is a route, every route is under prefix, and every
// $ref resolves.
func CheckOpenAPI(t *testing.T, raw []byte, routes []string, prefix string) {
	t.Helper()
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
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
		if _, p, _ := strings.Cut(r, " "); !strings.HasPrefix(p, prefix) {
			t.Errorf("route %s is not under %s", r, prefix)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.json documents %s, which the handler does not serve", d)
		}
	}
	CheckRefs(t, raw)
}

// Routed is an API that lists its routes ("METHOD pattern"), as
// httpkit.API does.
type Routed interface {
	http.Handler
	Routes() []string
}

// CheckDocument holds an API's OpenAPI document, read from file, against
// the API h: CheckOpenAPI with its routes and prefix; valid OpenAPI 3.0
// (LintOpenAPI: openapi3's Validate, examples included, servers, no
// nullable without a type); and CheckServed at servedAt, to anyone. It
// returns the document.
func CheckDocument(t *testing.T, file string, h Routed, prefix, servedAt string) []byte {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	CheckOpenAPI(t, raw, h.Routes(), prefix)
	if _, err := LintOpenAPI(raw); err != nil {
		t.Error(err)
	}
	CheckServed(t, h, servedAt, raw)
	return raw
}

// CheckRefs fails the test for every $ref in the JSON document raw that
// resolves to nothing.
func CheckRefs(t *testing.T, raw []byte) {
	t.Helper()
	var all any
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var cur any = all
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := cur.(map[string]any)
					cur = m[part]
				}
				if cur == nil {
					t.Errorf("$ref %q resolves to nothing", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(all)
}

// CheckServed fails the test unless GET path on h answers 200
// application/json with exactly raw, without credentials.
func CheckServed(t *testing.T, h http.Handler, path string, raw []byte) {
	t.Helper()
	resp, body, _ := get(t, h, path)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || string(body) != string(raw) {
		t.Errorf("GET %s: %d %q, %d bytes; want 200 application/json with the document", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}

// CheckPlainWords fails the test for every line of what GET path on h
// serves that says "seed" in any case: the internal name of the documents
// keygate's credential flows came from, which a reader of the API's
// documentation cannot know. The flows have names (OAuth2 client
// credentials, named API keys, long-lived key tokens, the ApiKey key and
// token).
func CheckPlainWords(t *testing.T, h http.Handler, path string) {
	t.Helper()
	resp, body, err := get(t, h, path)
	if err != nil || resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("GET %s: %d, %d bytes, %v; want 200 with a document", path, resp.StatusCode, len(body), err)
	}
	for i, line := range strings.Split(string(body), "\n") {
		if strings.Contains(strings.ToLower(line), "seed") {
			t.Errorf("GET %s, line %d says \"seed\"; name the flow instead: %s", path, i+1, strings.TrimSpace(line))
		}
	}
}

// get serves GET path with h on a real listener; err is the body's read
// error.
func get(t *testing.T, h http.Handler, path string) (*http.Response, []byte, error) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}
