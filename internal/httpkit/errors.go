package httpkit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// Error is an error answer of every front end: a status, a short code and
// a client-safe description, written as {"error": code,
// "error_description": description} (RFC 6749 §5.2, RFC 6750 §3). Cause is
// logged, never sent.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the short error code of the JSON body ("not_found",
	// "invalid_token"...), following RFC 6750 for credential errors.
	Code string
	// Description is a sentence for the client; no internal detail.
	Description string
	// Challenge, if set, is sent as WWW-Authenticate.
	Challenge []string
	// RetryAfter, if positive, is sent as Retry-After (seconds).
	RetryAfter int
	// Cause is what went wrong inside; for logs only.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

// BadRequest is a 400 invalid_request whose description says what is
// wrong, naming the field.
func BadRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: fmt.Sprintf(format, args...)}
}

// Answers every front end gives alike.
var (
	ErrNotFound         = &Error{Status: http.StatusNotFound, Code: "not_found", Description: "No such resource."}
	ErrBadPath          = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The request path is not allowed."}
	ErrMethodNotAllowed = &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Description: "The resource does not serve this method."}
	ErrUnavailable      = &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "The credential store cannot be reached; try again shortly.", RetryAfter: 1}
	ErrInternal         = &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "Something went wrong inside keygate."}
)

// The header values every answer about credentials carries: never cached,
// never sniffed. They are shared, read-only slices, so that writing an
// error costs the proxy's request path no allocation for them.
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
	hdrNoCache = []string{"no-cache"}
	hdrNoSniff = []string{"nosniff"}
)

// noStore marks an answer as about one person's credentials: never cached,
// never sniffed.
func noStore(h http.Header) {
	h["Cache-Control"] = hdrNoStore
	h["Pragma"] = hdrNoCache
	h["X-Content-Type-Options"] = hdrNoSniff
}

// WriteError writes every error answer of every front end (the proxy's
// request path among them, so it allocates only the body and its length).
func WriteError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	noStore(h)
	if len(e.Challenge) > 0 {
		h["Www-Authenticate"] = e.Challenge
	}
	if e.RetryAfter > 0 {
		h["Retry-After"] = []string{strconv.Itoa(e.RetryAfter)}
	}
	body := make([]byte, 0, 48+len(e.Code)+len(e.Description))
	body = append(body, `{"error":`...)
	body = appendJSONString(body, e.Code)
	if e.Description != "" {
		body = append(body, `,"error_description":`...)
		body = appendJSONString(body, e.Description)
	}
	body = append(body, "}\n"...)
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (HTML-safe: <, > and & as \u003c...; invalid UTF-8 as
// U+FFFD; U+2028 and U+2029 escaped), so the bytes are what json.Marshal
// would write, without its allocations.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// WriteJSON writes a successful answer. Every answer of the APIs is about
// someone's credentials, so none may be cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		e := *ErrInternal
		e.Cause = err
		WriteError(w, &e)
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h["Content-Type"] = hdrJSON
	noStore(h)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteNoContent writes a 204.
func WriteNoContent(w http.ResponseWriter) {
	noStore(w.Header())
	w.WriteHeader(http.StatusNoContent)
}

// NonNil makes an absent list an empty JSON array rather than null.
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WriteDocument writes a published, public JSON document (an API's
// OpenAPI document): cacheable for five minutes, and without a body for
// HEAD.
func WriteDocument(w http.ResponseWriter, r *http.Request, doc []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(doc)
	}
}
