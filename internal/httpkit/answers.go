package httpkit

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/store"
)

// Front is the kind of front end an answer is for: they answer the same
// authz error alike but for the ways in they offer (the challenge) and
// what they say when nothing else fits.
type Front uint8

const (
	// ForAPI: the JSON APIs and the account pages, where a user signs in with
	// a password (HTTP Basic) or a credential of their own (Bearer,
	// ApiKey). An error the table does not know is a 500.
	ForAPI Front = iota
	// ForProxy: the proxied request path, which takes only credentials
	// (Bearer, ApiKey). An error the table does not know means the
	// credential could not be verified: 503, never an open door.
	ForProxy
)

// The WWW-Authenticate challenges. A user of the APIs may sign in with a
// password (Basic) or a credential of their own (Bearer, ApiKey); a
// proxied request carries a credential (RFC 6750 §3, with keygate's ApiKey
// scheme beside Bearer).
var (
	ChallengeUser        = []string{`Basic realm="keygate"`, `Bearer realm="keygate"`, `ApiKey realm="keygate"`}
	ChallengeUserInvalid = []string{`Basic realm="keygate"`, `Bearer realm="keygate", error="invalid_token"`, `ApiKey realm="keygate"`}
	challengeUserBad     = []string{`Basic realm="keygate"`, `Bearer realm="keygate", error="invalid_request"`, `ApiKey realm="keygate"`}
	ChallengeCredential  = []string{`Bearer realm="keygate"`, `ApiKey realm="keygate"`}
	challengeCredBad     = []string{`Bearer realm="keygate", error="invalid_request"`, `ApiKey realm="keygate"`}
	challengeCredInvalid = []string{`Bearer realm="keygate", error="invalid_token"`, `ApiKey realm="keygate"`}
)

// The answers to a credential (or caller) that does not pass. Unknown,
// wrong, expired, revoked and voided credentials all get the same answer:
// the client is never told which.
var (
	// ErrNoCaller: no Authorization header, or a scheme keygate does not
	// know (API).
	ErrNoCaller = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Description: "Sign in with HTTP Basic (user name and password) or a credential of your own (Bearer or ApiKey).", Challenge: ChallengeUser}
	// ErrBadCaller: an unknown, expired, revoked or voided credential, or
	// one whose owner is disabled (API).
	ErrBadCaller = &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "The credentials are not valid.", Challenge: ChallengeUserInvalid}
	// ErrMalformedAuth: an Authorization header that breaks its scheme's
	// grammar, or more than one (API).
	ErrMalformedAuth = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The Authorization header is malformed.", Challenge: challengeUserBad}

	// ErrNoCredential, ErrMalformed, ErrInvalidToken: the same for a
	// proxied request.
	ErrNoCredential = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Description: "A credential is required.", Challenge: ChallengeCredential}
	ErrMalformed    = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The Authorization header is malformed.", Challenge: challengeCredBad}
	ErrInvalidToken = &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "The credential is not valid.", Challenge: challengeCredInvalid}

	// ErrKeyBlocked: an ApiKey key with too many wrong tokens lately
	// (Answer sets Retry-After on a copy).
	ErrKeyBlocked = &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Description: "Too many wrong tokens for this key; retry later.", RetryAfter: 1}
	// errUnverifiable: a proxied request's credential could not be checked.
	errUnverifiable = &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "Credentials cannot be verified right now; try again shortly.", RetryAfter: 1}
)

// answer is a row of the table: what an error of authz (or the store
// under it) is answered with, by the APIs and by the proxy. A nil answer
// falls through to the Front's last resort. With keepCause the answer is
// a copy that carries err as its Cause (for the log); with input, the
// description is err's message, which names the field at fault.
type answer struct {
	is         func(error) bool
	api, proxy *Error
	keepCause  bool
	input      bool
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

// table is the one mapping from authz errors to answers: status,
// challenge and body. The first row that matches answers.
var table = [...]answer{
	{is: is(authz.ErrNoCredential), api: ErrNoCaller, proxy: ErrNoCredential},
	{is: is(authz.ErrMalformed), api: ErrMalformedAuth, proxy: ErrMalformed},
	{is: is(authz.ErrInvalid), api: ErrBadCaller, proxy: ErrInvalidToken},
	{is: is(authz.ErrKeyBlocked), api: ErrKeyBlocked, proxy: ErrKeyBlocked},
	{is: is(authz.ErrInvalidInput), api: &Error{Status: http.StatusBadRequest, Code: "invalid_request"}, keepCause: true, input: true},
	{is: is(authz.ErrHandleTaken), api: &Error{Status: http.StatusConflict, Code: "conflict", Description: "You already have a key with this handle."}, keepCause: true},
	{is: is(authz.ErrUserExists), api: &Error{Status: http.StatusConflict, Code: "conflict", Description: "A user with this name already exists."}, keepCause: true},
	{is: is(authz.ErrNotFound), api: &Error{Status: http.StatusNotFound, Code: "not_found", Description: "No such resource."}, keepCause: true},
	{is: is(authz.ErrUserNotFound), api: &Error{Status: http.StatusNotFound, Code: "not_found", Description: "No such resource."}, keepCause: true},
	{is: is(authz.ErrForbidden), api: &Error{Status: http.StatusForbidden, Code: "forbidden", Description: "You are not allowed to do this."}, keepCause: true},
	{is: Unavailable, api: ErrUnavailable, proxy: errUnverifiable, keepCause: true},
}

// Answer turns an error of authz (or the store under it) into the answer
// front f gives (see table). An *Error is answered as it is. What the
// table does not know is, for the APIs, a 500 and, for the proxy, a 503;
// either keeps err as the cause, for the log.
func Answer(err error, f Front) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	for i := range table {
		row := &table[i]
		if !row.is(err) {
			continue
		}
		e := row.api
		if f == ForProxy {
			e = row.proxy
		}
		if e == nil {
			break
		}
		if e == ErrKeyBlocked {
			return KeyBlocked(err)
		}
		if !row.keepCause {
			return e
		}
		c := *e
		c.Cause = err
		if row.input {
			c.Description = InputMessage(err)
		}
		return &c
	}
	last := ErrInternal
	if f == ForProxy {
		last = errUnverifiable
	}
	c := *last
	c.Cause = err
	return &c
}

// FromAuthz is Answer for the APIs and the account pages.
func FromAuthz(err error) *Error { return Answer(err, ForAPI) }

// InputMessage is an authz input error's message, which names the field
// ("handle: required"), without the "invalid input: " in front.
func InputMessage(err error) string {
	if ie, ok := errors.AsType[*authz.InputError](err); ok {
		return ie.Message()
	}
	return err.Error()
}

// KeyBlocked is the 429 for an ApiKey key with too many wrong tokens
// lately (authz.ErrKeyBlocked), with Retry-After: the wait, in whole
// seconds, at least 1.
func KeyBlocked(err error) *Error {
	e := *ErrKeyBlocked
	var kb *authz.KeyBlockedError
	if errors.As(err, &kb) {
		e.RetryAfter = CeilSeconds(kb.Wait)
	}
	return &e
}

// CeilSeconds is d in whole seconds, rounded up, at least 1: a
// Retry-After.
func CeilSeconds(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}

// Unavailable reports whether err means "the store did not answer" (or
// the request ended before it did): 503 with Retry-After, never a
// misleading 4xx.
func Unavailable(err error) bool {
	return errors.Is(err, authz.ErrUnavailable) || errors.Is(err, store.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
