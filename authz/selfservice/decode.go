package selfservice

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strings"
)

// maxBody bounds every request body the self-service API reads (JSON and
// forms alike); larger ones get 413.
const maxBody = 64 << 10

var (
	errTooLarge       = &httpError{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Description: "The request body is larger than 64 KiB."}
	errNotJSON        = &httpError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Description: "Content-Type must be application/json."}
	errBodyRequired   = &httpError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "A JSON request body is required."}
	errNotForm        = &httpError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Content-Type must be application/x-www-form-urlencoded."}
	errQueryParameter = &httpError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Parameters must be sent in the request body, not in the URL."}
)

// readBody reads the whole body, at most maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *httpError) {
	if r.ContentLength > maxBody {
		return nil, errTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errTooLarge
		}
		return nil, badRequest("The request body could not be read.")
	}
	return b, nil
}

// mediaType is a Content-Type's media type, lower case; "" when absent or
// unparsable.
func mediaType(r *http.Request) string {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "" // JSON and forms here are UTF-8 only
	}
	return mt
}

// decodeJSON decodes a JSON object body into v, refusing unknown fields.
// Without required, an empty body leaves v as it is (whatever its
// Content-Type: seed 001's createClientId call sends
// "Content-Type: application/json" and no body).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, required bool) *httpError {
	if required && mediaType(r) != "application/json" {
		return errNotJSON
	}
	body, herr := readBody(w, r)
	if herr != nil {
		return herr
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if required {
			return errBodyRequired
		}
		return nil
	}
	if mediaType(r) != "application/json" {
		return errNotJSON
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("The request body must hold one JSON object and nothing after it.")
	}
	return nil
}

// jsonError says what is wrong with a JSON body, naming the field.
func jsonError(err error) *httpError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badRequest("The request body must be a JSON object.")
		}
		return badRequest("%s: must be %s", typeErr.Field, jsonTypeName(typeErr.Type))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("The request body is not valid JSON.")
	}
	// encoding/json has no typed error for an unknown field; its message
	// is `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest("unknown field %s", name)
	}
	return badRequest("The request body is not valid JSON.")
}

// jsonTypeName describes a Go type as the JSON a client should send.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	}
	return "an object"
}

// readForm reads an application/x-www-form-urlencoded body (RFC 6749
// §3.2, RFC 7009 §2.1, RFC 7662 §2.1). Parameters in the URL are refused
// (a secret must not travel in a URL), a parameter given twice is refused
// (RFC 6749 §3.2) and one without a value counts as absent (§3.1).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *httpError) {
	if r.URL.RawQuery != "" {
		return nil, errQueryParameter
	}
	if mediaType(r) != "application/x-www-form-urlencoded" {
		return nil, errNotForm
	}
	body, herr := readBody(w, r)
	if herr != nil {
		return nil, herr
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest("The request body is not valid form data.")
	}
	for name, vals := range form {
		if len(vals) > 1 {
			return nil, badRequest("%s: given more than once", name)
		}
		if vals[0] == "" {
			delete(form, name)
		}
	}
	return form, nil
}
