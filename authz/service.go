package authz

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/store"
)

// generatedKeyRecord is where keygate keeps the digest key it generated
// when the config names none.
const generatedKeyRecord = "authz/generated-digest-key"

// Options are a Service's collaborators.
type Options struct {
	// Logger; nil discards.
	Logger *zap.Logger
	// Registerer for the auth metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OAuth and SelfService configure clients, tokens and password
	// sign-in; zero values take the config defaults.
	OAuth       config.OAuth
	SelfService config.SelfService
	// Traced makes Verify note on the span of its context, when it
	// records, where the credential was found: the attribute
	// keygate.auth.source (cache, store, stale or jwt). False: Verify
	// never looks for a span.
	Traced bool
}

// Service is the credential model's four parts, built on one store with
// one keyring (the digest keys) and one set of repositories. Each part
// is safe for concurrent use. A consumer takes the part it needs, or
// declares an interface of the few methods it calls (proxy's
// Authenticator is Verifier's).
type Service struct {
	// Verifier answers "who is this, and may they?" on the request path:
	// the cache, strikes and invalidations between replicas.
	Verifier *Verifier
	// Accounts keeps users, named keys, the ApiKey pair and credentials
	// derived from credentials.
	Accounts *Accounts
	// Passwords sets users' passwords and signs users in with them.
	Passwords *Passwords
	// OAuth keeps OAuth clients and issues, refreshes, revokes and
	// introspects their tokens.
	OAuth *OAuth
}

// core is what the four parts share: the store and its typed
// repositories, the keyring, the clock, the metrics, and the way to tell
// every replica's Verifier to forget a credential (publish).
type core struct {
	st          store.Store
	db          records
	log         *zap.Logger
	auditLog    *zap.Logger // the audit lines: the root logger named "audit"
	keys        keyring
	retrievable sealers // auth.encryption_keys; empty: secrets are shown once
	now         func() time.Time
	metrics     *metrics
	verifier    *Verifier // publish goes through its cache
	traced      bool      // Options.Traced
}

// New builds the Service on an open store: it loads the digest keys (or
// the generated one, creating it at first start), sizes the caches and
// starts listening for invalidations from other replicas. One
// constructor builds all four parts because they must share the keyring
// and the Verifier's cache (which the others invalidate): parts
// built apart could disagree on both.
func New(ctx context.Context, cfg config.Auth, st store.Store, opts Options) (*Service, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	c := &core{st: st, db: newRecords(st), log: log.Named("authz"), auditLog: log.Named("audit"), now: opts.Now, traced: opts.Traced}
	if c.now == nil {
		c.now = time.Now
	}
	oauth, selfSvc := withDefaults(opts.OAuth, opts.SelfService)
	var err error
	if c.metrics, err = newMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	if c.keys, err = c.loadKeys(ctx, cfg.DigestKeys); err != nil {
		return nil, err
	}
	for i, k := range cfg.EncryptionKeys {
		sl, err := newSealer(k.ID, []byte(k.Secret), "keygate retrievable secrets v1")
		if err != nil {
			return nil, fmt.Errorf("auth.encryption_keys[%d]: %w", i, err)
		}
		c.retrievable = append(c.retrievable, sl)
	}
	if c.verifier, err = newVerifier(c, cfg); err != nil {
		return nil, err
	}
	accounts := &Accounts{core: c}
	return &Service{
		Verifier:  c.verifier,
		Accounts:  accounts,
		Passwords: &Passwords{core: c, accounts: accounts, selfSvc: selfSvc, hashing: newHashSlots(selfSvc)},
		OAuth:     &OAuth{core: c, oauth: oauth},
	}, nil
}

// audit writes the audit line of a change that succeeded: action on
// target, by the actor ctx carries (see internal/audit). Every public
// method that changes something writes exactly one; the internal ones
// it calls write none.
func (s *core) audit(ctx context.Context, action string, target audit.Target, fields ...zap.Field) {
	audit.Log(ctx, s.auditLog, action, target, fields...)
}

// Close stops the invalidation listener and waits for strikes still being
// recorded.
func (s *Service) Close() {
	s.Verifier.close()
}

func (s *core) loadKeys(ctx context.Context, cfgKeys []config.DigestKey) (keyring, error) {
	if len(cfgKeys) > 0 {
		r := make(keyring, 0, len(cfgKeys))
		for i, k := range cfgKeys {
			dk, err := newDigestKey(k.ID, []byte(k.Secret), i)
			if err != nil {
				return nil, fmt.Errorf("auth.digest_keys[%d]: %w", i, err)
			}
			r = append(r, dk)
		}
		return r, nil
	}
	// No key configured: use (or make, once for all replicas) one kept in
	// the store. A copy of the store then holds the key beside the digests,
	// which is why production should configure its own.
	var raw [48]byte
	_, _ = rand.Read(raw[:])
	secret := base64.RawStdEncoding.EncodeToString(raw[:])
	if err := s.db.refs.create(ctx, generatedKeyRecord, &secret); err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("auth.digest_keys: storing a generated key: %w", err)
	}
	stored, _, err := s.db.refs.get(ctx, generatedKeyRecord)
	if err != nil {
		return nil, fmt.Errorf("auth.digest_keys: reading the generated key: %w", err)
	}
	s.log.Warn("auth.digest_keys is not set: using a digest key generated and kept in the store; " +
		"set auth.digest_keys from a secret (e.g. ${KEYGATE_DIGEST_KEY}) in production so that a copy of the store holds no key")
	dk, err := newDigestKey("gen", []byte(*stored), 0)
	if err != nil {
		return nil, err
	}
	return keyring{dk}, nil
}

// withDefaults fills zero OAuth and self-service settings from config's
// defaults (a Service built from a loaded config already has them).
func withDefaults(o config.OAuth, ss config.SelfService) (config.OAuth, config.SelfService) {
	c := config.Config{OAuth: o, SelfService: ss}
	c.ApplyDefaults()
	return c.OAuth, c.SelfService
}
