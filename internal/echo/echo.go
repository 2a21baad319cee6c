// Package echo is a small upstream that answers every request with a JSON
// description of what it received: method, path as sent on the wire, query,
// and the forwarded and identity headers. keygate's demo and tests put it
// behind the gateway to show what reaches an upstream.
package echo

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Request is what the echo upstream reports.
type Request struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"` // as on the request line, without the query
	Query   string            `json:"query,omitempty"`
	Host    string            `json:"host"`
	Headers map[string]string `json:"headers"`
}

// Handler answers with the Request it got, as JSON.
type Handler struct {
	// All reports every header; by default only X-Forwarded-*,
	// X-Request-Id, X-Keygate-* and Authorization are reported.
	All bool
}

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, query, _ := strings.Cut(r.RequestURI, "?")
	out := Request{Method: r.Method, Path: path, Query: query, Host: r.Host, Headers: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(r.Header)) {
		l := strings.ToLower(name)
		if h.All || strings.HasPrefix(l, "x-forwarded-") || strings.HasPrefix(l, "x-keygate") || l == "x-request-id" || l == "authorization" {
			out.Headers[name] = strings.Join(r.Header[name], ", ")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
