package selfservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/store"
)

// httpError is an error answer: a status, a short code and a client-safe
// description, written as {"error": code, "error_description": description}
// (RFC 6749 §5.2, RFC 6750 §3). Cause is logged, never sent.
type httpError struct {
	Status      int
	Code        string
	Description string
	// Challenge, if set, is sent as WWW-Authenticate.
	Challenge []string
	// RetryAfter, if positive, is sent as Retry-After (seconds).
	RetryAfter int
	Cause      error
}

func (e *httpError) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Description
}

func (e *httpError) Unwrap() error { return e.Cause }

// The WWW-Authenticate challenges of a 401 from the self-service API: a
// user may sign in with a password (Basic) or with a credential of their
// own (Bearer, ApiKey).
var (
	challengeUser        = []string{`Basic realm="keygate"`, `Bearer realm="keygate"`, `ApiKey realm="keygate"`}
	challengeUserInvalid = []string{`Basic realm="keygate"`, `Bearer realm="keygate", error="invalid_token"`, `ApiKey realm="keygate"`}
	challengeClient      = []string{`Basic realm="keygate"`}
)

func badRequest(format string, args ...any) *httpError {
	return &httpError{Status: http.StatusBadRequest, Code: "invalid_request", Description: fmt.Sprintf(format, args...)}
}

var (
	errNotFound         = &httpError{Status: http.StatusNotFound, Code: "not_found", Description: "No such resource."}
	errBadPath          = &httpError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The request path is not allowed."}
	errMethodNotAllowed = &httpError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Description: "The resource does not serve this method."}
	errNoCaller         = &httpError{Status: http.StatusUnauthorized, Code: "unauthorized", Description: "Sign in with HTTP Basic (user name and password) or a credential of your own (Bearer or ApiKey).", Challenge: challengeUser}
	errBadCaller        = &httpError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "The credentials are not valid.", Challenge: challengeUserInvalid}
	errMalformedAuth    = &httpError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The Authorization header is malformed.", Challenge: []string{`Basic realm="keygate"`, `Bearer realm="keygate", error="invalid_request"`, `ApiKey realm="keygate"`}}
	errUnavailable      = &httpError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "The credential store cannot be reached; try again shortly.", RetryAfter: 1}
	errInternal         = &httpError{Status: http.StatusInternalServerError, Code: "server_error", Description: "Something went wrong inside keygate."}
)

// fromAuthz turns an error of authz (or the store under it) into the
// answer the client gets. Input errors keep their message, which names the
// field at fault; everything else is a fixed sentence.
func fromAuthz(err error) *httpError {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, authz.ErrInvalidInput):
		msg := strings.TrimPrefix(err.Error(), authz.ErrInvalidInput.Error()+": ")
		return &httpError{Status: http.StatusBadRequest, Code: "invalid_request", Description: msg, Cause: err}
	case errors.Is(err, authz.ErrHandleTaken):
		return &httpError{Status: http.StatusConflict, Code: "conflict", Description: "You already have a key with this handle.", Cause: err}
	case errors.Is(err, authz.ErrNotFound), errors.Is(err, authz.ErrUserNotFound):
		return &httpError{Status: http.StatusNotFound, Code: "not_found", Description: "No such resource.", Cause: err}
	case errors.Is(err, authz.ErrForbidden):
		return &httpError{Status: http.StatusForbidden, Code: "forbidden", Description: "You are not allowed to do this.", Cause: err}
	case unavailable(err):
		e := *errUnavailable
		e.Cause = err
		return &e
	}
	e := *errInternal
	e.Cause = err
	return &e
}

// unavailable reports whether err means "the store did not answer" (or
// the request ended before it did): 503 with Retry-After, never a
// misleading 4xx.
func unavailable(err error) bool {
	return errors.Is(err, authz.ErrUnavailable) || errors.Is(err, store.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// writeError writes every error answer of the package.
func writeError(w http.ResponseWriter, e *httpError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if len(e.Challenge) > 0 {
		h["Www-Authenticate"] = e.Challenge
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
	body = append(body, '\n')
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// writeJSON writes a successful answer. Every answer of the self-service
// API is about one person's credentials, so none may be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, &httpError{Status: http.StatusInternalServerError, Code: "server_error", Description: "Something went wrong inside keygate.", Cause: err})
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
