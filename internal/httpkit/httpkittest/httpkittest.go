// Package httpkittest holds the checks the self-service and admin APIs'
// tests share: that an OpenAPI document is whole and is what the API
// serves.
package httpkittest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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
