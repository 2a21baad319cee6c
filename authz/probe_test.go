package authz

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/store"
)

// onRequest marks the context of the request being measured: calls made
// with it are on the request path; strikes and last-used updates, which
// run after the answer on a context of their own, are not.
type onRequest struct{}

// tally wraps a real store and counts the calls made on a marked request
// path, whatever their kind.
type tally struct {
	store.Store
	mu sync.Mutex
	n  int
}

func (c *tally) count(ctx context.Context) {
	if ctx.Value(onRequest{}) != nil {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
}

func (c *tally) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = 0
	return n
}

func (c *tally) Get(ctx context.Context, key string) (store.Record, error) {
	c.count(ctx)
	return c.Store.Get(ctx, key)
}

func (c *tally) Create(ctx context.Context, key string, value []byte, opts store.WriteOptions) (int64, error) {
	c.count(ctx)
	return c.Store.Create(ctx, key, value, opts)
}

func (c *tally) Put(ctx context.Context, key string, value []byte, opts store.WriteOptions) (int64, error) {
	c.count(ctx)
	return c.Store.Put(ctx, key, value, opts)
}

func (c *tally) Update(ctx context.Context, key string, value []byte, version int64, opts store.WriteOptions) (int64, error) {
	c.count(ctx)
	return c.Store.Update(ctx, key, value, version, opts)
}

func (c *tally) Delete(ctx context.Context, key string, version int64) error {
	c.count(ctx)
	return c.Store.Delete(ctx, key, version)
}

func (c *tally) List(ctx context.Context, index string) ([]store.Record, error) {
	c.count(ctx)
	return c.Store.List(ctx, index)
}

func (c *tally) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	c.count(ctx)
	return c.Store.Incr(ctx, key, delta, ttl)
}

func (c *tally) Counter(ctx context.Context, key string) (int64, error) {
	c.count(ctx)
	return c.Store.Counter(ctx, key)
}

func (c *tally) ResetCounter(ctx context.Context, key string) error {
	c.count(ctx)
	return c.Store.ResetCounter(ctx, key)
}

func (c *tally) Strike(ctx context.Context, key string, limit int64) (store.Strikes, bool, error) {
	c.count(ctx)
	return c.Store.Strike(ctx, key, limit)
}

func (c *tally) Strikes(ctx context.Context, key string) (store.Strikes, error) {
	c.count(ctx)
	return c.Store.Strikes(ctx, key)
}

func (c *tally) ResetStrikes(ctx context.Context, key string) error {
	c.count(ctx)
	return c.Store.ResetStrikes(ctx, key)
}

func (c *tally) ClearStrikes(ctx context.Context, key string) error {
	c.count(ctx)
	return c.Store.ClearStrikes(ctx, key)
}

func (c *tally) Publish(ctx context.Context, channel string, payload []byte) error {
	c.count(ctx)
	return c.Store.Publish(ctx, channel, payload)
}

// drain waits until every wrong token this replica answered has been
// recorded, so that what follows sees its effects (as a later request
// would).
func (s *Verifier) drain() {
	s.pending.Range(func(_, v any) bool {
		p := v.(*pending)
		p.mu.Lock()
		for p.n > 0 {
			p.cond.Wait()
		}
		p.mu.Unlock()
		return true
	})
}

// TestUnknownKeyAndWrongTokenCostTheSame: an existing ApiKey key with a
// wrong token and a key that does not exist cost the same number of store
// calls on the request path, on the first probe and on every later one,
// before and after the void, within and past the negative cache's and the
// cache's lifetimes; so timing cannot tell them apart through the store.
func TestUnknownKeyAndWrongTokenCostTheSame(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		clk := &stepClock{now: time.Now()}
		cfg := authConfig()
		cfg.CacheTTL, cfg.NegativeCacheTTL = 15*time.Second, 5*time.Second
		issuer, err := New(t.Context(), cfg, st, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(issuer.Close)
		mustUser(t, issuer, "olga", []string{"orders"}, []string{"read"})
		key, _, err := issuer.Accounts.NewAPIKeyToken(t.Context(), "olga")
		if err != nil {
			t.Fatal(err)
		}
		// The replica probed has never seen either key.
		tl := &tally{Store: st}
		s, err := New(t.Context(), cfg, tl, Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		unknown := newSecret(prefixAPIKey)
		ctx := context.WithValue(t.Context(), onRequest{}, true)
		probe := func(k string) (int, error) {
			tl.take()
			_, err := s.Verifier.Verify(ctx, apiKey(k, newSecret(prefixAPITok)), readOrders, client)
			n := tl.take()
			s.Verifier.drain()
			return n, err
		}
		for _, step := range []struct {
			name    string
			advance time.Duration
			probes  int
		}{
			{"first probes, then past the void", 0, 5},
			{"past negative_cache_ttl", 6 * time.Second, 2},
			{"past cache_ttl", 10 * time.Second, 2},
		} {
			t.Run(step.name, func(t *testing.T) { // in order: each step moves the clock on from the last
				clk.add(step.advance)
				for i := range step.probes {
					wrong, errW := probe(key)
					unk, errU := probe(unknown)
					if !errors.Is(errW, ErrInvalid) || !errors.Is(errU, ErrInvalid) {
						t.Fatalf("%s, probe %d: wrong token %v, unknown key %v; want ErrInvalid for both", step.name, i+1, errW, errU)
					}
					if wrong != unk {
						t.Errorf("%s, probe %d: store calls on the request path: wrong token %d, unknown key %d; want equal", step.name, i+1, wrong, unk)
					}
				}
			})
		}
	})
}

// TestUnknownKeyCountsLikeAWrongToken: with auth.key_failure_limit on, an
// unknown key is answered exactly as an existing key with wrong tokens,
// 429 included, probe after probe.
func TestUnknownKeyCountsLikeAWrongToken(t *testing.T) {
	ctx := t.Context()
	cfg := authConfig()
	cfg.KeyFailureLimit = config.FailureLimit{Rate: 5, Per: time.Minute, Burst: 5}
	s := newService(t, backends["embedded"](t), cfg, nil)
	mustUser(t, s, "pia", []string{"orders"}, []string{"read"})
	key, _, err := s.Accounts.NewAPIKeyToken(ctx, "pia")
	if err != nil {
		t.Fatal(err)
	}
	unknown := newSecret(prefixAPIKey)
	outcome := func(err error) string {
		var blocked *KeyBlockedError
		switch {
		case errors.As(err, &blocked):
			return "blocked"
		case errors.Is(err, ErrInvalid):
			return "invalid"
		}
		return "unexpected: " + err.Error()
	}
	for i := range 8 {
		_, errW := s.Verifier.Verify(ctx, apiKey(key, newSecret(prefixAPITok)), readOrders, client)
		_, errU := s.Verifier.Verify(ctx, apiKey(unknown, newSecret(prefixAPITok)), readOrders, client)
		if w, u := outcome(errW), outcome(errU); w != u {
			t.Errorf("probe %d: wrong token %s, unknown key %s; want the same answer", i+1, w, u)
		}
	}
}
