package httpkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// MaxBody bounds every request body the APIs read (JSON and forms alike);
// larger ones get 413.
const MaxBody = 64 << 10

// Answers about a request body.
var (
	ErrTooLarge     = &Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Description: "The request body is larger than 64 KiB."}
	ErrNotJSON      = &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Description: "Content-Type must be application/json."}
	ErrBodyRequired = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "A JSON request body is required."}
)

// ReadBody reads the whole body, at most MaxBody bytes; nil without one.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	if r.ContentLength > MaxBody {
		return nil, ErrTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, ErrTooLarge
		}
		return nil, BadRequest("The request body could not be read.")
	}
	return b, nil
}

// MediaType is a Content-Type's media type, lower case; "" when absent or
// unparsable, or with a charset other than UTF-8 (JSON and forms here are
// UTF-8 only).
func MediaType(r *http.Request) string {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return ""
	}
	return mt
}

// DecodeJSON decodes a JSON object body into v, refusing unknown fields
// and anything after the object. Without required, an empty body leaves v
// as it is (whatever its Content-Type: seed 001's createClientId call
// sends "Content-Type: application/json" and no body); a body needs
// Content-Type application/json (415 otherwise).
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any, required bool) *Error {
	if required && MediaType(r) != "application/json" {
		return ErrNotJSON
	}
	body, herr := ReadBody(w, r)
	if herr != nil {
		return herr
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if required {
			return ErrBodyRequired
		}
		return nil
	}
	if MediaType(r) != "application/json" {
		return ErrNotJSON
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return BadRequest("The request body must hold one JSON object and nothing after it.")
	}
	return nil
}

// jsonError says what is wrong with a JSON body, naming the field.
func jsonError(err error) *Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return BadRequest("The request body must be a JSON object.")
		}
		return BadRequest("%s: must be %s", typeErr.Field, jsonTypeName(typeErr.Type))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("The request body is not valid JSON.")
	}
	// encoding/json has no typed error for an unknown field; its message
	// is `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return BadRequest("unknown field %s", name)
	}
	return BadRequest("The request body is not valid JSON.")
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
