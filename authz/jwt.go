package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/keygate/keygate/authz/jwtauth"
	"github.com/keygate/keygate/config"
)

// KindJWT is a Bearer JWT from an identity provider of auth.jwt: not
// stored by keygate, verified with the provider's keys (jwtauth).
const KindJWT Kind = "jwt"

// jwtAuth is the Verifier's part for JWTs: jwtauth's verification, and the
// identities of verified tokens cached by the token's keyed digest until
// they expire, so that a token seen again costs no signature check.
type jwtAuth struct {
	v     *jwtauth.Verifier
	cache *otter.Cache[[sha256.Size]byte, *jwtEntry]
}

type jwtEntry struct {
	identity *Identity
	expires  time.Time // exp plus the skew
}

// maxJWTIDLen bounds a jti keygate passes on as the credential id; a
// longer or odd one is replaced by the token's digest.
const maxJWTIDLen = 128

func newJWTAuth(c *core, cfg config.JWT) (*jwtAuth, error) {
	v, err := jwtauth.New(cfg, jwtauth.Options{Now: c.now, Logger: c.log})
	if err != nil {
		return nil, err
	}
	cache, err := otter.New(&otter.Options[[sha256.Size]byte, *jwtEntry]{
		MaximumSize: cfg.CacheSize,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[[sha256.Size]byte, *jwtEntry]) time.Duration {
			return max(e.Value.expires.Sub(c.now()), time.Millisecond)
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("auth.jwt cache: %w", err)
	}
	return &jwtAuth{v: v, cache: cache}, nil
}

// verifyJWT verifies a Bearer token that is not in keygate's format but
// has a JWT's shape, for a route's need. Only routes take JWTs: the
// self-service API (need nil) identifies keygate's own users by their own
// credentials, never by a provider's token.
func (s *Verifier) verifyJWT(ctx context.Context, token string, need *Need, now time.Time) (*Identity, result, error) {
	if need == nil {
		return nil, resultUnknown, refused(resultUnknown)
	}
	d := s.keys[0].digest(token)
	if e, ok := s.jwt.cache.GetIfPresent(d); ok {
		s.metrics.cacheHits.Inc()
		s.noteSource(ctx, sourceCache)
		if !now.Before(e.expires) {
			return nil, resultExpired, refused(resultExpired)
		}
		return allow(e.identity, need)
	}
	s.metrics.cacheMisses.Inc()
	s.noteSource(ctx, sourceJWT)
	t, err := s.jwt.v.Verify(ctx, token)
	switch {
	case errors.Is(err, jwtauth.ErrUnavailable):
		return nil, resultStoreError, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, jwtauth.ErrExpired):
		return nil, resultExpired, refused(resultExpired)
	case err != nil:
		return nil, resultBadToken, refused(resultBadToken)
	}
	if !jwtHeaderSafe(t.User) {
		return nil, resultBadToken, refused(resultBadToken)
	}
	id := &Identity{
		User:    t.User,
		Kind:    KindJWT,
		APISets: validNames(t.APISets, setRe),
		Scopes:  validNames(t.Scopes, scopeRe),
	}
	if t.ID != "" && len(t.ID) <= maxJWTIDLen && jwtHeaderSafe(t.ID) {
		id.CredentialID = t.ID
	} else {
		// Never the token: its keyed digest names it.
		id.CredentialID = "jwt_" + hex.EncodeToString(d[:16])
	}
	s.jwt.cache.Set(d, &jwtEntry{identity: id, expires: t.Expires})
	return allow(id, need)
}

// allow applies a route's policy to a verified identity: the route's API
// set among the identity's, and the method's scope among its scopes.
func allow(id *Identity, need *Need) (*Identity, result, error) {
	if !slices.Contains(id.APISets, need.APISet) {
		return nil, resultScopeDenied, &ScopeError{Scope: need.APISet}
	}
	if !slices.Contains(id.Scopes, need.Scope) {
		return nil, resultScopeDenied, &ScopeError{Scope: need.Scope}
	}
	return id, resultOK, nil
}

// validNames keeps the names that are valid for keygate (re), once each.
func validNames(in []string, re interface{ MatchString(string) bool }) []string {
	out := make([]string, 0, len(in))
	for _, n := range in {
		if re.MatchString(n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// jwtHeaderSafe: a claim value that may go into an identity header as it
// is: printable ASCII, at most 256 bytes.
func jwtHeaderSafe(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
