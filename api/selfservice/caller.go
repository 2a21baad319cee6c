package selfservice

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/httpkit"
)

// caller is who a self-service request is from: a user, signed in with
// their password or with a credential of their own.
type caller struct {
	user *authz.User
	// identity is the credential the caller presented; nil when they
	// signed in with a password.
	identity *authz.Identity
}

func (c *caller) Who() string                 { return c.user.Name }
func (c *caller) Credential() *authz.Identity { return c.identity }

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
			return httpkit.BadRequest("%s[%d]: %q is not %s", field, i, w, whose)
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
			return httpkit.MissingAPISet(s)
		}
	}
	for _, s := range scopes {
		if !slices.Contains(c.scopes(), s) {
			return httpkit.Insufficient(s)
		}
	}
	return nil
}

// mayRetrieve reports whether the caller may be shown a stored secret
// again (a named key's token, a client's secret, where retrievable
// secrets are on) of a credential with these API sets, scopes and expiry.
// It is the rule of credentials made by credentials applied to reading:
// what a credential could not make — more API sets or scopes, a longer
// life — it may not read either. After a password: yes. An OAuth access
// token: never (a short-lived token would obtain a long-lived secret,
// which outlives its client too). A named key or the ApiKey pair: when it
// carries all of the sets and scopes and does not expire before the
// secret's credential does.
func (h *Handler) mayRetrieve(ctx context.Context, c *caller, sets, scopes []string, expires time.Time) (bool, error) {
	if c.covers(sets, scopes) != nil {
		return false, nil
	}
	if c.identity == nil {
		return true, nil
	}
	if c.identity.Kind == authz.KindAccessToken || c.identity.Kind == authz.KindRefreshToken {
		return false, nil
	}
	p, err := h.svc.Accounts.Creator(ctx, c.user.Name, c.identity.CredentialID)
	switch {
	case errors.Is(err, authz.ErrTokenCannotCreate), errors.Is(err, authz.ErrForbidden):
		return false, nil
	case err != nil:
		return false, err
	}
	if !p.Expires.IsZero() && (expires.IsZero() || expires.After(p.Expires)) {
		return false, nil
	}
	return true, nil
}

// errTokenCannotCreate: an OAuth access token makes no credentials
// unless its client was made for that (authz.ErrTokenCannotCreate), said
// plainly.
var errTokenCannotCreate = &httpkit.Error{Status: http.StatusForbidden, Code: "forbidden",
	Description: "An OAuth access token cannot create credentials unless its client was made for that (createsCredentials): sign in with your password, or use a named API key or the ApiKey pair."}

// errCreatesCredentialsNeedsPassword: only a password (or the account
// page) makes a client whose tokens create credentials.
var errCreatesCredentialsNeedsPassword = &httpkit.Error{Status: http.StatusForbidden, Code: "forbidden",
	Description: "createsCredentials: a client whose tokens create credentials can only be made after signing in with your password, or on the account page."}

// creator is what the caller's new credentials are derived from (see
// authz's derive.go): nil after a password; for an OAuth access token,
// its client, if the client was made to create credentials (else
// errTokenCannotCreate). by is the credential id authz takes as
// CreatedBy.
func (h *Handler) creator(ctx context.Context, c *caller) (by string, p *authz.Parent, err error) {
	if c.identity == nil {
		return "", nil, nil
	}
	p, err = h.svc.Accounts.Creator(ctx, c.user.Name, c.identity.CredentialID)
	if errors.Is(err, authz.ErrTokenCannotCreate) {
		return "", nil, errTokenCannotCreate
	}
	if err != nil {
		return "", nil, err
	}
	return c.identity.CredentialID, p, nil
}

// authenticate finds the caller: HTTP Basic with a user name and password,
// or a credential of their own (Bearer key token or access token, or an
// ApiKey pair), whatever its API sets.
func (h *Handler) authenticate(r *http.Request) (*caller, error) {
	c, err := httpkit.Authenticate(r, h.svc.Passwords, h.svc.Accounts, h.svc.Verifier, h.trusted.ClientAddr(r), h.retryAfter)
	if err != nil {
		return nil, err
	}
	return &caller{user: c.User, identity: c.Identity}, nil
}
