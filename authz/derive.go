package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Credentials made by credentials.
//
// A credential made while the caller authenticated with another credential
// (not a password, an account-page session or the CLI) is derived from
// it: it gets at most its creator's API sets, scopes and remaining
// lifetime, never the admin flag, and records its creator as Parent. When
// the creator is revoked or deleted, everything it made is revoked too,
// through Revoke, so every replica's cache drops it like any other
// revocation. An OAuth access (or refresh) token never creates
// credentials: ErrTokenCannotCreate.

// ErrTokenCannotCreate: OAuth tokens are short-lived credentials of a
// client and create no credentials.
var ErrTokenCannotCreate = fmt.Errorf("%w: an OAuth token cannot create credentials", ErrForbidden)

// childrenIndex lists the credentials made with credential id.
func childrenIndex(id string) string { return "children/" + id }

// Creator returns the credential id of owner's that a new credential is to
// be made with, checked: it exists, is owner's, is active and unexpired,
// and is not an OAuth token (ErrTokenCannotCreate). An empty id (a
// password, a session, the CLI) is nil, nil.
func (s *Service) Creator(ctx context.Context, owner, id string) (*Credential, error) {
	if id == "" {
		return nil, nil
	}
	c, err := s.Credential(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: the creating credential %q is gone", ErrForbidden, id)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case c.Owner != owner:
		return nil, fmt.Errorf("%w: credential %q is not %q's", ErrForbidden, id, owner)
	case c.Kind == KindAccessToken || c.Kind == KindRefreshToken:
		return nil, ErrTokenCannotCreate
	case c.Status != StatusActive || !c.Expires.IsZero() && !s.now().Before(c.Expires):
		return nil, fmt.Errorf("%w: the creating credential %q is no longer active", ErrForbidden, id)
	}
	return c, nil
}

// deriveFrom bounds what a credential made with parent may carry: API
// sets and scopes within the parent's, and an expiry no later than the
// parent's. A zero expires (none asked for) becomes the parent's; a later
// one is refused, naming expiresField.
func deriveFrom(parent *Credential, sets, scopes []string, expires time.Time, expiresField string) (time.Time, error) {
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
// parent was revoked meanwhile (its cascade may have listed the children
// before this one was written), the new one is revoked at once, so that
// nothing outlives its creator.
func (s *Service) stillActive(ctx context.Context, parentID string, undo func(context.Context) error) error {
	p, err := s.Credential(ctx, parentID)
	if err == nil && p.Status == StatusActive {
		return nil
	}
	uctx := context.WithoutCancel(ctx)
	if uerr := undo(uctx); uerr != nil {
		s.log.Error("a credential made by a credential revoked meanwhile could not be taken back", zap.String("parent_id", parentID), zap.Error(uerr))
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("%w: the creating credential %q was revoked meanwhile", ErrForbidden, parentID)
}

// revokeChildren revokes every credential made with c, and deletes every
// OAuth client made with it (which revokes that client's tokens); each
// revocation cascades further.
func (s *Service) revokeChildren(ctx context.Context, c *Credential) error {
	if c.Kind != KindKeyToken && c.Kind != KindAPIKey {
		return nil // OAuth tokens make nothing
	}
	// Revoked children are revoked again (it is idempotent): a cascade
	// cut short by a store error reaches their own children on the retry.
	recs, err := s.st.List(ctx, childrenIndex(c.ID))
	if err != nil {
		return err
	}
	for _, r := range recs {
		var ch Credential
		if err := json.Unmarshal(r.Value, &ch); err != nil {
			return fmt.Errorf("decoding %s: %w", r.Key, err)
		}
		if err := s.Revoke(ctx, ch.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	clients, err := s.Clients(ctx, c.Owner)
	if err != nil {
		return err
	}
	for _, cl := range clients {
		if cl.Parent != c.ID {
			continue
		}
		if err := s.DeleteClient(ctx, cl.Owner, cl.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}
