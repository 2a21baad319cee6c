package authz

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// ErrNoAPIKey: the user has no ApiKey key yet. Reading never makes one;
// generating a token (NewAPIKeyToken) does.
var ErrNoAPIKey = fmt.Errorf("%w: no ApiKey key yet", ErrNotFound)

// ShowAPIKey returns owner's ApiKey key and its management record, or
// ErrNoAPIKey when there is none yet. Unlike APIKey it never creates the
// key: a read changes nothing. The key is a secret (whoever has it can
// void the token with wrong ones), so callers show it only to someone who
// could generate its token.
func (s *Service) ShowAPIKey(ctx context.Context, owner string) (key string, cred *Credential, err error) {
	r, err := s.st.Get(ctx, apiKeyKey(owner))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		return "", nil, fmt.Errorf("%w: user %q", ErrNoAPIKey, owner)
	}
	if err != nil {
		return "", nil, err
	}
	c, err := s.Credential(ctx, string(r.Value))
	if err != nil {
		return "", nil, err
	}
	if key, err = s.keys.open(c.SealedKey, c.ID); err != nil {
		return "", nil, err
	}
	return key, c, nil
}

// RotateAPIKey replaces owner's ApiKey key, the one part of the pair that
// otherwise never changes, and its token: the old key:token pair stops
// working on every replica (the verification record under the old key's
// digest is deleted and the deletion published, as a revocation is), its
// strikes are left behind with its generation, and the new pair is
// returned once. The credential keeps its id. ErrNoAPIKey when owner has
// no key yet (generating a token makes one).
func (s *Service) RotateAPIKey(ctx context.Context, owner string) (key, token string, err error) {
	r, err := s.st.Get(ctx, apiKeyKey(owner))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		return "", "", fmt.Errorf("%w: user %q", ErrNoAPIKey, owner)
	}
	if err != nil {
		return "", "", err
	}
	id := string(r.Value)
	for {
		c, version, err := s.readCred(ctx, id)
		if err != nil {
			return "", "", err
		}
		old, err := s.st.Get(ctx, c.Digest)
		if errors.Is(err, store.ErrNotFound) {
			// Another rotation replaced it since the read above: start
			// again from that one's.
			if _, now, err := s.readCred(ctx, id); err == nil && now != version {
				continue
			}
		}
		if err != nil {
			return "", "", fmt.Errorf("reading the ApiKey record: %w", err)
		}
		var rec secretRecord
		if err := json.Unmarshal(old.Value, &rec); err != nil {
			return "", "", fmt.Errorf("decoding %s: %w", old.Key, err)
		}
		k := s.keys[0]
		key, token = newSecret(prefixAPIKey), newSecret(prefixAPITok)
		td := k.digest(token)
		rec.TokenDigest, rec.TokenKeyID = hex.EncodeToString(td[:]), k.id
		rec.Generation = max(rec.Generation, c.Generation) + 1
		rec.Status = StatusActive
		digest := k.recordKey(k.digest(key))
		b, _ := json.Marshal(rec)
		if _, err := s.st.Create(ctx, digest, b, store.WriteOptions{}); err != nil {
			return "", "", fmt.Errorf("storing the new ApiKey record: %w", err)
		}
		oldDigest := c.Digest
		c.Digest, c.SealedKey = digest, k.seal(key, c.ID)
		c.Generation, c.Status = rec.Generation, StatusActive
		cb, _ := json.Marshal(c)
		// Compare-and-set on the management record: of two rotations at
		// once, one wins; the loser's new record is removed before it is
		// ever handed out, and it starts again from the winner's.
		_, err = s.st.Update(ctx, credKey(id), cb, version, store.WriteOptions{Indexes: credIndexes(c)})
		if err != nil {
			_ = s.st.Delete(context.WithoutCancel(ctx), digest, 0)
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return "", "", err
		}
		if err := s.st.Delete(context.WithoutCancel(ctx), oldDigest, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			// The new pair is in place but the old one would still
			// verify: say so loudly (the record names no secret).
			s.log.Error("ApiKey key rotated but the old key's record could not be deleted: the old pair verifies until it is",
				zap.String("credential_id", id), zap.String("record", oldDigest), zap.Error(err))
			return "", "", fmt.Errorf("deleting the old ApiKey record: %w", err)
		}
		s.publish(ctx, "d:"+oldDigest)
		s.publish(ctx, "d:"+digest) // a cached "unknown" for the new key must go
		s.log.Info("ApiKey key rotated", zap.String("audit", "rotate_key"), zap.String("credential_id", id),
			zap.String("owner", owner), zap.Int64("generation", rec.Generation))
		return key, token, nil
	}
}
