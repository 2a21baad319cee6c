package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/maypok86/otter/v2"

	"github.com/keygate/keygate/authz/jwtauth"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/ratelimit"
	"github.com/keygate/keygate/store"
)

// Outcomes of Verify besides ErrNoCredential and ErrMalformed.
var (
	// ErrInvalid: the credential is unknown, wrong, expired, revoked or
	// voided, or its owner is disabled. Which one is never told to the
	// client (and is counted in keygate_auth_decisions_total).
	ErrInvalid = errors.New("authz: invalid credential")
	// ErrUnavailable: the credential could not be verified because the
	// store did not answer (503, never 401).
	ErrUnavailable = errors.New("authz: cannot verify now")
)

// ScopeError: the credential is valid but not for this API set or method
// (403 insufficient_scope).
type ScopeError struct {
	// Scope is what the request needed: the method's scope, or the API set
	// when that is what is missing.
	Scope string
}

func (e *ScopeError) Error() string { return "authz: insufficient scope " + e.Scope }

// secretRecord is what verification reads from the store: the record under
// a secret's digest. One read answers a cache miss.
type secretRecord struct {
	CredentialID string   `json:"id"`
	Kind         Kind     `json:"k"`
	Owner        string   `json:"o"`
	APISets      []string `json:"s"`
	Scopes       []string `json:"sc"`
	Status       Status   `json:"st"`
	ExpiresMs    int64    `json:"e,omitempty"`
	IssuedMs     int64    `json:"i,omitempty"`
	// OAuth tokens: the client that obtained them and their family (a
	// refresh token and everything issued from it).
	ClientID string `json:"c,omitempty"`
	Family   string `json:"f,omitempty"`
	// ApiKey only: the current token's digest and the key that made it,
	// and its generation.
	TokenDigest string `json:"td,omitempty"`
	TokenKeyID  string `json:"tk,omitempty"`
	Generation  int64  `json:"g,omitempty"`
	// RateLimit is the credential's own rate limit.
	RateLimit *RateLimit `json:"rl,omitempty"`
	// Quota is the credential's own request quota.
	Quota *Quota `json:"q,omitempty"`

	// digestHint is the store key the record was read from.
	digestHint string
}

// cacheKey is a digest and the index of the key that made it.
type cacheKey struct {
	key uint8
	d   [sha256.Size]byte
}

// entry is a cached verification: a secretRecord (nil for "no such
// credential") with what verification derives from it.
type entry struct {
	key      *digestKey // made the digest this entry is cached under
	ck       cacheKey
	fetched  time.Time
	rec      *secretRecord
	identity *Identity // effective: narrowed to the owner's sets and scopes
	expires  time.Time
	disabled bool // owner disabled or gone
	// lastUsed is when this replica last queued a last-used update for
	// the credential (unix ns).
	lastUsed atomic.Int64

	// ApiKey only.
	//
	// apiKey: the entry was made by an ApiKey look-up; a negative one
	// lives as long as a found one (see lookup).
	apiKey      bool
	tokenKey    *digestKey
	tokenDigest [sha256.Size]byte
	// partial: only the verification record was read (on the request
	// path, before the token is compared); the owner and the strikes are
	// read by settle, for a right token only. strikes, tripped and
	// recordedSeen are unset.
	partial bool
	strikes int64 // failures recorded when fetched
	tripped bool
	pending *pending
	// recordedSeen is pending.recorded when the entry was fetched.
	recordedSeen uint64
	// struck and voided are set in place, without dropping the entry, by
	// an invalidation: a strike was recorded (settle reads the strikes
	// again before a right token), or the token was voided.
	struck, voided atomic.Bool
}

// pending makes a right token wait for wrong tokens of the same key that
// this replica has answered but not yet recorded, so that "three wrong,
// then right" is refused here even though strikes are recorded after the
// response. There is one per credential generation, not per cache entry:
// the entry may be read again meanwhile, and a right token that meets an
// entry fetched while earlier strikes were still being recorded must wait
// for those too.
type pending struct {
	mu       sync.Mutex
	cond     sync.Cond
	n        int    // strikes answered, not yet recorded
	recorded uint64 // strikes recorded since this replica started
}

// pendingFor returns the pending strikes of a credential generation. The
// map holds one small value per ApiKey credential this replica has
// verified.
func (s *Verifier) pendingFor(credentialID string, generation int64) *pending {
	k := strikeKey(credentialID, generation)
	if p, ok := s.pending.Load(k); ok {
		return p.(*pending)
	}
	p := &pending{}
	p.cond.L = &p.mu
	got, _ := s.pending.LoadOrStore(k, p)
	return got.(*pending)
}

type userEntry struct {
	fetched time.Time
	user    *User // nil: no such user
}

// Verifier verifies credentials on the request path: an in-process cache
// of verification records in front of the store, the ApiKey token's
// strikes and void, and the invalidations that keep every replica's cache
// true (invalidate.go). It is safe for concurrent use.
type Verifier struct {
	*core
	threshold int64
	ttl       time.Duration
	negTTL    time.Duration
	stale     time.Duration

	creds *otter.Cache[cacheKey, *entry]
	users *otter.Cache[string, *userEntry]

	strikeSlots chan struct{} // bounds strikes running after their response
	pending     sync.Map      // strikeKey → *pending: wrong tokens being recorded
	staleBefore atomic.Int64  // unix ns: entries fetched before are not fresh
	subDown     atomic.Bool   // the subscription to invalidations is lost
	origin      string        // this replica's id in the events it publishes
	usedQueue   chan string   // credential ids whose last use is to be recorded
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	// keyFailures counts wrong tokens per ApiKey key
	// (auth.key_failure_limit); nil: off.
	keyFailures *ratelimit.FailureGuard[string]
	// jwt verifies identity providers' JWTs (auth.jwt); nil: off.
	jwt *jwtAuth
}

// newVerifier sizes the caches and starts listening for invalidations
// from other replicas.
func newVerifier(c *core, cfg config.Auth) (*Verifier, error) {
	s := &Verifier{
		core:        c,
		threshold:   int64(cfg.LockoutThreshold),
		ttl:         cfg.CacheTTL,
		negTTL:      cfg.NegativeCacheTTL,
		stale:       cfg.StaleIfError,
		strikeSlots: make(chan struct{}, 256),
		origin:      newID(),
	}
	var err error
	if fl := cfg.KeyFailureLimit; fl.On() {
		if s.keyFailures, err = ratelimit.NewKeyFailureGuard(ratelimit.Limit{Rate: fl.Rate, Per: fl.Per, Burst: fl.Burst}); err != nil {
			return nil, err
		}
	}
	if cfg.JWT.On() {
		if s.jwt, err = newJWTAuth(c, cfg.JWT); err != nil {
			return nil, err
		}
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
	events, err := c.st.Subscribe(subCtx, eventsChannel)
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

// close stops the invalidation listener and the last-used writer and
// waits for strikes still being recorded.
func (s *Verifier) close() {
	s.cancel()
	s.wg.Wait()
}

// Need is what a route asks of a credential.
type Need struct {
	APISet string
	Scope  string
}

// Verify checks the credential in a request's Authorization header values
// for an API set and scope. It returns the identity, or ErrNoCredential,
// ErrMalformed, ErrInvalid, a *ScopeError, a *KeyBlockedError or
// ErrUnavailable. client is
// written to audit logs only.
//
// On the steady path (a credential verified less than cache_ttl ago) it
// makes no store round trip and allocates nothing.
func (s *Verifier) Verify(ctx context.Context, authorization []string, need Need, client netip.Addr) (*Identity, error) {
	start := time.Now()
	id, result, err := s.verify(ctx, authorization, &need, client)
	s.metrics.observe(result, time.Since(start))
	return id, err
}

// Authenticate is Verify without a route: it identifies the caller of the
// self-service API by a credential of their own (key token, access token
// or ApiKey pair), whatever its API sets and scopes.
func (s *Verifier) Authenticate(ctx context.Context, authorization []string, client netip.Addr) (*Identity, error) {
	start := time.Now()
	id, result, err := s.verify(ctx, authorization, nil, client)
	s.metrics.observe(result, time.Since(start))
	return id, err
}

func (s *Verifier) verify(ctx context.Context, authorization []string, need *Need, client netip.Addr) (*Identity, result, error) {
	p, err := ParseAuthorization(authorization)
	switch {
	case errors.Is(err, ErrNoCredential):
		return nil, resultMissing, err
	case err != nil:
		return nil, resultMalformed, err
	}

	var e *entry
	var res result
	var now time.Time // read once, after the format checks, for the whole decision
	if p.Scheme == SchemeBearer {
		if !wellFormed(p.Token, prefixKey) && !wellFormed(p.Token, prefixAccess) {
			if s.jwt != nil && jwtauth.LooksLikeJWT(p.Token) {
				return s.verifyJWT(ctx, p.Token, need, s.now()) // jwt.go
			}
			return nil, resultUnknown, refused(resultUnknown)
		}
		now = s.now()
		e, res, err = s.lookup(ctx, p.Token, false, now)
	} else {
		if !wellFormed(p.Key, prefixAPIKey) || !wellFormed(p.Token, prefixAPITok) {
			return nil, resultUnknown, refused(resultUnknown)
		}
		if s.keyFailures != nil {
			if wait, blocked := s.keyFailures.Blocked(p.Key); blocked {
				return nil, resultKeyBlocked, &KeyBlockedError{Wait: wait}
			}
		}
		now = s.now()
		e, res, err = s.lookup(ctx, p.Key, true, now)
	}
	if err != nil {
		return nil, res, err
	}
	if res != resultOK {
		if p.Scheme == SchemeAPIKey {
			s.missedKey(p.Key, p.Token)
		}
		return nil, res, refused(res)
	}
	rec := e.rec
	if p.Scheme == SchemeBearer && rec.Kind != KindKeyToken && rec.Kind != KindAccessToken {
		return nil, resultUnknown, refused(resultUnknown) // a refresh token or ApiKey key presented as Bearer
	}
	if p.Scheme == SchemeAPIKey {
		if rec.Kind != KindAPIKey || e.tokenKey == nil {
			s.missedKey(p.Key, p.Token) // no token generated yet: no token is right
			return nil, resultUnknown, refused(resultUnknown)
		}
		got := e.tokenKey.digest(p.Token)
		if !hmac.Equal(got[:], e.tokenDigest[:]) {
			if rec.Status == StatusActive && !e.tripped && !e.voided.Load() {
				s.strikeLater(e, client) // once void, more strikes change nothing
			}
			if s.keyFailures != nil {
				s.keyFailures.Failed(p.Key)
			}
			return nil, resultBadToken, refused(resultBadToken)
		}
		if e, res, err = s.settle(ctx, e); err != nil || res != resultOK {
			if err == nil {
				err = refused(res)
			}
			return nil, res, err
		}
		rec = e.rec
		now = s.now() // settle may have waited for pending strikes
	}

	switch {
	case rec.Status == StatusRevoked:
		return nil, resultRevoked, refused(resultRevoked)
	case rec.Status == StatusVoided || e.tripped || e.voided.Load():
		return nil, resultVoided, refused(resultVoided)
	case e.disabled:
		return nil, resultRevoked, refused(resultRevoked)
	case rec.Status != StatusActive:
		return nil, resultRevoked, refused(resultRevoked)
	case !e.expires.IsZero() && !now.Before(e.expires):
		return nil, resultExpired, refused(resultExpired)
	}
	s.markUsed(e, now)
	if need == nil {
		return e.identity, resultOK, nil
	}
	if !slices.Contains(e.identity.APISets, need.APISet) {
		return nil, resultScopeDenied, &ScopeError{Scope: need.APISet}
	}
	if !slices.Contains(e.identity.Scopes, need.Scope) {
		return nil, resultScopeDenied, &ScopeError{Scope: need.Scope}
	}
	return e.identity, resultOK, nil
}

// lookup finds the verification entry of a secret: from the cache while it
// is fresh, else from the store; while the store is down, a stale entry
// within stale_if_error stands in. res is resultOK when a credential was
// found, resultUnknown when none exists.
//
// An ApiKey key costs the same store round trips whether it exists or
// not, so that the time of a refusal does not tell an attacker which keys
// exist (a wrong token and an unknown key are answered alike otherwise):
// on a cache miss it reads the verification record under each digest key
// (one read with one key; where the key is found before the last digest
// key, the remaining records are read all the same), and nothing else
// before the token is compared (fetch reads a partial entry); "unknown" is
// remembered as long as a found key is (auth.cache_ttl, not
// negative_cache_ttl: a key that is made or rotated later is published,
// which drops the negative entry on every replica); and a wrong token
// records its strike after the answer without dropping the entry (see
// strike). A right token pays for the rest in settle.
func (s *Verifier) lookup(ctx context.Context, secret string, apiKey bool, now time.Time) (*entry, result, error) {
	var stale *entry
	var storeErr error
	negTTL := s.negTTL
	if apiKey {
		negTTL = s.ttl
	}
	for i, k := range s.keys {
		ck := cacheKey{key: k.index, d: k.digest(secret)}
		if e, ok := s.creds.GetIfPresent(ck); ok {
			if e.rec != nil && s.fresh(e.fetched, now, s.ttl) || e.rec == nil && s.fresh(e.fetched, now, negTTL) {
				s.metrics.cacheHits.Inc()
				s.noteSource(ctx, sourceCache)
				if e.rec == nil {
					continue // unknown under this key; maybe under an older one
				}
				return e, resultOK, nil
			}
			if e.rec != nil {
				stale = e
			}
		}
		s.metrics.cacheMisses.Inc()
		e, err := s.fetch(ctx, k, ck, apiKey, false)
		if err != nil {
			storeErr = err
			break
		}
		s.metrics.storeOK()
		if e.rec != nil {
			if apiKey {
				for _, rest := range s.keys[i+1:] {
					// The reads an unknown key would cost; what they find
					// does not matter.
					_, _ = s.st.Get(ctx, rest.recordKey(rest.digest(secret)))
				}
			}
			return e, resultOK, nil
		}
	}
	if storeErr != nil {
		s.metrics.storeError()
		if stale != nil && now.Sub(stale.fetched) < s.stale {
			s.metrics.staleServed.Inc()
			s.noteSource(ctx, sourceStale)
			return stale, resultOK, nil
		}
		return nil, resultStoreError, fmt.Errorf("%w: %w", ErrUnavailable, storeErr)
	}
	return nil, resultUnknown, nil
}

// fetch reads a secret's verification record from the store and caches
// the result, found or not. For an ApiKey key (apiKey) it reads the
// record only and the entry is partial, unless full is set, when it reads
// the owner and the strikes too (settle, for a right token). A store error
// is returned and never cached.
func (s *Verifier) fetch(ctx context.Context, k *digestKey, ck cacheKey, apiKey, full bool) (*entry, error) {
	s.noteSource(ctx, sourceStore)
	fetched := s.now()
	digest := k.recordKey(ck.d)
	rec, _, err := s.db.secrets.get(ctx, digest)
	if errors.Is(err, store.ErrNotFound) {
		e := &entry{key: k, ck: ck, fetched: fetched, apiKey: apiKey}
		s.creds.Set(ck, e)
		return e, nil
	}
	if err != nil {
		return nil, err
	}
	rec.digestHint = digest
	e := &entry{key: k, ck: ck, fetched: fetched, rec: rec, apiKey: apiKey}
	if rec.ExpiresMs > 0 {
		e.expires = time.UnixMilli(rec.ExpiresMs)
	}
	if apiKey && !full {
		e.partial = true
		if rec.Kind == KindAPIKey {
			e.pending = s.pendingFor(rec.CredentialID, rec.Generation)
			if err := s.fillToken(e); err != nil {
				return nil, err
			}
		}
		s.keep(ck, e)
		return e, nil
	}
	u, err := s.user(ctx, rec.Owner)
	if err != nil {
		return nil, err
	}
	e.identity = &Identity{User: rec.Owner, CredentialID: rec.CredentialID, Kind: rec.Kind}
	if u == nil || u.Disabled {
		e.disabled = true
	} else {
		e.identity.APISets = Intersect(rec.APISets, u.APISets)
		e.identity.Scopes = Intersect(rec.Scopes, u.Scopes)
		e.identity.UserRate = u.RateLimit.rate()
		e.identity.CredentialRate = rec.RateLimit.rate()
		if e.identity.CredentialRate == nil {
			e.identity.CredentialRate = e.identity.UserRate
		}
		if rec.Quota != nil {
			e.identity.Quota = &rec.Quota.Requests
		}
	}
	if apiKey && rec.Kind == KindAPIKey {
		// Note the strikes recorded so far before reading the count, so
		// that one recorded after the read shows as new in settle.
		e.pending = s.pendingFor(rec.CredentialID, rec.Generation)
		e.pending.mu.Lock()
		e.recordedSeen = e.pending.recorded
		e.pending.mu.Unlock()
		if err := s.fillToken(e); err != nil {
			return nil, err
		}
		st, err := s.st.Strikes(ctx, strikeKey(rec.CredentialID, rec.Generation))
		if err != nil {
			return nil, err
		}
		e.strikes, e.tripped = st.Count, st.Tripped
	}
	s.keep(ck, e)
	return e, nil
}

// keep caches a fetched entry in place of the one before it.
func (s *Verifier) keep(ck cacheKey, e *entry) {
	if prev, ok := s.creds.GetIfPresent(ck); ok {
		e.lastUsed.Store(prev.lastUsed.Load()) // once a minute survives a refresh
	}
	s.creds.Set(ck, e)
}

// missedKey does for an ApiKey pair refused before its token was compared
// (an unknown key, or one without a token) what a wrong token costs: the
// token's digest, and a failure counted against the key
// (auth.key_failure_limit), so that the two get the same answers — 429
// included — in about the same time. It does no I/O, like the wrong
// token's path before its answer.
func (s *Verifier) missedKey(key, token string) {
	d := s.keys[0].digest(token)
	runtime.KeepAlive(&d)
	if s.keyFailures != nil {
		s.keyFailures.Failed(key)
	}
}

func (s *Verifier) fillToken(e *entry) error {
	rec := e.rec
	if rec.TokenDigest == "" {
		return nil // no token generated yet: nothing can match
	}
	for _, k := range s.keys {
		if k.id == rec.TokenKeyID {
			e.tokenKey = k
		}
	}
	if e.tokenKey == nil {
		return nil // made with a key no longer configured: no token matches
	}
	b, err := hex.DecodeString(rec.TokenDigest)
	if err != nil || len(b) != sha256.Size {
		return fmt.Errorf("credential %s: bad token digest", rec.CredentialID)
	}
	copy(e.tokenDigest[:], b)
	return nil
}

func (s *Verifier) user(ctx context.Context, name string) (*User, error) {
	if ue, ok := s.users.GetIfPresent(name); ok && s.fresh(ue.fetched, s.now(), s.ttl) {
		return ue.user, nil
	}
	fetched := s.now()
	u, _, err := s.db.users.get(ctx, name)
	if errors.Is(err, ErrUserNotFound) {
		s.users.Set(name, &userEntry{fetched: fetched})
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.users.Set(name, &userEntry{fetched: fetched, user: u})
	return u, nil
}

// settle runs before a right ApiKey token is accepted: it waits for this
// replica's wrong tokens of the same key to be recorded, and when any
// failure was recorded since the entry was read (here or, through an
// invalidation, elsewhere) it reads the strikes again and resets the count
// (ResetStrikes never clears a trip, so a success racing a failure cannot
// un-void).
func (s *Verifier) settle(ctx context.Context, e *entry) (*entry, result, error) {
	p := e.pending
	p.mu.Lock()
	for p.n > 0 {
		p.cond.Wait()
	}
	// Recorded since the entry was read, here or (told by an
	// invalidation) elsewhere.
	dirty := p.recorded != e.recordedSeen || e.struck.Load()
	p.mu.Unlock()
	if !dirty && !e.partial && (e.tripped || e.voided.Load() || e.rec.Status == StatusVoided) {
		return e, resultVoided, nil // sticky until a new token or an unvoid, which invalidate the entry
	}
	if !dirty && !e.partial && e.strikes == 0 {
		return e, resultOK, nil
	}
	// Read the record, the owner and the strikes (again), then reset the
	// count.
	fresh, err := s.fetch(ctx, e.key, e.ck, true, true)
	if err != nil {
		return nil, resultStoreError, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if fresh.rec == nil {
		return nil, resultUnknown, nil
	}
	if fresh.tripped || fresh.rec.Status == StatusVoided {
		return fresh, resultVoided, nil
	}
	if fresh.strikes > 0 {
		if err := s.st.ResetStrikes(ctx, strikeKey(fresh.rec.CredentialID, fresh.rec.Generation)); err != nil {
			return nil, resultStoreError, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		fresh.strikes = 0
	}
	return fresh, resultOK, nil
}

// strikeLater counts a wrong ApiKey token. The 401 goes out at once (a
// wrong token and an unknown key cost the client the same time); the strike
// is recorded right after, atomically in the store, and the token is voided
// when the count reaches the threshold.
func (s *Verifier) strikeLater(e *entry, client netip.Addr) {
	p := e.pending
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
	run := func() {
		s.strike(e, client)
		p.mu.Lock()
		p.n--
		p.recorded++
		p.cond.Broadcast()
		p.mu.Unlock()
	}
	select {
	case s.strikeSlots <- struct{}{}:
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.strikeSlots }()
			run()
		}()
	default:
		run() // too many in flight: record this one before answering
	}
}

func (s *Verifier) strike(e *entry, client netip.Addr) {
	rec := e.rec
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, tripped, err := s.st.Strike(ctx, strikeKey(rec.CredentialID, rec.Generation), s.threshold)
	if err != nil {
		// Lockout never fails open: the failure is not lost silently, and
		// the entry is marked struck below, so a right token reads the
		// store (503 while it cannot) before it is accepted.
		s.log.Error("recording a wrong ApiKey token failed", zap.String("credential_id", rec.CredentialID), zap.Error(err))
	}
	if tripped {
		if err := s.markVoided(ctx, rec.CredentialID, rec.Generation); err != nil {
			s.log.Error("marking credential voided", zap.String("credential_id", rec.CredentialID), zap.Error(err))
		}
		s.metrics.voided.Inc()
		// keygate voids it, on behalf of nobody; the address that sent
		// the last wrong token is the actor's.
		actor := audit.System
		if client.IsValid() {
			actor.Client = client.String()
		}
		s.audit(audit.WithActor(ctx, actor), audit.Void, audit.Credential(rec.CredentialID, rec.Owner),
			zap.Int64("strikes", st.Count), zap.Int64("generation", rec.Generation))
		s.publish(ctx, "v:"+rec.digestHint+"#"+strconv.FormatInt(rec.Generation, 10))
		return
	}
	// Every replica re-reads this key's strikes before its next success.
	// The entry is marked, not dropped: a wrong token must not cost a
	// store read that an unknown key does not (see lookup).
	s.publish(ctx, "s:"+rec.digestHint)
}

func strikeKey(credentialID string, generation int64) string {
	return "lock/" + credentialID + "/" + strconv.FormatInt(generation, 10)
}

// markVoided records a void on the current generation only (a token
// generated meanwhile stays valid).
func (s *Verifier) markVoided(ctx context.Context, id string, generation int64) error {
	c, _, err := s.db.creds.get(ctx, id)
	if err != nil {
		return err
	}
	return s.restatus(ctx, c, StatusActive, StatusVoided, generation)
}
