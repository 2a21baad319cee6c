package httpkittest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// OpenAPI holds the calls of a test against an API's OpenAPI document
// (kin-openapi's openapi3filter): every request to an operation the
// document has, and its answer, are validated, and whatever the document
// does not say fails the test. Build it with LoadOpenAPI.
//
// It is stricter than a client of the document needs to be in one way:
// every object schema with properties and no additionalProperties is
// closed (additionalProperties: false) in the copy the tests use, so a
// field the document does not name fails the test as a wrong type does.
// The published document stays open, so clients accept fields added
// later.
type OpenAPI struct {
	doc    *openapi3.T
	router routers.Router
}

// LoadOpenAPI parses the OpenAPI document raw and fails the test unless
// it is valid (openapi3's Validate, the rules of OpenAPI 3.0) and has
// servers.
func LoadOpenAPI(t testing.TB, raw []byte) *OpenAPI {
	t.Helper()
	doc, err := LintOpenAPI(raw)
	if err != nil {
		t.Fatal(err)
	}
	closeObjects(doc)
	// The document's servers are relative to where it is served; a test
	// serves it on a loopback port of its own, so paths alone are matched.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi.json: routes: %v", err)
	}
	return &OpenAPI{doc: doc, router: router}
}

// LintOpenAPI parses the OpenAPI document raw and returns it if it is
// valid under openapi3's Validate (the rules of OpenAPI 3.0: a
// `nullable` needs a `type`, examples must match their schemas, and so
// on) and has servers; otherwise an error that names every problem found.
func LintOpenAPI(raw []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("openapi.json is not valid OpenAPI: %w", err)
	}
	var problems []error
	if len(doc.Servers) == 0 {
		problems = append(problems, errors.New("openapi.json: servers is empty; say where the API is served"))
	}
	var all any
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	problems = append(problems, nullableWithoutType(all, "#")...)
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return doc, nil
}

// nullableWithoutType finds the schemas under v (at the JSON pointer at)
// that say nullable without a type: OpenAPI 3.0.3 gives nullable effect
// only beside an explicit type, so such a schema does not allow null
// (openapi3's Validate lets it pass).
func nullableWithoutType(v any, at string) []error {
	var errs []error
	switch v := v.(type) {
	case map[string]any:
		if n, _ := v["nullable"].(bool); n {
			if _, ok := v["type"]; !ok {
				errs = append(errs, fmt.Errorf("openapi.json %s: nullable without type (OpenAPI 3.0.3 ignores it; null is not allowed)", at))
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			errs = append(errs, nullableWithoutType(v[k], at+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"))...)
		}
	case []any:
		for i, x := range v {
			errs = append(errs, nullableWithoutType(x, fmt.Sprintf("%s/%d", at, i))...)
		}
	}
	return errs
}

// closeObjects sets additionalProperties: false on every object schema
// of doc that has properties, no additionalProperties and no allOf (whose
// members must each accept the whole object).
func closeObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && len(s.AllOf) == 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			no := false
			s.AdditionalProperties.Has = &no
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, x := range list {
				walk(x)
			}
		}
	}
	content := func(c openapi3.Content) {
		for _, mt := range c {
			walk(mt.Schema)
		}
	}
	if doc.Components != nil {
		for _, s := range doc.Components.Schemas {
			walk(s)
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				content(op.RequestBody.Value.Content)
			}
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					content(r.Value.Content)
				}
			}
		}
	}
}

// Client is an HTTP client whose calls go through Transport.
func (v *OpenAPI) Client(t testing.TB) *http.Client {
	return &http.Client{Transport: v.Transport(t, nil)}
}

// Transport wraps next (nil: http.DefaultTransport) so that every call
// to an operation of the document is validated against it, the test
// failing (Errorf) on what the document does not say:
//
//   - an answer whose status the operation does not list, or whose
//     Content-Type, headers or body (fields, types, required fields) do
//     not match the documented response;
//   - an answer 2xx or 3xx to a request the document does not allow (a
//     missing credential, a parameter or body that does not match): the
//     document is too strict, or the handler too lax.
//
// A request the document does not allow that keygate refuses (4xx) is
// what the tests of bad input do; its answer is validated all the same.
// Calls to paths or methods the document does not have (a proxied route,
// the account pages) pass through unchecked.
func (v *OpenAPI) Transport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &validating{t: t, v: v, next: next}
}

type validating struct {
	t    testing.TB
	v    *OpenAPI
	next http.RoundTripper
}

func (tr *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	route, params, err := tr.v.router.FindRoute(req)
	if err != nil || strings.HasSuffix(req.URL.Path, "/") != strings.HasSuffix(route.Path, "/") {
		// Not an operation of the document (the router takes /a/ for /a).
		return tr.next.RoundTrip(req)
	}
	var reqBody []byte
	if req.Body != nil {
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	// The validator reads a copy, so what is sent is what the test made.
	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{
		Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			AuthenticationFunc:    authenticationPresent,
			SkipSettingDefaults:   true,
		},
	}
	reqErr := openapi3filter.ValidateRequest(req.Context(), in)

	resp, err := tr.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))

	call := fmt.Sprintf("%s %s (operation %s)", req.Method, req.URL.Path, route.Operation.OperationID)
	if reqErr != nil && resp.StatusCode < 400 {
		tr.t.Errorf("openapi: %s: keygate answered %d to a request the document does not allow: %v", call, resp.StatusCode, reqErr)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: in.Options,
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		tr.t.Errorf("openapi: %s: the answer %d %s does not match the document: %v", call, resp.StatusCode, truncate(body), err)
	}
	return resp, nil
}

// authenticationPresent is the test of a security scheme for request
// validation: the request carries a credential of the scheme's kind (an
// Authorization header with its scheme for http, the header for
// apiKey). Whether it is a valid one is keygate's to say.
func authenticationPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s, h := in.SecurityScheme, in.RequestValidationInput.Request.Header
	switch {
	case s.Type == "http":
		v := h.Get("Authorization")
		if len(v) <= len(s.Scheme) || !strings.EqualFold(v[:len(s.Scheme)], s.Scheme) || v[len(s.Scheme)] != ' ' {
			return fmt.Errorf("no Authorization: %s", s.Scheme)
		}
	case s.Type == "apiKey" && s.In == "header":
		if h.Get(s.Name) == "" {
			return fmt.Errorf("no %s header", s.Name)
		}
	default:
		return fmt.Errorf("security scheme %s %s: not checked by the tests", s.Type, s.In)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
