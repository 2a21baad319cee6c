package httpkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
)

// The answers to a password sign-in that does not pass.
var (
	// ErrBadPassword: unknown user, wrong password or disabled user alike.
	ErrBadPassword = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Description: "The credentials are not valid.", Challenge: ChallengeUser}
	// ErrTooManyAttempts: password sign-in is refused for a while (429;
	// SignInError sets Retry-After on a copy).
	ErrTooManyAttempts = &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Description: "Too many failed sign-ins; try again later."}
	// ErrSignInBusy: keygate is checking as many passwords as it allows at
	// once (503; SignInError sets Retry-After on a copy).
	ErrSignInBusy = &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "Too many sign-ins at once; try again shortly."}
)

// SignInError is the answer to a failed authz.CheckPassword: past the
// failure limits, or with too many sign-ins at once from the address, 429
// with Retry-After (retryAfter seconds when authz says no wait); with too
// many at once in the process, 503 with Retry-After; a wrong name or
// password, 401; anything else as the table says (see FromAuthz). The
// account pages answer with the same status and Retry-After, in words of
// their own.
func SignInError(err error, retryAfter int) *Error {
	switch {
	case errors.Is(err, authz.ErrTooManyAttempts):
		e := *ErrTooManyAttempts
		e.RetryAfter = RetryAfter(err, retryAfter)
		return &e
	case errors.Is(err, authz.ErrSignInBusy):
		e := *ErrSignInBusy
		e.RetryAfter = RetryAfter(err, 1)
		return &e
	case errors.Is(err, authz.ErrInvalid):
		return ErrBadPassword
	}
	return FromAuthz(err)
}

// Caller is a signed-in user.
type Caller struct {
	User *authz.User
	// Identity is the credential the caller presented; nil when they
	// signed in with a password.
	Identity *authz.Identity
}

// Passwords is what Authenticate asks of password sign-in: a password
// check. *authz.Passwords has it.
type Passwords interface {
	CheckPassword(ctx context.Context, name, password string, client netip.Addr) (*authz.User, error)
}

// Users is what Authenticate asks of the accounts: a user by name.
// *authz.Accounts has it.
type Users interface {
	GetUser(ctx context.Context, name string) (*authz.User, error)
}

// Credentials is what Authenticate asks of verification: who a presented
// credential belongs to, whatever its API sets. *authz.Verifier has it.
type Credentials interface {
	Authenticate(ctx context.Context, authorization []string, client netip.Addr) (*authz.Identity, error)
}

var (
	_ Passwords   = (*authz.Passwords)(nil)
	_ Users       = (*authz.Accounts)(nil)
	_ Credentials = (*authz.Verifier)(nil)
)

// Authenticate signs in the user of a request: HTTP Basic with a user
// name and password (failures counted per user and per client address;
// past the limits, or with too many sign-ins at once from the address,
// 429 with Retry-After; with too many at once in the process, 503 with
// Retry-After; retryAfter seconds when authz says no wait), or a
// credential of their own (Bearer key token or access token, or an ApiKey
// pair), whatever its API sets. A disabled user is refused either way.
// Errors are *Error values (see Answer).
func Authenticate(r *http.Request, passwords Passwords, users Users, creds Credentials, client netip.Addr, retryAfter int) (*Caller, error) {
	ctx := r.Context()
	values := r.Header["Authorization"]
	if len(values) == 1 && IsBasic(values[0]) {
		name, password, ok := r.BasicAuth()
		if !ok {
			return nil, ErrMalformedAuth
		}
		u, err := passwords.CheckPassword(ctx, name, password, client)
		if err != nil {
			return nil, SignInError(err, retryAfter)
		}
		return &Caller{User: u}, nil
	}
	id, err := creds.Authenticate(ctx, values, client)
	if err != nil {
		return nil, FromAuthz(err)
	}
	u, err := users.GetUser(ctx, id.User)
	switch {
	case errors.Is(err, authz.ErrUserNotFound):
		return nil, ErrBadCaller
	case err != nil:
		return nil, FromAuthz(err)
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

// Insufficient is the 403 for a credential that lacks the scope (read or
// write) the request needs; the challenge names it (RFC 6750 §3), as a
// token endpoint could grant it.
func Insufficient(scope string) *Error {
	return &Error{
		Status: http.StatusForbidden, Code: "insufficient_scope",
		Description: "The credential you authenticated with carries fewer API sets or scopes than this needs; sign in with your password or a broader credential.",
		Challenge:   []string{fmt.Sprintf(`Bearer realm="keygate", error="insufficient_scope", scope=%q`, scope)},
	}
}

// MissingAPISet is the 403 for a credential that lacks the API set the
// request needs. The challenge has no scope attribute: an API set is not
// an OAuth scope that a token request could ask for (a client's API sets
// are its resourceIds, fixed when it is made), so naming it there would
// send a client asking for a scope it can never get. The description names
// it.
func MissingAPISet(set string) *Error {
	return &Error{
		Status: http.StatusForbidden, Code: "insufficient_scope",
		Description: fmt.Sprintf("The credential you authenticated with does not carry the API set %q that this needs; sign in with your password or use a credential made for it.", set),
		Challenge:   []string{`Bearer realm="keygate", error="insufficient_scope"`},
	}
}

// PasswordRetryAfter is the Retry-After of a 429 for too many wrong
// passwords, in whole seconds: self_service.password_failure_window (its
// default when zero, or without a config), the longest a client may have
// to wait.
func PasswordRetryAfter(cfg *config.Config) int {
	window := config.DefaultPasswordFailureWindow
	if cfg != nil && cfg.SelfService.PasswordFailureWindow > 0 {
		window = cfg.SelfService.PasswordFailureWindow
	}
	return CeilSeconds(window)
}
