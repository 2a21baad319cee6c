package authz

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/ratelimit"
	"github.com/keygate/keygate/store"
)

// generatedKeyRecord is where keygate keeps the digest key it generated
// when the config names none.
const generatedKeyRecord = "authz/generated-digest-key"

// eventsChannel carries invalidations between replicas.
const eventsChannel = "authz"

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
}

// Service verifies and issues credentials. It is safe for concurrent use.
type Service struct {
	st        store.Store
	log       *zap.Logger
	keys      keyring
	threshold int64
	ttl       time.Duration
	negTTL    time.Duration
	stale     time.Duration
	now       func() time.Time
	metrics   *metrics
	oauth     config.OAuth
	selfSvc   config.SelfService

	creds *otter.Cache[cacheKey, *entry]
	users *otter.Cache[string, *userEntry]

	strikeSlots chan struct{} // bounds strikes running after their response
	pending     sync.Map      // strikeKey → *pending: wrong tokens being recorded
	staleBefore atomic.Int64  // unix ns: entries fetched before are not fresh
	origin      string        // this Service's id in the events it publishes
	usedQueue   chan string   // credential ids whose last use is to be recorded
	retrievable sealers       // auth.encryption_keys; empty: secrets are shown once
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	// keyFailures counts wrong tokens per ApiKey key
	// (auth.key_failure_limit); nil: off.
	keyFailures *ratelimit.FailureGuard[string]
	// hashing bounds password checks running at once (self_service).
	hashing *hashSlots
}

// New builds the Service on an open store: it loads the digest keys (or
// the generated one, creating it at first start), sizes the caches and
// starts listening for invalidations from other replicas.
func New(ctx context.Context, cfg config.Auth, st store.Store, opts Options) (*Service, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	s := &Service{
		st:          st,
		log:         log.Named("authz"),
		threshold:   int64(cfg.LockoutThreshold),
		ttl:         cfg.CacheTTL,
		negTTL:      cfg.NegativeCacheTTL,
		stale:       cfg.StaleIfError,
		now:         opts.Now,
		strikeSlots: make(chan struct{}, 256),
		origin:      newID(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.oauth, s.selfSvc = withDefaults(opts.OAuth, opts.SelfService)
	s.hashing = newHashSlots(s.selfSvc)
	var err error
	if s.metrics, err = newMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	if s.keys, err = s.loadKeys(ctx, cfg.DigestKeys); err != nil {
		return nil, err
	}
	if fl := cfg.KeyFailureLimit; fl.On() {
		if s.keyFailures, err = ratelimit.NewKeyFailureGuard(ratelimit.Limit{Rate: fl.Rate, Per: fl.Per, Burst: fl.Burst}); err != nil {
			return nil, err
		}
	}
	for i, k := range cfg.EncryptionKeys {
		sl, err := newSealer(k.ID, []byte(k.Secret), "keygate retrievable secrets v1")
		if err != nil {
			return nil, fmt.Errorf("auth.encryption_keys[%d]: %w", i, err)
		}
		s.retrievable = append(s.retrievable, sl)
	}
	// Positive entries outlive their freshness by stale_if_error, so that
	// they can stand in while the store is down; negative ones do not.
	s.creds, err = otter.New(&otter.Options[cacheKey, *entry]{
		MaximumSize: cfg.CacheSize,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[cacheKey, *entry]) time.Duration {
			if e.Value.rec == nil && !e.Value.apiKey {
				return s.negTTL
			}
			if e.Value.rec == nil {
				return s.ttl // an unknown ApiKey key is remembered as long as a known one (see lookup)
			}
			return s.ttl + s.stale
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("auth cache: %w", err)
	}
	s.users, err = otter.New(&otter.Options[string, *userEntry]{
		MaximumSize:      max(cfg.CacheSize/10, 100),
		ExpiryCalculator: otter.ExpiryWriting[string, *userEntry](s.ttl + s.stale),
	})
	if err != nil {
		return nil, fmt.Errorf("auth user cache: %w", err)
	}

	subCtx, cancel := context.WithCancel(context.Background())
	events, err := st.Subscribe(subCtx, eventsChannel)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribing to invalidations: %w", err)
	}
	s.cancel = cancel
	s.usedQueue = make(chan string, 1024)
	s.wg.Add(2)
	go s.listen(events)
	go s.recordUse(subCtx)
	return s, nil
}

// Close stops the invalidation listener and waits for strikes still being
// recorded.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

func (s *Service) loadKeys(ctx context.Context, cfgKeys []config.DigestKey) (keyring, error) {
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
	if _, err := s.st.Create(ctx, generatedKeyRecord, []byte(secret), store.WriteOptions{}); err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("auth.digest_keys: storing a generated key: %w", err)
	}
	rec, err := s.st.Get(ctx, generatedKeyRecord)
	if err != nil {
		return nil, fmt.Errorf("auth.digest_keys: reading the generated key: %w", err)
	}
	s.log.Warn("auth.digest_keys is not set: using a digest key generated and kept in the store; " +
		"set auth.digest_keys from a secret (e.g. ${KEYGATE_DIGEST_KEY}) in production so that a copy of the store holds no key")
	dk, err := newDigestKey("gen", rec.Value, 0)
	if err != nil {
		return nil, err
	}
	return keyring{dk}, nil
}

// listen applies invalidations published by any replica (this one too).
func (s *Service) listen(events <-chan store.Message) {
	defer s.wg.Done()
	for m := range events {
		if m.Resync {
			s.log.Warn("invalidation messages may have been lost: re-checking every cached credential")
			s.invalidateAll()
			continue
		}
		origin, ev, ok := strings.Cut(string(m.Payload), " ")
		if !ok || origin == s.origin {
			continue // malformed, or our own (applied when published)
		}
		s.applyEvent(ev)
	}
}

// invalidateAll makes every cached entry stale: the next request asks
// the store again. Entries are kept (not dropped) so that while the store
// is down they can still stand in under stale_if_error.
func (s *Service) invalidateAll() {
	s.staleBefore.Store(s.now().UnixNano())
}

// fresh reports whether an entry fetched at fetched may be used without
// asking the store: younger than ttl and not older than the last
// invalidateAll.
func (s *Service) fresh(fetched time.Time, now time.Time, ttl time.Duration) bool {
	return now.Sub(fetched) < ttl && fetched.UnixNano() > s.staleBefore.Load()
}

// withDefaults fills zero OAuth and self-service settings from config's
// defaults (a Service built from a loaded config already has them).
func withDefaults(o config.OAuth, ss config.SelfService) (config.OAuth, config.SelfService) {
	c := config.Config{OAuth: o, SelfService: ss}
	c.ApplyDefaults()
	return c.OAuth, c.SelfService
}

// lastUsedEvery is how often, at most, a replica records a credential's
// last use.
const lastUsedEvery = time.Minute

// markUsed queues a last-used update for a verified credential at most
// once a minute per replica, off the request path: the update is written
// by recordUse, and dropped (not waited for) when the queue is full.
func (s *Service) markUsed(e *entry, at time.Time) {
	now := at.UnixNano()
	last := e.lastUsed.Load()
	if now-last < int64(lastUsedEvery) || !e.lastUsed.CompareAndSwap(last, now) {
		return
	}
	select {
	case s.usedQueue <- e.rec.CredentialID:
	default:
	}
}

// recordUse writes queued last-used times into the credentials' records.
func (s *Service) recordUse(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.usedQueue:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			now := s.now().UTC().Truncate(time.Second)
			_, err := s.updateCred(wctx, id, func(c *Credential) {
				if now.After(c.LastUsed) {
					c.LastUsed = now
				}
			})
			cancel()
			if err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
				s.log.Debug("recording last use failed", zap.String("credential_id", id), zap.Error(err))
			}
		}
	}
}
