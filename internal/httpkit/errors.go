package httpkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/store"
)

// Error is an error answer: a status, a short code and a client-safe
// description, written as {"error": code, "error_description": description}
// (RFC 6749 §5.2, RFC 6750 §3). Cause is logged, never sent.
type Error struct {
	Status      int
	Code        string
	Description string
	// Challenge, if set, is sent as WWW-Authenticate.
	Challenge []string
	// RetryAfter, if positive, is sent as Retry-After (seconds).
	RetryAfter int
	Cause      error
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

// Answers every API gives alike.
var (
	ErrNotFound         = &Error{Status: http.StatusNotFound, Code: "not_found", Description: "No such resource."}
	ErrBadPath          = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The request path is not allowed."}
	ErrMethodNotAllowed = &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Description: "The resource does not serve this method."}
	ErrUnavailable      = &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "The credential store cannot be reached; try again shortly.", RetryAfter: 1}
	ErrInternal         = &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "Something went wrong inside keygate."}
)

// FromAuthz turns an error of authz (or the store under it) into the
// answer the client gets. An *Error is answered as it is; input errors
// keep their message, which names the field at fault; everything else is
// a fixed sentence, its cause kept for the log.
func FromAuthz(err error) *Error {
	var he *Error
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, authz.ErrInvalidInput):
		msg := strings.TrimPrefix(err.Error(), authz.ErrInvalidInput.Error()+": ")
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: msg, Cause: err}
	case errors.Is(err, authz.ErrHandleTaken):
		return &Error{Status: http.StatusConflict, Code: "conflict", Description: "You already have a key with this handle.", Cause: err}
	case errors.Is(err, authz.ErrUserExists):
		return &Error{Status: http.StatusConflict, Code: "conflict", Description: "A user with this name already exists.", Cause: err}
	case errors.Is(err, authz.ErrNotFound), errors.Is(err, authz.ErrUserNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Description: "No such resource.", Cause: err}
	case errors.Is(err, authz.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Description: "You are not allowed to do this.", Cause: err}
	case Unavailable(err):
		e := *ErrUnavailable
		e.Cause = err
		return &e
	}
	e := *ErrInternal
	e.Cause = err
	return &e
}

// KeyBlocked is the 429 for an ApiKey key with too many wrong tokens
// lately (authz.ErrKeyBlocked), with Retry-After.
func KeyBlocked(err error) *Error {
	e := &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Description: "Too many wrong tokens for this key; retry later.", RetryAfter: 1}
	var kb *authz.KeyBlockedError
	if errors.As(err, &kb) {
		e.RetryAfter = max(int((kb.Wait+time.Second-1)/time.Second), 1)
	}
	return e
}

// Unavailable reports whether err means "the store did not answer" (or
// the request ended before it did): 503 with Retry-After, never a
// misleading 4xx.
func Unavailable(err error) bool {
	return errors.Is(err, authz.ErrUnavailable) || errors.Is(err, store.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// noStore marks an answer as about one person's credentials: never cached,
// never sniffed.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
}

// WriteError writes every error answer.
func WriteError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	noStore(h)
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

// WriteJSON writes a successful answer. Every answer of these APIs is
// about someone's credentials, so none may be cached.
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
	h.Set("Content-Type", "application/json")
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

// Fail writes an endpoint's error through FromAuthz and logs the internal
// cause of a 5xx under msg (a 503 at warn level: the store is down, and
// authz and the store say more).
func Fail(log *zap.Logger, msg, route string, w http.ResponseWriter, r *http.Request, err error) {
	e := FromAuthz(err)
	if e.Status >= 500 {
		level := zapcore.ErrorLevel
		if e.Status == http.StatusServiceUnavailable {
			level = zapcore.WarnLevel
		}
		if ce := log.Check(level, msg); ce != nil {
			ce.Write(zap.String("request_id", w.Header().Get("X-Request-Id")), zap.String("method", r.Method),
				zap.String("route", route), zap.Int("status", e.Status), zap.Error(e.Cause))
		}
	}
	WriteError(w, e)
}
