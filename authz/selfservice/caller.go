package selfservice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/keygate/keygate/authz"
)

// caller is who a self-service request is from: a user, signed in with
// their password or with a credential of their own.
type caller struct {
	user *authz.User
	// identity is the credential the caller presented; nil when they
	// signed in with a password.
	identity *authz.Identity
}

// apiSets and scopes are what the caller authenticated with carries: the
// credential's (already narrowed to the owner's), or, after a password,
// all of the user's. Nothing the caller makes may carry more.
func (c *caller) apiSets() []string {
	if c.identity != nil {
		return c.identity.APISets
	}
	return c.user.APISets
}

func (c *caller) scopes() []string {
	if c.identity != nil {
		return c.identity.Scopes
	}
	return c.user.Scopes
}

// within refuses, naming the request field, a wanted name that what the
// caller authenticated with does not carry.
func within(field string, want, have []string, c *caller) error {
	for i, w := range want {
		if !slices.Contains(have, w) {
			whose := "granted to you"
			if c.identity != nil {
				whose = "carried by the credential you authenticated with"
			}
			return badRequest("%s[%d]: %q is not %s", field, i, w, whose)
		}
	}
	return nil
}

// covers reports whether what the caller authenticated with carries all
// of these API sets and scopes: a credential may not obtain a secret for
// something broader than itself (a new client secret, an ApiKey token).
func (c *caller) covers(sets, scopes []string) error {
	for _, s := range sets {
		if !slices.Contains(c.apiSets(), s) {
			return insufficient(s)
		}
	}
	for _, s := range scopes {
		if !slices.Contains(c.scopes(), s) {
			return insufficient(s)
		}
	}
	return nil
}

func insufficient(scope string) *httpError {
	return &httpError{
		Status: http.StatusForbidden, Code: "insufficient_scope",
		Description: "The credential you authenticated with carries fewer API sets or scopes than this needs; sign in with your password or a broader credential.",
		Challenge:   []string{fmt.Sprintf(`Bearer realm="keygate", error="insufficient_scope", scope=%q`, scope)},
	}
}

// scopeWrite is the scope a credential needs to change anything through
// the self-service API, as on a proxied route: read for GET, write for
// the other methods.
const scopeWrite = "write"

var errTooManyAttempts = &httpError{Status: http.StatusTooManyRequests, Code: "too_many_requests", Description: "Too many failed sign-ins; try again later."}

// errBadPassword: unknown user, wrong password or disabled user alike.
var errBadPassword = &httpError{Status: http.StatusUnauthorized, Code: "unauthorized", Description: "The credentials are not valid.", Challenge: challengeUser}

// authenticate finds the caller: HTTP Basic with a user name and password,
// or a credential of their own (Bearer key token or access token, or an
// ApiKey pair), whatever its API sets.
func (h *Handler) authenticate(r *http.Request) (*caller, error) {
	ctx := r.Context()
	values := r.Header["Authorization"]
	client := h.clientAddr(r)
	if len(values) == 1 && isBasic(values[0]) {
		name, password, ok := r.BasicAuth()
		if !ok {
			return nil, errMalformedAuth
		}
		u, err := h.svc.CheckPassword(ctx, name, password, client)
		switch {
		case errors.Is(err, authz.ErrTooManyAttempts):
			e := *errTooManyAttempts
			e.RetryAfter = h.retryAfter
			return nil, &e
		case errors.Is(err, authz.ErrInvalid):
			return nil, errBadPassword
		case err != nil:
			return nil, err
		}
		return &caller{user: u}, nil
	}
	id, err := h.svc.Authenticate(ctx, values, client)
	switch {
	case errors.Is(err, authz.ErrNoCredential):
		return nil, errNoCaller
	case errors.Is(err, authz.ErrMalformed):
		return nil, errMalformedAuth
	case errors.Is(err, authz.ErrInvalid):
		return nil, errBadCaller
	case err != nil:
		return nil, err
	}
	u, err := h.svc.GetUser(ctx, id.User)
	switch {
	case errors.Is(err, authz.ErrUserNotFound):
		return nil, errBadCaller
	case err != nil:
		return nil, err
	case u.Disabled:
		return nil, errBadCaller
	}
	return &caller{user: u, identity: id}, nil
}

// isBasic reports whether an Authorization value uses the Basic scheme.
func isBasic(v string) bool {
	const p = "basic "
	return len(v) > len(p) && strings.EqualFold(v[:len(p)], p)
}

// reqState is what the access log line needs from deeper down.
type reqState struct {
	pattern string
	user    string
}

type stateKey struct{}

func withState(ctx context.Context, st *reqState) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}

func stateOf(ctx context.Context) *reqState {
	if st, ok := ctx.Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}
