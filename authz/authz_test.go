package authz

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/embedded"
	redisstore "github.com/keygate/keygate/store/redis"
)

var client = netip.MustParseAddr("192.0.2.1")

func authConfig() config.Auth {
	return config.Auth{
		DigestKeys:       []config.DigestKey{{ID: "k1", Secret: "0123456789abcdef0123456789abcdef-test"}},
		LockoutThreshold: 3,
		CacheTTL:         time.Minute,
		NegativeCacheTTL: time.Minute,
		CacheSize:        1000,
		StaleIfError:     time.Minute,
	}
}

// backends open a fresh store of each kind for a test. Redis runs as a
// private redis-server (or KEYGATE_TEST_REDIS_ADDR) with a prefix of the
// test's own.
var backends = map[string]func(t *testing.T) store.Store{
	"embedded": func(t *testing.T) store.Store {
		s, err := embedded.Open(t.Context(), config.Embedded{Path: filepath.Join(t.TempDir(), "k.db")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
	"redis": func(t *testing.T) store.Store {
		return openRedis(t, redisConfig(t, redistest.Addr(t)))
	},
}

func redisConfig(t testing.TB, addr string) config.Redis {
	return config.Redis{Addrs: []string{addr}, KeyPrefix: redistest.Prefix(t), DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second}
}

func openRedis(t testing.TB, c config.Redis) store.Store {
	t.Helper()
	s, err := redisstore.New(t.Context(), c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// spy wraps a real store to count and steer calls at the seam; every call
// it lets through reaches the real store.
type spy struct {
	store.Store
	gets       atomic.Int64
	failGets   atomic.Bool
	strikeGate chan struct{} // if set, Strike waits for it
	mute       bool          // Subscribe delivers nothing (lost messages)
}

func (s *spy) Get(ctx context.Context, key string) (store.Record, error) {
	// Reads verification makes (the secret's record, its owner); the
	// last-used update's read happens off the request path.
	if strings.HasPrefix(key, "dig/") || strings.HasPrefix(key, "user/") {
		s.gets.Add(1)
	}
	if s.failGets.Load() {
		return store.Record{}, store.ErrUnavailable
	}
	return s.Store.Get(ctx, key)
}

func (s *spy) Strike(ctx context.Context, key string, limit int64) (store.Strikes, bool, error) {
	if s.strikeGate != nil {
		<-s.strikeGate
	}
	return s.Store.Strike(ctx, key, limit)
}

func (s *spy) Subscribe(ctx context.Context, channel string) (<-chan store.Message, error) {
	if s.mute {
		ch := make(chan store.Message)
		go func() { <-ctx.Done(); close(ch) }()
		return ch, nil
	}
	return s.Store.Subscribe(ctx, channel)
}

func newService(t testing.TB, st store.Store, cfg config.Auth, reg prometheus.Registerer) *Service {
	t.Helper()
	s, err := New(t.Context(), cfg, st, Options{Registerer: reg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustUser(t *testing.T, s *Service, name string, sets, scopes []string) {
	t.Helper()
	if _, err := s.Accounts.CreateUser(t.Context(), User{Name: name, APISets: sets, Scopes: scopes, Authorities: []string{AuthorityManageUserAPIKey}}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
}

// mustKey creates a named key for owner, failing the test if it cannot,
// and returns its token and credential.
func mustKey(ctx context.Context, t *testing.T, s *Service, owner string, spec KeySpec) (string, *Credential) {
	t.Helper()
	tok, cred, err := s.Accounts.CreateKey(ctx, owner, spec)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return tok, cred
}

func bearer(tok string) []string      { return []string{"Bearer " + tok} }
func apiKey(key, tok string) []string { return []string{"ApiKey " + key + ":" + tok} }

// stepClock is a clock a test moves by hand.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var readOrders = Need{APISet: "orders", Scope: "read"}

func forEachBackend(t *testing.T, f func(t *testing.T, st store.Store)) {
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, open(t))
		})
	}
}

// forEachService runs f on a Service of authConfig over each backend.
func forEachService(t *testing.T, f func(t *testing.T, s *Service)) {
	forEachBackend(t, func(t *testing.T, st store.Store) { f(t, newService(t, st, authConfig(), nil)) })
}

func TestKeyTokenLifecycle(t *testing.T) {
	forEachService(t, func(t *testing.T, s *Service) {
		ctx := t.Context()
		mustUser(t, s, "alice", []string{"orders", "billing"}, []string{"read", "write"})

		tok, cred := mustKey(ctx, t, s, "alice", KeySpec{Handle: "ci", APISets: []string{"orders"}, Scopes: []string{"read"}})
		id, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if id.User != "alice" || id.CredentialID != cred.ID || id.Kind != KindKeyToken {
			t.Errorf("identity = %+v", id)
		}
		var se *ScopeError
		if _, err := s.Verifier.Verify(ctx, bearer(tok), Need{APISet: "billing", Scope: "read"}, client); !errors.As(err, &se) || se.Scope != "billing" {
			t.Errorf("other API set: %v, want ScopeError billing", err)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(tok), Need{APISet: "orders", Scope: "write"}, client); !errors.As(err, &se) || se.Scope != "write" {
			t.Errorf("write scope: %v, want ScopeError write", err)
		}
		if _, _, err := s.Accounts.CreateKey(ctx, "alice", KeySpec{Handle: "ci"}); !errors.Is(err, ErrHandleTaken) {
			t.Errorf("same handle again: %v, want ErrHandleTaken", err)
		}
		if got, err := s.Accounts.KeyByHandle(ctx, "alice", "ci"); err != nil || got.ID != cred.ID {
			t.Errorf("KeyByHandle: %v, %v", got, err)
		}
		if err := s.Accounts.DeleteKey(ctx, "alice", "ci"); err != nil {
			t.Fatalf("DeleteKey: %v", err)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client); !errors.Is(err, ErrInvalid) {
			t.Errorf("after delete: %v, want ErrInvalid", err)
		}
		if c, err := s.Accounts.Credential(ctx, cred.ID); err != nil || c.Status != StatusRevoked {
			t.Errorf("credential after delete: %+v, %v; want revoked", c, err)
		}
	})
}

func TestNeverMoreThanOwner(t *testing.T) {
	forEachService(t, func(t *testing.T, s *Service) {
		ctx := t.Context()
		mustUser(t, s, "bob", []string{"orders"}, []string{"read"})
		if _, _, err := s.Accounts.CreateKey(ctx, "bob", KeySpec{Handle: "k", APISets: []string{"billing"}}); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("API set bob lacks: %v, want ErrInvalidInput", err)
		}
		if _, _, err := s.Accounts.CreateKey(ctx, "bob", KeySpec{Handle: "k", Scopes: []string{"write"}}); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("scope bob lacks: %v, want ErrInvalidInput", err)
		}
		if _, _, err := s.Accounts.CreateKey(ctx, "bob", KeySpec{Handle: "bad handle"}); err == nil || err.Error() != "invalid input: handle: required: 1 to 64 of letters, digits, _ . -" {
			t.Errorf("bad handle: %v", err)
		}
		tok, _ := mustKey(ctx, t, s, "bob", KeySpec{Handle: "k"})
		if _, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		// Taking the API set away from the owner takes it from the key.
		if _, err := s.Accounts.UpdateUser(ctx, "bob", func(u *User) error { u.APISets = nil; return nil }); err != nil {
			t.Fatal(err)
		}
		var se *ScopeError
		if _, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client); !errors.As(err, &se) {
			t.Errorf("after the owner lost the set: %v, want ScopeError", err)
		}
		if _, err := s.Accounts.UpdateUser(ctx, "bob", func(u *User) error { u.APISets = []string{"orders"}; u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client); !errors.Is(err, ErrInvalid) {
			t.Errorf("owner disabled: %v, want ErrInvalid", err)
		}
	})
}

func TestAccessTokenExpires(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		clk := &stepClock{now: time.Now()}
		s, err := New(ctx, authConfig(), st, Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		mustUser(t, s, "carol", []string{"orders"}, []string{"read"})
		tok, _, err := s.OAuth.IssueAccessToken(ctx, "carol", nil, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client); err != nil {
			t.Fatalf("fresh access token: %v", err)
		}
		clk.add(time.Hour + time.Second)
		if _, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client); !errors.Is(err, ErrInvalid) {
			t.Errorf("expired access token: %v, want ErrInvalid", err)
		}
	})
}

// TestStoreTraffic: malformed tokens never reach the store, unknown ones
// at most once per negative-cache period, valid ones once per cache period,
// and a store error is never cached as "unknown".
func TestStoreTraffic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		sp := &spy{Store: st}
		s := newService(t, sp, authConfig(), nil)
		mustUser(t, s, "dave", []string{"orders"}, []string{"read"})
		tok, _ := mustKey(ctx, t, s, "dave", KeySpec{Handle: "k"})
		count := func(name string, values []string, n int) int64 {
			before := sp.gets.Load()
			for range n {
				s.Verifier.Verify(ctx, values, readOrders, client)
			}
			return sp.gets.Load() - before
		}
		badSum := tok[:len(tok)-1] + string(base62[(indexBase62(tok[len(tok)-1])+1)%62])
		for _, c := range []struct {
			name   string
			values []string
			max    int64
		}{
			{"malformed header", []string{"Bearer a b"}, 0},
			{"bad checksum", bearer(badSum), 0},
			{"not a keygate token", bearer("eyJhbGciOi.abc.def"), 0},
			{"unknown well-formed", bearer(newSecret(prefixKey)), 1},
			{"valid", bearer(tok), 2}, // the credential and its owner, once
		} {
			t.Run(c.name, func(t *testing.T) {
				if got := count(c.name, c.values, 50); got > c.max {
					t.Errorf("%s: %d store reads for 50 requests, want at most %d", c.name, got, c.max)
				}
			})
		}

		sp.failGets.Store(true)
		unknown := bearer(newSecret(prefixKey))
		if _, err := s.Verifier.Verify(ctx, unknown, readOrders, client); !errors.Is(err, ErrUnavailable) {
			t.Errorf("store down, uncached: %v, want ErrUnavailable", err)
		}
		sp.failGets.Store(false)
		tok2, _ := mustKey(ctx, t, s, "dave", KeySpec{Handle: "k2"})
		sp.failGets.Store(true)
		if _, err := s.Verifier.Verify(ctx, bearer(tok2), readOrders, client); !errors.Is(err, ErrUnavailable) {
			t.Errorf("store down: %v, want ErrUnavailable", err)
		}
		sp.failGets.Store(false)
		if _, err := s.Verifier.Verify(ctx, bearer(tok2), readOrders, client); err != nil {
			t.Errorf("store back: %v; a store error must not be cached as unknown", err)
		}
	})
}

func indexBase62(c byte) int {
	for i := range len(base62) {
		if base62[i] == c {
			return i
		}
	}
	return -1
}

func TestVerifyCacheHitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so pooled digests allocate; run without -race")
	}
	ctx := t.Context()
	s := newService(t, backends["embedded"](t), authConfig(), nil)
	mustUser(t, s, "erin", []string{"orders"}, []string{"read"})
	tok, _ := mustKey(ctx, t, s, "erin", KeySpec{Handle: "k"})
	key, apiTok, err := s.Accounts.NewAPIKeyToken(ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string][]string{"bearer": bearer(tok), "apikey": apiKey(key, apiTok)} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Verifier.Verify(ctx, v, readOrders, client); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(200, func() { s.Verifier.Verify(ctx, v, readOrders, client) }); n > 0 {
				t.Errorf("%s: Verify on a cache hit allocated %v times, want 0", name, n)
			}
		})
	}
}

func TestAPIKeyVoidAfterThreshold(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		reg := prometheus.NewRegistry()
		s := newService(t, st, authConfig(), reg)
		mustUser(t, s, "frank", []string{"orders"}, []string{"read"})
		key, tok, err := s.Accounts.NewAPIKeyToken(ctx, "frank")
		if err != nil {
			t.Fatal(err)
		}
		wrong := newSecret(prefixAPITok)
		v := s.Verifier
		verify := func(tk string) error { _, err := v.Verify(ctx, apiKey(key, tk), readOrders, client); return err }

		if err := verify(tok); err != nil {
			t.Fatalf("right token: %v", err)
		}
		// A success resets the count: two wrong, one right, two wrong is
		// never three in a row.
		for _, tk := range []string{wrong, wrong, tok, wrong, wrong} {
			verify(tk)
		}
		if err := verify(tok); err != nil {
			t.Fatalf("after 2 wrong, 1 right, 2 wrong: %v, want still valid", err)
		}
		for range 3 {
			if err := verify(wrong); !errors.Is(err, ErrInvalid) {
				t.Fatalf("wrong token: %v", err)
			}
		}
		if err := verify(tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("right token after 3 wrong: %v, want ErrInvalid (voided)", err)
		}
		if got := testutil.ToFloat64(s.Verifier.metrics.voided); got != 1 {
			t.Errorf("keygate_credentials_voided_total = %v, want 1", got)
		}
		if got := testutil.ToFloat64(s.Verifier.metrics.decisions[resultVoided]); got != 1 {
			t.Errorf("voided decisions = %v, want 1", got)
		}

		// A new token works again; the old one never does.
		key2, tok2, err := s.Accounts.NewAPIKeyToken(ctx, "frank")
		if err != nil {
			t.Fatal(err)
		}
		if key2 != key {
			t.Errorf("the ApiKey key changed: %q -> %q", key, key2)
		}
		if err := verify(tok2); err != nil {
			t.Errorf("new token: %v", err)
		}
		if err := verify(tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("earlier token after regeneration: %v, want ErrInvalid", err)
		}

		// Void again, then an administrator's unvoid.
		for range 3 {
			verify(wrong)
		}
		if err := verify(tok2); !errors.Is(err, ErrInvalid) {
			t.Fatalf("second void: %v", err)
		}
		if err := s.Accounts.Unvoid(ctx, "frank"); err != nil {
			t.Fatal(err)
		}
		if err := verify(tok2); err != nil {
			t.Errorf("after unvoid: %v", err)
		}
		// An unknown key and a wrong token look the same to the client.
		if err := verify(wrong); !errors.Is(err, ErrInvalid) {
			t.Error(err)
		}
		if _, err := s.Verifier.Verify(ctx, apiKey(newSecret(prefixAPIKey), tok2), readOrders, client); !errors.Is(err, ErrInvalid) {
			t.Errorf("unknown key: %v, want ErrInvalid", err)
		}
	})
}

// TestWrongTokenAnswersBeforeStrike: the answer to a wrong token does not
// wait for the store (so it costs the client what an unknown key costs),
// and a right token that follows waits until the strike is recorded.
func TestWrongTokenAnswersBeforeStrike(t *testing.T) {
	ctx := t.Context()
	sp := &spy{Store: backends["embedded"](t), strikeGate: make(chan struct{})}
	cfg := authConfig()
	cfg.LockoutThreshold = 1
	s := newService(t, sp, cfg, nil)
	mustUser(t, s, "gina", []string{"orders"}, []string{"read"})
	key, tok, err := s.Accounts.NewAPIKeyToken(ctx, "gina")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verifier.Verify(ctx, apiKey(key, tok), readOrders, client); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Verifier.Verify(ctx, apiKey(key, newSecret(prefixAPITok)), readOrders, client)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("wrong token: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wrong token's answer waited for the store's strike")
	}
	right := make(chan error, 1)
	go func() {
		_, err := s.Verifier.Verify(ctx, apiKey(key, tok), readOrders, client)
		right <- err
	}()
	select {
	case err := <-right:
		t.Fatalf("right token answered (%v) before the pending strike was recorded", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(sp.strikeGate)
	if err := <-right; !errors.Is(err, ErrInvalid) {
		t.Errorf("right token after the threshold-1 strike: %v, want ErrInvalid (voided)", err)
	}
}

// replicas are two Services on one real Redis, each with its own client,
// as two keygate instances would be.
func replicas(t *testing.T, cfg config.Auth) (a, b *Service) {
	rc := redisConfig(t, redistest.Addr(t))
	a = newService(t, openRedis(t, rc), cfg, nil)
	b = newService(t, openRedis(t, rc), cfg, nil)
	return a, b
}

func TestVoidAcrossReplicas(t *testing.T) {
	ctx := t.Context()
	cfg := authConfig()
	cfg.LockoutThreshold = 5
	a, b := replicas(t, cfg)
	mustUser(t, a, "hank", []string{"orders"}, []string{"read"})
	key, tok, err := a.Accounts.NewAPIKeyToken(ctx, "hank")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Service{a, b} {
		if _, err := s.Verifier.Verify(ctx, apiKey(key, tok), readOrders, client); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}
	wrong := apiKey(key, newSecret(prefixAPITok))
	attack := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := []*Service{a, b}[i%2]
				if _, err := s.Verifier.Verify(ctx, wrong, readOrders, client); !errors.Is(err, ErrInvalid) {
					t.Errorf("wrong token: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	settle := func() {
		// Strikes are recorded right after each answer; wait until both
		// replicas have recorded theirs and each has its cached entry for
		// the key marked struck (the invalidation arrived; the entry is
		// kept), so that what follows is "later" on both.
		testkit.Eventually(t, 10*time.Second, "both replicas' strikes recorded", func() bool {
			return len(a.Verifier.strikeSlots)+len(b.Verifier.strikeSlots) == 0
		})
		for _, s := range []*Service{a, b} {
			ck := cacheKey{key: s.Verifier.keys[0].index, d: s.Verifier.keys[0].digest(key)}
			testkit.Eventually(t, 10*time.Second, "a replica's entry dropped or marked struck", func() bool {
				e, ok := s.Verifier.creds.GetIfPresent(ck)
				return !ok || e.struck.Load()
			})
		}
	}

	attack(cfg.LockoutThreshold - 1)
	settle()
	for _, s := range []*Service{a, b} {
		if _, err := s.Verifier.Verify(ctx, apiKey(key, tok), readOrders, client); err != nil {
			t.Fatalf("after threshold-1 wrong tokens: %v, want still valid", err)
		}
	}
	// That success reset the count; now exactly the threshold, spread
	// over both replicas and sent at once.
	attack(cfg.LockoutThreshold)
	settle()
	voided := testutil.ToFloat64(a.Verifier.metrics.voided) + testutil.ToFloat64(b.Verifier.metrics.voided)
	if voided != 1 {
		t.Errorf("voids recorded: %v, want exactly 1", voided)
	}
	for i := range 10 {
		s := []*Service{a, b}[i%2]
		if _, err := s.Verifier.Verify(ctx, apiKey(key, tok), readOrders, client); !errors.Is(err, ErrInvalid) {
			t.Fatalf("right token on replica %d after the void: %v, want ErrInvalid", i%2, err)
		}
	}
}

func TestRevocationAcrossReplicas(t *testing.T) {
	ctx := t.Context()
	a, b := replicas(t, authConfig()) // cache_ttl 1m: only the event can make b refuse in time
	mustUser(t, a, "ivy", []string{"orders"}, []string{"read"})
	tok, cred := mustKey(ctx, t, a, "ivy", KeySpec{Handle: "k"})
	key, apiTok, err := a.Accounts.NewAPIKeyToken(ctx, "ivy")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]string{bearer(tok), apiKey(key, apiTok)} {
		if _, err := b.Verifier.Verify(ctx, v, readOrders, client); err != nil {
			t.Fatalf("b before revocation: %v", err)
		}
	}
	start := time.Now()
	if err := a.Accounts.Revoke(ctx, cred.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Accounts.NewAPIKeyToken(ctx, "ivy"); err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]string{bearer(tok), apiKey(key, apiTok)} {
		testkit.Eventually(t, time.Second-time.Since(start), "replica b refuses a taken-away credential", func() bool {
			_, err := b.Verifier.Verify(ctx, v, readOrders, client)
			return errors.Is(err, ErrInvalid)
		})
	}
	t.Logf("revocation reached the other replica in %v", time.Since(start))
}

// TestStalenessCapWithoutMessages: a replica that receives no invalidation
// at all refuses a revoked credential once auth.cache_ttl has passed.
func TestStalenessCapWithoutMessages(t *testing.T) {
	ctx := t.Context()
	rc := redisConfig(t, redistest.Addr(t))
	cfg := authConfig()
	cfg.CacheTTL = 300 * time.Millisecond
	a := newService(t, openRedis(t, rc), cfg, nil)
	clk := &stepClock{now: time.Now()}
	deaf, err := New(ctx, cfg, &spy{Store: openRedis(t, rc), mute: true}, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deaf.Close)
	mustUser(t, a, "jack", []string{"orders"}, []string{"read"})
	tok, cred := mustKey(ctx, t, a, "jack", KeySpec{Handle: "k"})
	if _, err := deaf.Verifier.Verify(ctx, bearer(tok), readOrders, client); err != nil {
		t.Fatal(err)
	}
	if err := a.Accounts.Revoke(ctx, cred.ID); err != nil {
		t.Fatal(err)
	}
	clk.add(cfg.CacheTTL + 50*time.Millisecond)
	if _, err := deaf.Verifier.Verify(ctx, bearer(tok), readOrders, client); !errors.Is(err, ErrInvalid) {
		t.Errorf("after cache_ttl without any message: %v, want ErrInvalid", err)
	}
}

// TestStaleIfError: while the store is down, credentials verified within
// stale_if_error keep working and nothing else passes.
func TestStaleIfError(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	cfg := authConfig()
	cfg.CacheTTL = 50 * time.Millisecond
	clk := &stepClock{now: time.Now()}
	s, err := New(ctx, cfg, openRedis(t, redisConfig(t, srv.Addr())), Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	mustUser(t, s, "kim", []string{"orders"}, []string{"read"})
	tok, _ := mustKey(ctx, t, s, "kim", KeySpec{Handle: "k"})
	other, _ := mustKey(ctx, t, s, "kim", KeySpec{Handle: "k2"})
	if _, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	clk.add(cfg.CacheTTL + 10*time.Millisecond) // past freshness: the store is asked and fails
	if _, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client); err != nil {
		t.Errorf("recently verified credential with the store down: %v, want it to keep working", err)
	}
	if _, err := s.Verifier.Verify(ctx, bearer(other), readOrders, client); !errors.Is(err, ErrUnavailable) {
		t.Errorf("never verified credential with the store down: %v, want ErrUnavailable", err)
	}
	if got := testutil.ToFloat64(s.Verifier.metrics.degraded); got != 1 {
		t.Errorf("keygate_auth_degraded = %v, want 1", got)
	}
}

func TestGeneratedDigestKeyIsShared(t *testing.T) {
	rc := redisConfig(t, redistest.Addr(t))
	cfg := authConfig()
	cfg.DigestKeys = nil
	a := newService(t, openRedis(t, rc), cfg, nil)
	b := newService(t, openRedis(t, rc), cfg, nil)
	mustUser(t, a, "lee", []string{"orders"}, []string{"read"})
	tok, _ := mustKey(t.Context(), t, a, "lee", KeySpec{Handle: "k"})
	if _, err := b.Verifier.Verify(t.Context(), bearer(tok), readOrders, client); err != nil {
		t.Errorf("a token issued by one replica with a generated key: the other says %v", err)
	}
}

func TestDigestKeyRotation(t *testing.T) {
	st := backends["embedded"](t)
	old := authConfig()
	s := newService(t, st, old, nil)
	mustUser(t, s, "max", []string{"orders"}, []string{"read"})
	tok, _ := mustKey(t.Context(), t, s, "max", KeySpec{Handle: "k"})
	s.Close()
	rotated := authConfig()
	rotated.DigestKeys = append([]config.DigestKey{{ID: "k2", Secret: "another-secret-of-at-least-32-bytes!!"}}, old.DigestKeys...)
	s2 := newService(t, st, rotated, nil)
	if _, err := s2.Verifier.Verify(t.Context(), bearer(tok), readOrders, client); err != nil {
		t.Errorf("token digested with the previous key after rotation: %v", err)
	}
	tok2, cred2 := mustKey(t.Context(), t, s2, "max", KeySpec{Handle: "k2"})
	if cred2.Digest[:len("dig/k2/")] != "dig/k2/" {
		t.Errorf("new credential digested under %q, want the first key k2", cred2.Digest)
	}
	if _, err := s2.Verifier.Verify(t.Context(), bearer(tok2), readOrders, client); err != nil {
		t.Error(err)
	}
}

func TestConcurrentHandleCreates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		s := newService(t, st, authConfig(), nil)
		mustUser(t, s, "nia", []string{"orders"}, []string{"read"})
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := s.Accounts.CreateKey(t.Context(), "nia", KeySpec{Handle: "same"}); err == nil {
					ok.Add(1)
				} else if !errors.Is(err, ErrHandleTaken) {
					t.Errorf("CreateKey: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Errorf("%d concurrent creates with one handle succeeded, want 1", ok.Load())
		}
		creds, err := s.Accounts.Credentials(t.Context(), "nia")
		if err != nil || len(creds) != 1 {
			t.Errorf("Credentials: %d, %v; want 1", len(creds), err)
		}
	})
}

// TestAPIKeyVoidIsDeterministicOnOneReplica: "three wrong, then right" is
// refused on the replica that answered the wrong tokens, every time, even
// though each strike is recorded after its 401 (so the right token may
// meet an entry fetched while earlier strikes were still being recorded).
func TestAPIKeyVoidIsDeterministicOnOneReplica(t *testing.T) {
	forEachService(t, func(t *testing.T, s *Service) {
		ctx := t.Context()
		mustUser(t, s, "grace", []string{"orders"}, []string{"read"})
		for i := range 30 {
			key, tok, err := s.Accounts.NewAPIKeyToken(ctx, "grace")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Verifier.Verify(ctx, apiKey(key, tok), readOrders, client); err != nil {
				t.Fatalf("round %d: right token: %v", i, err)
			}
			wrong := newSecret(prefixAPITok)
			for j := range 3 {
				s.Verifier.Verify(ctx, apiKey(key, wrong), readOrders, client)
				// Requests spaced as over HTTP: some strikes are recorded
				// before the next request, some not.
				time.Sleep(time.Duration((i*7+j*13)%10) * 50 * time.Microsecond)
			}
			if _, err := s.Verifier.Verify(ctx, apiKey(key, tok), readOrders, client); !errors.Is(err, ErrInvalid) {
				t.Fatalf("round %d: right token after 3 wrong: %v, want ErrInvalid (voided)", i, err)
			}
		}
	})
}
