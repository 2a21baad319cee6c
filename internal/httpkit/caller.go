package httpkit

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/keygate/keygate/authz"
)

// The WWW-Authenticate challenges of a 401 to a user: they may sign in
// with a password (Basic) or with a credential of their own (Bearer,
// ApiKey).
var (
	ChallengeUser        = []string{`Basic realm="keygate"`, `Bearer realm="keygate"`, `ApiKey realm="keygate"`}
	ChallengeUserInvalid = []string{`Basic realm="keygate"`, `Bearer realm="keygate", error="invalid_token"`, `ApiKey realm="keygate"`}
)

// The answers of Authenticate. Callers may tell them apart with errors.Is
// (for instance to describe another way to sign in).
var (
	// ErrNoCaller: no Authorization header, or a scheme keygate does not
	// know.
	ErrNoCaller = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Description: "Sign in with HTTP Basic (user name and password) or a credential of your own (Bearer or ApiKey).", Challenge: ChallengeUser}
	// ErrBadCaller: an unknown, expired, revoked or voided credential, or
	// one whose owner is disabled.
	ErrBadCaller = &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "The credentials are not valid.", Challenge: ChallengeUserInvalid}
	// ErrMalformedAuth: an Authorization header that breaks its scheme's
	// grammar, or more than one.
	ErrMalformedAuth = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The Authorization header is malformed.", Challenge: []string{`Basic realm="keygate"`, `Bearer realm="keygate", error="invalid_request"`, `ApiKey realm="keygate"`}}
	// ErrBadPassword: unknown user, wrong password or disabled user alike.
	ErrBadPassword = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Description: "The credentials are not valid.", Challenge: ChallengeUser}
	// ErrTooManyAttempts: password sign-in is refused for a while (429;
	// Authenticate sets Retry-After on a copy).
	ErrTooManyAttempts = &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Description: "Too many failed sign-ins; try again later."}
	// ErrSignInBusy: keygate is checking as many passwords as it allows at
	// once (503; Authenticate sets Retry-After on a copy).
	ErrSignInBusy = &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "Too many sign-ins at once; try again shortly."}
)

// Caller is a signed-in user.
type Caller struct {
	User *authz.User
	// Identity is the credential the caller presented; nil when they
	// signed in with a password.
	Identity *authz.Identity
}

// Authenticate signs in the user of a request: HTTP Basic with a user
// name and password (failures counted per user and per client address;
// past the limits, or with too many sign-ins at once from the address,
// 429 with Retry-After; with too many at once in the process, 503 with
// Retry-After; retryAfter seconds when authz says no wait), or a
// credential of their own (Bearer key token or access token, or an ApiKey
// pair), whatever its API sets. A disabled user is refused either way.
// Errors are *Error values of this package, or authz's (store trouble).
func Authenticate(r *http.Request, svc *authz.Service, client netip.Addr, retryAfter int) (*Caller, error) {
	ctx := r.Context()
	values := r.Header["Authorization"]
	if len(values) == 1 && IsBasic(values[0]) {
		name, password, ok := r.BasicAuth()
		if !ok {
			return nil, ErrMalformedAuth
		}
		u, err := svc.CheckPassword(ctx, name, password, client)
		switch {
		case errors.Is(err, authz.ErrTooManyAttempts):
			e := *ErrTooManyAttempts
			e.RetryAfter = RetryAfter(err, retryAfter)
			return nil, &e
		case errors.Is(err, authz.ErrSignInBusy):
			e := *ErrSignInBusy
			e.RetryAfter = RetryAfter(err, 1)
			return nil, &e
		case errors.Is(err, authz.ErrInvalid):
			return nil, ErrBadPassword
		case err != nil:
			return nil, err
		}
		return &Caller{User: u}, nil
	}
	id, err := svc.Authenticate(ctx, values, client)
	switch {
	case errors.Is(err, authz.ErrNoCredential):
		return nil, ErrNoCaller
	case errors.Is(err, authz.ErrMalformed):
		return nil, ErrMalformedAuth
	case errors.Is(err, authz.ErrInvalid):
		return nil, ErrBadCaller
	case errors.Is(err, authz.ErrKeyBlocked):
		return nil, KeyBlocked(err)
	case err != nil:
		return nil, err
	}
	u, err := svc.GetUser(ctx, id.User)
	switch {
	case errors.Is(err, authz.ErrUserNotFound):
		return nil, ErrBadCaller
	case err != nil:
		return nil, err
	case u.Disabled:
		return nil, ErrBadCaller
	}
	return &Caller{User: u, Identity: id}, nil
}

// RetryAfter is the Retry-After, in whole seconds (at least 1), of an
// *authz.RetryError in err, or def without one.
func RetryAfter(err error, def int) int {
	var re *authz.RetryError
	if errors.As(err, &re) {
		return re.Seconds()
	}
	return def
}

// IsBasic reports whether an Authorization value uses the Basic scheme.
func IsBasic(v string) bool {
	const p = "basic "
	return len(v) > len(p) && strings.EqualFold(v[:len(p)], p)
}

// ScopeWrite is the scope a credential needs to change anything through
// the APIs, as on a proxied route: read for GET, write for the other
// methods.
const ScopeWrite = "write"

// Insufficient is the 403 for a credential that carries less than the
// request needs.
func Insufficient(scope string) *Error {
	return &Error{
		Status: http.StatusForbidden, Code: "insufficient_scope",
		Description: "The credential you authenticated with carries fewer API sets or scopes than this needs; sign in with your password or a broader credential.",
		Challenge:   []string{fmt.Sprintf(`Bearer realm="keygate", error="insufficient_scope", scope=%q`, scope)},
	}
}
