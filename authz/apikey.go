package authz

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/store"
)

// The ApiKey pair (seed 004): a key that never changes unless rotated,
// and a token generated again whenever the user asks, voided after too
// many wrong tokens.

// ErrNoAPIKey: the user has no ApiKey key yet. Reading never makes one;
// generating a token (NewAPIKeyToken) does.
var ErrNoAPIKey = fmt.Errorf("%w: no ApiKey key yet", ErrNotFound)

// APIKey returns owner's ApiKey key, creating it the first time (seed
// 004: the key never changes). Until NewAPIKeyToken is called it has no
// token, so nothing authenticates with it yet.
func (s *Accounts) APIKey(ctx context.Context, owner string) (key string, cred *Credential, err error) {
	key, cred, created, err := s.apiKey(ctx, owner)
	if err == nil && created {
		s.audit(ctx, audit.CreateAPIKey, audit.Credential(cred.ID, owner))
	}
	return key, cred, err
}

// apiKey is APIKey without its audit line; created says it made the key.
func (s *Accounts) apiKey(ctx context.Context, owner string) (key string, cred *Credential, created bool, err error) {
	for {
		id, _, err := s.db.refs.get(ctx, apiKeyKey(owner))
		if err == nil {
			key, cred, err := s.openAPIKey(ctx, *id)
			return key, cred, false, err
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", nil, false, err
		}
		u, err := s.GetUser(ctx, owner)
		if err != nil {
			return "", nil, false, err
		}
		cred := &Credential{ID: newID(), Kind: KindAPIKey, Owner: owner, APISets: slices.Clone(u.APISets),
			Scopes: slices.Clone(u.Scopes), Status: StatusActive, Created: s.now().UTC().Truncate(time.Millisecond)}
		// One key per user: of concurrent first calls, one creates it and
		// the others read it on the next turn of the loop.
		if err := s.db.refs.create(ctx, apiKeyKey(owner), &cred.ID); err != nil {
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return "", nil, false, err
		}
		key = newSecret(prefixAPIKey)
		cred.SealedKey = s.keys[0].seal(key, cred.ID)
		if err := s.writeNew(ctx, cred, key, nil); err != nil {
			_ = s.db.refs.delete(context.WithoutCancel(ctx), apiKeyKey(owner), 0)
			return "", nil, false, err
		}
		return key, cred, true, nil
	}
}

// ShowAPIKey returns owner's ApiKey key and its management record, or
// ErrNoAPIKey when there is none yet. Unlike APIKey it never creates the
// key: a read changes nothing. The key is a secret (whoever has it can
// void the token with wrong ones), so callers show it only to someone who
// could generate its token.
func (s *Accounts) ShowAPIKey(ctx context.Context, owner string) (key string, cred *Credential, err error) {
	id, err := s.apiKeyID(ctx, owner)
	if err != nil {
		return "", nil, err
	}
	return s.openAPIKey(ctx, id)
}

// apiKeyID is the id of owner's ApiKey credential, or ErrNoAPIKey.
func (s *Accounts) apiKeyID(ctx context.Context, owner string) (string, error) {
	id, _, err := s.db.refs.get(ctx, apiKeyKey(owner))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		return "", fmt.Errorf("%w: user %q", ErrNoAPIKey, owner)
	}
	if err != nil {
		return "", err
	}
	return *id, nil
}

// openAPIKey reads the ApiKey credential id and opens its sealed key.
func (s *Accounts) openAPIKey(ctx context.Context, id string) (string, *Credential, error) {
	c, err := s.Credential(ctx, id)
	if err != nil {
		return "", nil, err
	}
	key, err := s.keys.open(c.SealedKey, c.ID)
	if err != nil {
		return "", nil, err
	}
	return key, c, nil
}

// NewAPIKeyToken generates owner's ApiKey token (seed 004): every earlier
// token stops working on every replica, a voided key works again with the
// new token, and the token is returned once.
func (s *Accounts) NewAPIKeyToken(ctx context.Context, owner string) (key, token string, err error) {
	key, cred, created, err := s.apiKey(ctx, owner)
	if err != nil {
		return "", "", err
	}
	token = newSecret(prefixAPITok)
	k := s.keys[0]
	td := k.digest(token)
	rec, err := s.db.secrets.update(ctx, cred.Digest, func(r *secretRecord) error {
		r.TokenDigest, r.TokenKeyID = hex.EncodeToString(td[:]), k.id
		r.Generation++
		r.Status = StatusActive
		return nil
	})
	if err != nil {
		return "", "", err
	}
	gen := rec.Generation
	if _, err := s.db.creds.update(ctx, cred.ID, func(c *Credential) error {
		c.Generation, c.Status = gen, StatusActive
		return nil
	}); err != nil {
		return "", "", err
	}
	s.publish(ctx, "d:"+cred.Digest)
	fields := []zap.Field{zap.Int64("generation", gen)}
	if created {
		fields = append(fields, zap.Bool("key_created", true))
	}
	s.audit(ctx, audit.NewAPIKeyToken, audit.Credential(cred.ID, owner), fields...)
	return key, token, nil
}

// Unvoid makes owner's voided ApiKey token work again (an administrator's
// decision) and clears its wrong-token count.
func (s *Accounts) Unvoid(ctx context.Context, owner string) error {
	c, err := s.apiKeyCred(ctx, owner)
	if err != nil {
		return err
	}
	if err := s.st.ClearStrikes(ctx, strikeKey(c.ID, c.Generation)); err != nil {
		return err
	}
	if err := s.restatus(ctx, c, StatusVoided, StatusActive, 0); err != nil {
		return err
	}
	s.publish(ctx, "d:"+c.Digest)
	s.audit(ctx, audit.Unvoid, audit.Credential(c.ID, owner))
	return nil
}

// APIKeyStatus reports owner's ApiKey token state (seed 004): its status
// and the wrong tokens counted since the last success.
func (s *Accounts) APIKeyStatus(ctx context.Context, owner string) (Status, int64, error) {
	c, err := s.apiKeyCred(ctx, owner)
	if err != nil {
		return "", 0, err
	}
	st, err := s.st.Strikes(ctx, strikeKey(c.ID, c.Generation))
	if err != nil {
		return "", 0, err
	}
	status := c.Status
	if st.Tripped {
		status = StatusVoided
	}
	return status, st.Count, nil
}

// apiKeyCred is the management record of owner's ApiKey key.
func (s *Accounts) apiKeyCred(ctx context.Context, owner string) (*Credential, error) {
	id, _, err := s.db.refs.get(ctx, apiKeyKey(owner))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q has no ApiKey", ErrNotFound, owner)
	}
	if err != nil {
		return nil, err
	}
	return s.Credential(ctx, *id)
}

// RotateAPIKey replaces owner's ApiKey key, the one part of the pair that
// otherwise never changes, and its token: the old key:token pair stops
// working on every replica (the verification record under the old key's
// digest is deleted and the deletion published, as a revocation is), its
// strikes are left behind with its generation, and the new pair is
// returned once. The credential keeps its id. ErrNoAPIKey when owner has
// no key yet (generating a token makes one).
func (s *Accounts) RotateAPIKey(ctx context.Context, owner string) (key, token string, err error) {
	id, err := s.apiKeyID(ctx, owner)
	if err != nil {
		return "", "", err
	}
	for {
		c, prev, err := s.db.creds.read(ctx, id)
		if err != nil {
			return "", "", err
		}
		rec, _, err := s.db.secrets.get(ctx, c.Digest)
		if errors.Is(err, store.ErrNotFound) {
			// Another rotation replaced it since the read above: start
			// again from that one's.
			if _, now, err := s.db.creds.get(ctx, id); err == nil && now != prev.Version {
				continue
			}
		}
		if err != nil {
			return "", "", fmt.Errorf("reading the ApiKey record: %w", err)
		}
		k := s.keys[0]
		key, token = newSecret(prefixAPIKey), newSecret(prefixAPITok)
		td := k.digest(token)
		rec.TokenDigest, rec.TokenKeyID = hex.EncodeToString(td[:]), k.id
		rec.Generation = max(rec.Generation, c.Generation) + 1
		rec.Status = StatusActive
		digest := k.recordKey(k.digest(key))
		if err := s.db.secrets.create(ctx, digest, rec); err != nil {
			return "", "", fmt.Errorf("storing the new ApiKey record: %w", err)
		}
		oldDigest := c.Digest
		c.Digest, c.SealedKey = digest, k.seal(key, c.ID)
		c.Generation, c.Status = rec.Generation, StatusActive
		// Compare-and-set on the management record: of two rotations at
		// once, one wins; the loser's new record is removed before it is
		// ever handed out, and it starts again from the winner's.
		if _, err := s.db.creds.replace(ctx, id, c, prev); err != nil {
			_ = s.db.secrets.delete(context.WithoutCancel(ctx), digest, 0)
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return "", "", err
		}
		if err := s.db.secrets.delete(context.WithoutCancel(ctx), oldDigest, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			// The new pair is in place but the old one would still
			// verify: say so loudly (the record names no secret).
			s.log.Error("ApiKey key rotated but the old key's record could not be deleted: the old pair verifies until it is",
				zap.String("credential_id", id), zap.String("record", oldDigest), zap.Error(err))
			return "", "", fmt.Errorf("deleting the old ApiKey record: %w", err)
		}
		s.publish(ctx, "d:"+oldDigest)
		s.publish(ctx, "d:"+digest) // a cached "unknown" for the new key must go
		s.audit(ctx, audit.RotateAPIKey, audit.Credential(id, owner), zap.Int64("generation", rec.Generation))
		return key, token, nil
	}
}
