// Package redis is the store shared by keygate replicas, on go-redis's
// UniversalClient: one Redis node, a Sentinel-managed master (master_name)
// or a Cluster (cluster: true).
//
// # Key layout
//
// Every key starts with the configured prefix (default "keygate:") and
// wraps the caller's key in a hash tag, so each logical object is one Redis
// key in one Cluster slot and every script touches a single key:
//
//	<prefix>r:{<key>}    record: hash v (value), n (version), x (index
//	                     names, space separated), e (expiry, unix ms or 0);
//	                     PEXPIREAT at the expiry
//	<prefix>i:{<index>}  index: hash of record key → membership token
//	<prefix>c:{<key>}    counter: integer string, PEXPIRE set on creation
//	<prefix>s:{<key>}    strikes: hash count, tripped
//	<prefix>e:<channel>  pub/sub channel
//
// Record writes, counters and strikes are Lua scripts (EVALSHA, falling back
// to EVAL), atomic on their one key. Expiry is decided by the client's clock
// (the scripts receive "now"), Redis's own expiry only frees the memory.
//
// # Indexes
//
// An index lives in another slot than its records, so it cannot change in
// the same script. It is a hint: every record listed under an index is a
// member of it, but a member's record may be gone or no longer list the
// index. A write adds the record to its indexes before and after the record
// script, each time with a fresh token; List reads the members, fetches
// their records in one pipeline, returns the live ones that still list the
// index, and removes the others only if their token is unchanged (so it
// never removes a membership that a concurrent write has just renewed).
// Writes and deletes never remove memberships: List does, and an index whose
// members all expire carries the latest expiry of its records and disappears
// with them.
//
// The Redis must not evict keys (maxmemory-policy noeviction): an evicted
// record or index is lost data, not a cache miss. The Store reads every
// master's policy at start, every minute and after a reconnection, warns
// when it can evict or cannot be read, and exports
// keygate_store_redis_eviction_possible (eviction.go).
//
// # Errors
//
// goredis.Nil is "not found" where that applies. A cancelled ctx gives an
// error wrapping context.Canceled; every other failure (network, timeout,
// closed client, an error reply) wraps store.ErrUnavailable and is counted
// in keygate_store_errors_total{op}.
package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/internal/guard"
)

// defaultTimeout is the deadline of a call whose ctx has none when neither
// read_timeout nor write_timeout is configured.
const defaultTimeout = time.Second

// errClosed is returned (wrapped) by every call after Close.
var errClosed = fmt.Errorf("redis store closed: %w", store.ErrUnavailable)

// Store is the Redis store. It is safe for concurrent use.
type Store struct {
	client  goredis.UniversalClient
	prefix  string
	addrs   string        // for messages
	timeout time.Duration // deadline of a call whose ctx has none
	log     *zap.Logger
	metrics *metrics

	nodeName string        // the node in logs: its address, or the Sentinel master's name
	eviction evictionState // what the eviction policy checks found
	recheck  chan struct{} // a reconnection asks for an eviction policy check

	breaker     *breaker      // fails commands at once while Redis is down
	replicaWait time.Duration // store.redis.replica_wait; <= 0: off
	replicas    replicaCounts // per node, how many replicas it has

	tokenBase string        // unique to this Store
	tokenSeq  atomic.Uint64 // with tokenBase, makes index membership tokens

	mu     sync.Mutex    // orders subscriptions' wg.Add before Close's Wait
	closed atomic.Bool   // set under mu
	done   chan struct{} // closed by Close: ends subscriptions
	wg     sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

// New builds the client from cfg and pings the server under ctx (with a
// deadline of dial_timeout plus the call timeout if ctx has none). A nil
// log discards logs; a nil reg registers no metrics. go-redis's own log
// lines go to log too (named "go-redis"; see routeGoRedisLog).
//
// It then reads the maxmemory-policy of every master (see checkEviction),
// logs a warning if one can evict keys or hides its policy, and fails if
// cfg.RequireNoeviction is set and not every master reads noeviction. A
// running Store checks again every minute and after a subscription's
// reconnection, to notice a failover to a differently configured master.
func New(ctx context.Context, cfg config.Redis, log *zap.Logger, reg prometheus.Registerer) (*Store, error) {
	return newStore(ctx, cfg, log, reg, evictionCheckInterval)
}

// newStore is New with the interval of the eviction policy checks.
func newStore(ctx context.Context, cfg config.Redis, log *zap.Logger, reg prometheus.Registerer, evictionEvery time.Duration) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	opts, err := options(cfg)
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	routeGoRedisLog(log)
	var seed [8]byte
	_, _ = rand.Read(seed[:]) // never fails (crypto/rand)
	s := &Store{
		client:      goredis.NewUniversalClient(opts),
		prefix:      cfg.KeyPrefix,
		addrs:       strings.Join(cfg.Addrs, ","),
		timeout:     cfg.ReadTimeout + cfg.WriteTimeout,
		replicaWait: cfg.ReplicaWait,
		log:         log,
		metrics:     m,
		tokenBase:   hex.EncodeToString(seed[:]) + ".",
		done:        make(chan struct{}),
		nodeName:    strings.Join(cfg.Addrs, ","),
		recheck:     make(chan struct{}, 1),
	}
	if cfg.MasterName != "" {
		s.nodeName = "master " + cfg.MasterName
	}
	s.breaker = &breaker{wake: make(chan struct{}, 1), log: log, m: m}
	s.client.AddHook(hook{s.breaker})
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	pctx, cancel := ctx, context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		dial := cfg.DialTimeout
		if dial <= 0 {
			dial = 5 * time.Second // go-redis's default
		}
		pctx, cancel = context.WithTimeout(ctx, dial+s.timeout)
	}
	defer cancel()
	if err := s.client.Ping(pctx).Err(); err != nil {
		_ = s.client.Close()
		if ctx.Err() == context.Canceled {
			return nil, fmt.Errorf("connecting to redis %s: %w", s.addrs, err)
		}
		return nil, fmt.Errorf("connecting to redis %s: %w: %w", s.addrs, store.ErrUnavailable, err)
	}
	log.Info("redis store connected", zap.String("addrs", s.addrs), zap.String("key_prefix", s.prefix))
	read, err := s.checkEviction(pctx, cfg.RequireNoeviction)
	if cfg.RequireNoeviction {
		if err != nil {
			err = fmt.Errorf("store.redis.require_noeviction: reading the maxmemory-policy: %w: %w", store.ErrUnavailable, err)
		} else {
			err = requireNoeviction(read)
		}
		if err != nil {
			_ = s.client.Close()
			return nil, err
		}
	}
	s.wg.Add(2)
	go s.watchEviction(evictionEvery, cfg.RequireNoeviction)
	go s.probe(s.done)
	return s, nil
}

// options translates cfg into go-redis's UniversalOptions.
func options(cfg config.Redis) (*goredis.UniversalOptions, error) {
	switch {
	case len(cfg.Addrs) == 0:
		return nil, errors.New("no addrs")
	case cfg.Cluster && cfg.MasterName != "":
		return nil, errors.New("cluster and master_name exclude each other")
	case cfg.Cluster && cfg.DB != 0:
		return nil, errors.New("db must be 0 in cluster mode")
	case !cfg.Cluster && cfg.MasterName == "" && len(cfg.Addrs) > 1:
		return nil, errors.New("several addrs need master_name (Sentinel) or cluster")
	}
	tc, err := tlsConfig(cfg.TLS)
	if err != nil {
		return nil, err
	}
	return &goredis.UniversalOptions{
		Addrs:            cfg.Addrs,
		ClientName:       "keygate",
		MasterName:       cfg.MasterName,
		SentinelUsername: cfg.SentinelUsername,
		SentinelPassword: cfg.SentinelPassword,
		IsClusterMode:    cfg.Cluster,
		Username:         cfg.Username,
		Password:         cfg.Password,
		DB:               cfg.DB,
		PoolSize:         cfg.PoolSize,
		// Budgets chosen, not go-redis's defaults (3 command retries with
		// up to 512 ms of backoff; 5 dial attempts 100 ms apart): one
		// command retry, soon, for a pooled connection a Redis restart
		// broke; one dial retry; a wait for a free connection no longer
		// than a call may take. Every call also has the store's deadline,
		// and the circuit breaker (breaker.go) stops calls while Redis is
		// down. docs/deploy.md lists them.
		MaxRetries:         1,
		MinRetryBackoff:    8 * time.Millisecond,
		MaxRetryBackoff:    64 * time.Millisecond,
		DialerRetries:      1,
		DialerRetryTimeout: 20 * time.Millisecond,
		PoolTimeout:        cfg.ReadTimeout + cfg.WriteTimeout,
		// Zero durations are go-redis's defaults.
		DialTimeout:           cfg.DialTimeout,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		ContextTimeoutEnabled: true,
		TLSConfig:             tc,
	}, nil
}

// tlsConfig builds the client TLS configuration; nil when TLS is off.
func tlsConfig(c config.ClientTLS) (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca_file %q: no PEM certificate", c.CAFile)
		}
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Client is the underlying go-redis client, for packages that run their own
// commands on the same connections (such as redis_rate). Keys they use
// should start with the store's key prefix.
func (s *Store) Client() goredis.UniversalClient { return s.client }

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ready(ctx, "ping", ""); err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.fail(ctx, "ping", "", err)
	}
	return nil
}

// Close ends every subscription and closes the client. Later calls fail
// with an error wrapping store.ErrUnavailable. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	already := s.closed.Swap(true)
	s.mu.Unlock()
	if already {
		return nil
	}
	close(s.done)
	s.wg.Wait()
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("closing redis store: %w", err)
	}
	return nil
}

// opContext gives a call the store's deadline if ctx has none.
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// ready fails when ctx is done or the store closed.
func (s *Store) ready(ctx context.Context, op, key string) error {
	return guard.Ready(ctx, &s.closed, errClosed, op, key)
}

// check is the prologue of every call taking a key: a done ctx, a closed
// store or a bad key fail before anything is sent.
func (s *Store) check(ctx context.Context, op, key string) error {
	return guard.Key(ctx, &s.closed, errClosed, op, key)
}

// fail maps a go-redis error: cancellation stays itself, anything else is
// unavailability, counted and logged at debug level.
func (s *Store) fail(ctx context.Context, op, key string, err error) error {
	if errors.Is(err, context.Canceled) || ctx.Err() == context.Canceled {
		return opError(op, key, err)
	}
	s.metrics.errors.WithLabelValues(op).Inc()
	if ce := s.log.Check(zap.DebugLevel, "redis store call failed"); ce != nil {
		ce.Write(zap.String("op", op), zap.Error(err))
	}
	if errors.Is(err, goredis.ErrClosed) && s.closed.Load() {
		err = errClosed
	}
	if errors.Is(err, store.ErrUnavailable) {
		return opError(op, key, err)
	}
	return opError(op, key, fmt.Errorf("%w: %w", store.ErrUnavailable, err))
}

// opError puts the operation and key before err.
func opError(op, key string, err error) error { return guard.OpError(op, key, err) }

// Keys of the logical objects (see the package comment).
func (s *Store) recordKey(key string) string  { return s.prefix + "r:{" + key + "}" }
func (s *Store) indexKey(index string) string { return s.prefix + "i:{" + index + "}" }
func (s *Store) counterKey(key string) string { return s.prefix + "c:{" + key + "}" }
func (s *Store) strikesKey(key string) string { return s.prefix + "s:{" + key + "}" }
func (s *Store) channelName(ch string) string { return s.prefix + "e:" + ch }
