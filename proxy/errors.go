package proxy

import (
	"net/http"
	"strconv"
)

// Error is an HTTP error with a client-safe message. Cause is logged, never
// sent.
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
	return e.Code
}

func (e *Error) Unwrap() error { return e.Cause }

// The errors the proxy itself answers with.
var (
	errBadRequestPath   = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The request path is not allowed."}
	errBadHost          = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The Host header is not a valid host name or IP address with an optional port."}
	errNotFound         = &Error{Status: http.StatusNotFound, Code: "not_found", Description: "No route matches the request."}
	errMethodNotAllowed = &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Description: "The route does not serve this method."}
	errMethodRefused    = &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Description: "keygate never proxies TRACE or CONNECT."}
	errBadOverride      = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The method override header must hold one method the route serves."}
	errTooLarge         = &Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Description: "The request body is too large."}
	errBadGateway       = &Error{Status: http.StatusBadGateway, Code: "bad_gateway", Description: "The upstream could not be reached."}
	errTimeout          = &Error{Status: http.StatusGatewayTimeout, Code: "gateway_timeout", Description: "The upstream did not answer in time."}
)

// writeError writes every error response keygate sends: a small JSON body
// {"error": code, "error_description": description} with no-store caching.
// Code and Description are fixed ASCII strings chosen by keygate, for which
// strconv's quoting is valid JSON.
func writeError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Cache-Control"] = []string{"no-store"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	if len(e.Challenge) > 0 {
		h["Www-Authenticate"] = e.Challenge
	}
	if e.RetryAfter > 0 {
		h["Retry-After"] = []string{strconv.Itoa(e.RetryAfter)}
	}
	body := make([]byte, 0, 64+len(e.Code)+len(e.Description))
	body = append(body, `{"error":`...)
	body = strconv.AppendQuote(body, e.Code)
	if e.Description != "" {
		body = append(body, `,"error_description":`...)
		body = strconv.AppendQuote(body, e.Description)
	}
	body = append(body, "}\n"...)
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}
