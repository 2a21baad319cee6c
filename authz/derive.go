package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
)

// Credentials made by credentials.
//
// A credential made while the caller authenticated with another credential
// (not a password, an account-page session or the CLI) is derived from
// it: it gets at most its creator's API sets, scopes and remaining
// lifetime, never the admin flag, and records its creator as Parent. When
// the creator is revoked or deleted, everything it made is revoked too,
// through Revoke, so every replica's cache drops it like any other
// revocation.
//
// An OAuth access token creates credentials only when its client was made
// for that (Client.CreatesCredentials, chosen at creation after a password
// or on the account page); otherwise ErrTokenCannotCreate. Its Parent is
// then the client, not the short-lived token: what it makes carries at
// most the token's API sets and scopes, expires no later than the client
// (never, if the client does not), and is revoked or deleted when the
// client is deleted. A refresh token never creates credentials.

// ErrTokenCannotCreate: an OAuth token whose client was not made to
// create credentials creates none.
var ErrTokenCannotCreate = fmt.Errorf("%w: an OAuth token cannot create credentials unless its client was made for that", ErrForbidden)

// childrenIndex lists the credentials made with credential (or client) id.
func childrenIndex(id string) string { return "children/" + id }

// A Parent is what a credential made by a credential is derived from.
type Parent struct {
	// ID is the creating credential's id, or, for an OAuth access token,
	// its client's: the new credential's Parent.
	ID string
	// Client: ID is an OAuth client's (made to create credentials).
	Client bool
	// APISets and Scopes bound the new credential's: the credential's
	// (the access token's, for a client).
	APISets, Scopes []string
	// Expires bounds the new credential's expiry: the credential's, or
	// the client's; zero for none.
	Expires time.Time
}

// id is p's ID; "" for no parent.
func (p *Parent) id() string {
	if p == nil {
		return ""
	}
	return p.ID
}

// Creator returns what a new credential of owner's, made with credential
// id, is derived from, checked: the credential exists, is owner's, is
// active and unexpired, and is not an OAuth token unless the token's
// client was made to create credentials (ErrTokenCannotCreate). An empty
// id (a password, a session, the CLI) is nil, nil.
func (s *Accounts) Creator(ctx context.Context, owner, id string) (*Parent, error) {
	return s.creator(ctx, owner, id)
}

func (s *core) creator(ctx context.Context, owner, id string) (*Parent, error) {
	if id == "" {
		return nil, nil
	}
	c, _, err := s.db.creds.get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: the creating credential %q is gone", ErrForbidden, id)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case c.Owner != owner:
		return nil, fmt.Errorf("%w: credential %q is not %q's", ErrForbidden, id, owner)
	case c.Kind == KindRefreshToken || c.Kind == KindAccessToken && c.ClientID == "":
		return nil, ErrTokenCannotCreate
	case c.Status != StatusActive || !c.Expires.IsZero() && !s.now().Before(c.Expires):
		return nil, fmt.Errorf("%w: the creating credential %q is no longer active", ErrForbidden, id)
	}
	p := &Parent{ID: c.ID, APISets: c.APISets, Scopes: c.Scopes, Expires: c.Expires}
	if c.Kind != KindAccessToken {
		return p, nil
	}
	cl, _, err := s.db.clients.get(ctx, c.ClientID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: the client of the creating token is gone", ErrForbidden)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case cl.Owner != owner:
		return nil, fmt.Errorf("%w: client %q is not %q's", ErrForbidden, cl.ID, owner)
	case !cl.CreatesCredentials:
		return nil, ErrTokenCannotCreate
	case !cl.Expires.IsZero() && !s.now().Before(cl.Expires):
		return nil, fmt.Errorf("%w: the client of the creating token has expired", ErrForbidden)
	}
	p.ID, p.Client, p.Expires = cl.ID, true, cl.Expires
	return p, nil
}

// deriveFrom bounds what a credential made with parent may carry: API
// sets and scopes within the parent's, and an expiry no later than the
// parent's. A zero expires (none asked for) becomes the parent's; a later
// one is refused, naming expiresField.
func deriveFrom(parent *Parent, sets, scopes []string, expires time.Time, expiresField string) (time.Time, error) {
	for _, f := range []struct {
		field      string
		want, have []string
	}{{"apiSets", sets, parent.APISets}, {"scopes", scopes, parent.Scopes}} {
		for i, w := range f.want {
			if !slices.Contains(f.have, w) {
				return time.Time{}, invalid(fmt.Sprintf("%s[%d]", f.field, i), "%q is not carried by the credential you authenticated with", w)
			}
		}
	}
	if parent.Expires.IsZero() {
		return expires, nil
	}
	if expires.IsZero() {
		return parent.Expires, nil
	}
	if expires.After(parent.Expires) {
		return time.Time{}, invalid(expiresField, "must not be later than %s, when the credential you authenticated with expires",
			parent.Expires.UTC().Format(time.RFC3339))
	}
	return expires, nil
}

// stillActive is the check after a derived credential was stored: if its
// parent was revoked or deleted meanwhile (its cascade may have listed
// the children before this one was written), the new one is taken back at
// once, so that nothing outlives its creator.
func (s *core) stillActive(ctx context.Context, parent *Parent, undo func(context.Context) error) error {
	var active bool
	var err error
	if parent.Client {
		_, _, err = s.db.clients.get(ctx, parent.ID)
		active = err == nil
	} else {
		var p *Credential
		p, _, err = s.db.creds.get(ctx, parent.ID)
		active = err == nil && p.Status == StatusActive
	}
	if active {
		return nil
	}
	uctx := context.WithoutCancel(ctx)
	if uerr := undo(uctx); uerr != nil {
		s.log.Error("a credential made by a credential revoked meanwhile could not be taken back", zap.String("parent_id", parent.ID), zap.Error(uerr))
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("%w: the creating credential %q was revoked meanwhile", ErrForbidden, parent.ID)
}

// revokeChildren revokes every credential made with c, and deletes every
// OAuth client made with it (which revokes that client's tokens); each
// revocation cascades further.
func (s *core) revokeChildren(ctx context.Context, c *Credential, cs *cascade) error {
	if c.Kind != KindKeyToken && c.Kind != KindAPIKey {
		return nil // an OAuth token's children are its client's
	}
	return s.revokeChildrenOf(ctx, c.Owner, c.ID, cs)
}

// revokeChildrenOf revokes every credential of owner's made with parent
// (a credential's or a client's id) and deletes every client made with
// it, counting them in cs.
func (s *core) revokeChildrenOf(ctx context.Context, owner, parent string, cs *cascade) error {
	// Revoked children are revoked again (it is idempotent): a cascade
	// cut short by a store error reaches their own children on the retry.
	children, err := s.db.creds.list(ctx, childrenIndex(parent))
	if err != nil {
		return err
	}
	for _, ch := range children {
		if _, err := s.revoke(ctx, ch.ID, cs); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if ch.Status != StatusRevoked {
			cs.revoked++
		}
	}
	clients, err := s.db.clients.list(ctx, clientsIndex(owner))
	if err != nil {
		return err
	}
	for _, cl := range clients {
		if cl.Parent != parent {
			continue
		}
		if err := s.deleteClient(ctx, cl.Owner, cl.ID, cs); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		cs.clientsDeleted++
	}
	return nil
}

// KeyAuthorityRefusal says why user u may not create a credential of kind
// (one of config.KeyKinds) where self_service.manage_key_authority_for
// lists kind and u holds neither MANAGE_USER_API_KEY nor ADMIN; "" when
// u may. The self-service API and the account pages both answer it, so
// the rule and its words live here once.
func KeyAuthorityRefusal(ss config.SelfService, u *User, kind string) string {
	if !ss.NeedsKeyAuthority(kind) || u.Has(AuthorityManageUserAPIKey) {
		return ""
	}
	switch kind {
	case config.KeyKindNamedKeys:
		return "Creating API keys needs the MANAGE_USER_API_KEY or ADMIN authority."
	case config.KeyKindOAuthClients:
		return "Creating OAuth clients and their secrets needs the MANAGE_USER_API_KEY or ADMIN authority."
	}
	return "Generating the ApiKey token needs the MANAGE_USER_API_KEY or ADMIN authority."
}
