package authz

import (
	"context"
	"errors"
)

// ErrKeyInactive: a named key that no longer works (revoked, or past its
// expiry) does not have its token shown again, even where secrets are
// retrievable.
var ErrKeyInactive = errors.New("the key is revoked or expired: its token is not shown again")

// KeyTokenShown reports whether KeyToken would give c's token again: nil
// if so, ErrNotRetrievable when the token was shown once (no
// auth.encryption_keys when the key was made, or none configured now),
// ErrKeyInactive when the key is not active or has expired. It does no
// I/O, so a list of keys can offer "show" only where it would work; it is
// the rule, and KeyToken applies it.
func (s *Accounts) KeyTokenShown(c *Credential) error {
	if c.Kind != KindKeyToken || len(c.SealedSecret) == 0 || len(s.retrievable) == 0 {
		return ErrNotRetrievable
	}
	if c.Status != StatusActive || !c.Expires.IsZero() && !s.now().Before(c.Expires) {
		return ErrKeyInactive
	}
	return nil
}

// KeyToken returns owner's named key's token again (seed 003: "get the
// details of an existing API key to obtain the long-lived token") and
// the key, when KeyTokenShown allows it; otherwise KeyTokenShown's error.
// Another user's handle is ErrNotFound. An error of any other kind is the
// store's trouble, or a sealed token that could not be opened (sealed
// under an encryption key that is no longer configured).
func (s *Accounts) KeyToken(ctx context.Context, owner, handle string) (string, *Credential, error) {
	c, err := s.KeyByHandle(ctx, owner, handle)
	if err != nil {
		return "", nil, err
	}
	if err := s.KeyTokenShown(c); err != nil {
		return "", nil, err
	}
	token, err := s.retrievable.open(c.SealedSecret, c.ID)
	if err != nil {
		return "", nil, err
	}
	return token, c, nil
}
