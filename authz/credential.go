package authz

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// What Accounts and OAuth both do to credentials: write a new one, revoke
// one (with everything it made, derive.go), delete a client with its
// tokens, and read a user.

// getUser returns a user from the store, or ErrUserNotFound.
func (s *core) getUser(ctx context.Context, name string) (*User, error) {
	u, _, err := s.db.users.get(ctx, name)
	return u, err
}

// writeNew stores a new credential: the verification record under the
// secret's digest, then the management record. extra fills the
// verification record's ApiKey fields.
func (s *core) writeNew(ctx context.Context, cred *Credential, secret string, extra func(*secretRecord)) error {
	k := s.keys[0]
	cred.Digest = k.recordKey(k.digest(secret))
	rec := secretRecord{
		CredentialID: cred.ID, Kind: cred.Kind, Owner: cred.Owner,
		APISets: cred.APISets, Scopes: cred.Scopes, Status: cred.Status,
		IssuedMs: cred.Created.UnixMilli(), ClientID: cred.ClientID, Family: cred.Family,
	}
	if !cred.Expires.IsZero() {
		rec.ExpiresMs = cred.Expires.UnixMilli()
	}
	if extra != nil {
		extra(&rec)
	}
	if err := s.db.secrets.create(ctx, cred.Digest, &rec); err != nil {
		return fmt.Errorf("storing credential: %w", err)
	}
	if err := s.db.creds.create(ctx, cred.ID, cred); err != nil {
		_ = s.db.secrets.delete(context.WithoutCancel(ctx), cred.Digest, 0)
		return fmt.Errorf("storing credential: %w", err)
	}
	// A cached "unknown" for this digest (someone tried the token before
	// it existed: practically impossible, but cheap to rule out) must go.
	s.publish(ctx, "d:"+cred.Digest)
	return nil
}

// revoke takes a credential away: its secret stops working on every
// replica (within moments; at worst auth.cache_ttl if a message is lost),
// and the record stays, marked revoked, for audit. What it made goes with
// it (derive.go), counted in cs. It writes no audit line: the public
// change that called it does.
func (s *core) revoke(ctx context.Context, id string, cs *cascade) (*Credential, error) {
	c, err := s.db.creds.update(ctx, id, func(c *Credential) error { c.Status = StatusRevoked; return nil })
	if err != nil {
		return nil, err
	}
	if err := s.db.secrets.delete(ctx, c.Digest, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return c, err
	}
	s.publish(ctx, "d:"+c.Digest)
	// What it made ends with it (derive.go).
	return c, s.revokeChildren(ctx, c, cs)
}

// cascade counts what one change took away with it: credentials revoked
// and clients deleted besides its target.
type cascade struct{ revoked, clientsDeleted int }

// fields are the audit line's cascade_revoked and
// cascade_clients_deleted, when not zero.
func (cs *cascade) fields(extra ...zap.Field) []zap.Field {
	if cs.revoked > 0 {
		extra = append(extra, zap.Int("cascade_revoked", cs.revoked))
	}
	if cs.clientsDeleted > 0 {
		extra = append(extra, zap.Int("cascade_clients_deleted", cs.clientsDeleted))
	}
	return extra
}

// revokeIndex revokes every credential listed under an index, counting
// them in cs.
func (s *core) revokeIndex(ctx context.Context, index string, cs *cascade) error {
	creds, err := s.db.creds.list(ctx, index)
	if err != nil {
		return err
	}
	for _, c := range creds {
		if c.Status == StatusRevoked {
			continue
		}
		if _, err := s.revoke(ctx, c.ID, cs); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		cs.revoked++
	}
	return nil
}

// deleteClient removes owner's client; every token it obtained stops
// working on every replica, and what its access tokens made ends with it
// (derive.go); cs counts them. No audit line (see revoke).
func (s *core) deleteClient(ctx context.Context, owner, id string, cs *cascade) error {
	c, version, err := s.db.clients.get(ctx, id)
	if err != nil {
		return err
	}
	if c.Owner != owner {
		return fmt.Errorf("%w: client %q", ErrNotFound, id)
	}
	if err := s.db.clients.delete(ctx, id, version); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := s.revokeIndex(ctx, clientCredsIndex(id), cs); err != nil {
		return err
	}
	return s.revokeChildrenOf(ctx, owner, id, cs)
}

// restatus moves a credential's verification record, then its management
// record, from status from to status to: each only if it is at from and,
// when generation is not 0, of that ApiKey token generation (a token
// generated meanwhile is left as it is).
func (s *core) restatus(ctx context.Context, c *Credential, from, to Status, generation int64) error {
	move := func(st *Status, gen int64) error {
		if *st != from || generation != 0 && gen != generation {
			return errUnchanged
		}
		*st = to
		return nil
	}
	if _, err := s.db.secrets.update(ctx, c.Digest, func(r *secretRecord) error { return move(&r.Status, r.Generation) }); err != nil {
		return err
	}
	_, err := s.db.creds.update(ctx, c.ID, func(c *Credential) error { return move(&c.Status, c.Generation) })
	return err
}
