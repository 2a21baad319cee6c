package config

import (
	"slices"
	"strings"
	"time"
)

// The defaults, one block per section, applied by ApplyDefaults (below) to
// fields left empty or zero, and nowhere else: the components read the
// defaulted values.

// Listeners.
const (
	DefaultListen       = ":8080"
	DefaultAdminListen  = "127.0.0.1:9090"
	DefaultHealthListen = "127.0.0.1:9091"
)

// runtime.
const (
	DefaultGCPercent = 400
	// DefaultMemoryLimitMiB is the memory limit without one configured
	// and without a container limit to take 90% of.
	DefaultMemoryLimitMiB = 1024
)

// server.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxBodyBytes      = 10 << 20
)

// upstream.
const (
	DefaultUpstreamDialTimeout           = 5 * time.Second
	DefaultUpstreamTLSHandshakeTimeout   = 5 * time.Second
	DefaultUpstreamResponseHeaderTimeout = 30 * time.Second
	DefaultUpstreamIdleConnTimeout       = 90 * time.Second
	DefaultUpstreamMaxIdleConnsPerHost   = 256
)

// tls.
const (
	DefaultTLSMode       = TLSOff
	DefaultTLSMinVersion = "1.2"
	DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"
)

// log.
const (
	DefaultLogLevel  = "info"
	DefaultLogFormat = "json"
	DefaultAccessLog = true
)

// auth.
const (
	DefaultLockoutThreshold = 3
	DefaultCacheTTL         = 15 * time.Second
	DefaultNegativeCacheTTL = 5 * time.Second
	DefaultCacheSize        = 100_000
	DefaultStaleIfError     = time.Minute
	// auth.failure_limit: failed credential checks per client address.
	// Its burst defaults to its rate.
	DefaultFailureLimitRate = 20
	DefaultFailureLimitPer  = time.Minute
	// auth.key_failure_limit: wrong tokens per ApiKey key. Its burst
	// defaults to its rate, and at least auth.lockout_threshold.
	DefaultKeyFailureLimitRate = 10
	DefaultKeyFailureLimitPer  = time.Minute
)

// oauth.
const (
	DefaultAccessTokenValidity     = 12 * time.Hour
	DefaultRefreshTokenValidity    = 720 * time.Hour
	DefaultMaxAccessTokenValidity  = 24 * time.Hour
	DefaultMaxRefreshTokenValidity = 2160 * time.Hour
	DefaultIssueRefreshTokens      = true
)

// self_service.
const (
	DefaultMaxPasswordFailuresUser = 10
	DefaultMaxPasswordFailuresAddr = 50
	DefaultPasswordFailureWindow   = 15 * time.Minute
	// Password hashing at once (argon2id, 19 MiB each): in the whole
	// process, per client address, and how long a check waits for a turn.
	DefaultMaxConcurrentPasswordChecks        = 2
	DefaultMaxConcurrentPasswordChecksPerAddr = 2
	DefaultPasswordCheckQueueTimeout          = 2 * time.Second
	// DefaultManageKeyAuthorityFor is the one credential kind whose
	// creation needs the MANAGE_USER_API_KEY authority by default.
	DefaultManageKeyAuthorityFor = KeyKindNamedKeys
)

// account.
const (
	DefaultAccountPath             = "/account"
	DefaultOIDCName                = "single sign-on"
	DefaultOIDCFetchTimeout        = 5 * time.Second
	DefaultOIDCMaxStartsPerAddress = 60
	DefaultSessionIdleTimeout      = 30 * time.Minute
	DefaultSessionAbsoluteTimeout  = 12 * time.Hour
)

// tracing.
const (
	// DefaultTracingSampleRatio records every trace keygate starts: the
	// OpenTelemetry SDK's own default (parent-based, always on).
	DefaultTracingSampleRatio = 1.0
	DefaultTracingServiceName = "keygate"
	DefaultTracingTimeout     = 10 * time.Second
	DefaultTracingQueueSize   = 2048
	// MaxTracingQueueSize bounds tracing.queue_size: the queue is memory.
	MaxTracingQueueSize = 1 << 20
)

// store.
const (
	DefaultStoreDriver       = DriverEmbedded
	DefaultEmbeddedPath      = "keygate.db"
	DefaultRedisKeyPrefix    = "keygate:"
	DefaultRedisDialTimeout  = 5 * time.Second
	DefaultRedisReadTimeout  = 500 * time.Millisecond
	DefaultRedisWriteTimeout = 500 * time.Millisecond
	DefaultRedisReplicaWait  = 100 * time.Millisecond
)

// routes, and the rate limits and quotas of routes and API sets.
const (
	DefaultRouteAuth = AuthRequired
	// A rate limit's burst defaults to its rate, its key to
	// DefaultRateLimitKey (DefaultRateLimitKeyAuthNone on a route with
	// auth none).
	DefaultRateLimitPer          = time.Second
	DefaultRateLimitKey          = LimitByCredential
	DefaultRateLimitKeyAuthNone  = LimitByAddress
	DefaultRateLimitOnStoreError = OnErrorLocal
	DefaultRateLimitMode         = LimitFast
	DefaultRateLimitHeaders      = true
	DefaultQuotaPer              = QuotaPerMonth
	DefaultQuotaOnStoreError     = OnErrorFailClosed
)

// forward_auth.
const (
	DefaultForwardAuthPath = "/_keygate/auth"
)

// auth.jwt.
const (
	DefaultJWTCacheSize           = 10000
	DefaultJWTAlgorithm           = "RS256"
	DefaultJWTUserClaim           = "sub"
	DefaultJWTAPISetsClaim        = "api_sets"
	DefaultJWTClockSkew           = 30 * time.Second
	DefaultJWKSMinRefreshInterval = time.Minute
	DefaultJWKSMaxAge             = time.Hour
	DefaultJWTFetchTimeout        = 5 * time.Second
)

// cors, of routes and API sets (its allowed_methods default to the
// route's methods: CORS.MethodsFor).
const DefaultCORSMaxAge = 10 * time.Minute

var (
	DefaultCORSAllowedHeaders = []string{"Authorization", "Content-Type"}
	DefaultCORSExposedHeaders = []string{"WWW-Authenticate", "Retry-After", "X-Request-Id", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
)

// ApplyDefaults fills every field left empty or zero with its Default*
// value and brings names to their canonical case. It is the only place
// defaults are applied; Load and Parse call it.
func (c *Config) ApplyDefaults() {
	setDefault(&c.Listen, DefaultListen)
	setDefault(&c.AdminListen, DefaultAdminListen)
	setDefault(&c.HealthListen, DefaultHealthListen)

	s := &c.Server
	setDefault(&s.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&s.ReadTimeout, DefaultReadTimeout)
	setDefault(&s.WriteTimeout, DefaultWriteTimeout)
	setDefault(&s.IdleTimeout, DefaultIdleTimeout)
	setDefault(&s.ShutdownTimeout, DefaultShutdownTimeout)
	setDefault(&s.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&s.MaxBodyBytes, DefaultMaxBodyBytes)

	u := &c.Upstream
	setDefault(&u.DialTimeout, DefaultUpstreamDialTimeout)
	setDefault(&u.TLSHandshakeTimeout, DefaultUpstreamTLSHandshakeTimeout)
	setDefault(&u.ResponseHeaderTimeout, DefaultUpstreamResponseHeaderTimeout)
	setDefault(&u.IdleConnTimeout, DefaultUpstreamIdleConnTimeout)
	setDefault(&u.MaxIdleConnsPerHost, DefaultUpstreamMaxIdleConnsPerHost)

	c.TLS.applyDefaults()

	setDefault(&c.Log.Level, DefaultLogLevel)
	setDefault(&c.Log.Format, DefaultLogFormat)

	setDefault(&c.Runtime.GCPercent, DefaultGCPercent)

	a := &c.Auth
	setDefault(&a.LockoutThreshold, DefaultLockoutThreshold)
	setDefault(&a.CacheTTL, DefaultCacheTTL)
	setDefault(&a.NegativeCacheTTL, DefaultNegativeCacheTTL)
	setDefault(&a.StaleIfError, DefaultStaleIfError)
	a.FailureLimit.applyDefaults(DefaultFailureLimitRate, DefaultFailureLimitPer, 1)
	a.KeyFailureLimit.applyDefaults(DefaultKeyFailureLimitRate, DefaultKeyFailureLimitPer, a.LockoutThreshold)
	setDefault(&a.CacheSize, DefaultCacheSize)
	if a.UpstreamIdentity == nil { // [] is a choice: none
		a.UpstreamIdentity = slices.Clone(IdentityNames)
	}

	o := &c.OAuth
	setDefault(&o.AccessTokenValidity, DefaultAccessTokenValidity)
	setDefault(&o.RefreshTokenValidity, DefaultRefreshTokenValidity)
	setDefault(&o.MaxAccessTokenValidity, DefaultMaxAccessTokenValidity)
	setDefault(&o.MaxRefreshTokenValidity, DefaultMaxRefreshTokenValidity)

	ss := &c.SelfService
	setDefault(&ss.MaxPasswordFailuresPerUser, DefaultMaxPasswordFailuresUser)
	setDefault(&ss.MaxPasswordFailuresPerAddress, DefaultMaxPasswordFailuresAddr)
	setDefault(&ss.PasswordFailureWindow, DefaultPasswordFailureWindow)
	setDefault(&ss.MaxConcurrentPasswordChecks, DefaultMaxConcurrentPasswordChecks)
	setDefault(&ss.MaxConcurrentPasswordChecksPerAddress, DefaultMaxConcurrentPasswordChecksPerAddr)
	setDefault(&ss.PasswordCheckQueueTimeout, DefaultPasswordCheckQueueTimeout)
	if ss.ManageKeyAuthorityFor == nil { // [] is a choice: none
		ss.ManageKeyAuthorityFor = []string{DefaultManageKeyAuthorityFor}
	}

	ac := &c.Account
	setDefault(&ac.Path, DefaultAccountPath)
	if len(ac.Path) > 1 {
		ac.Path = strings.TrimSuffix(ac.Path, "/")
	}
	setDefault(&ac.SessionIdleTimeout, DefaultSessionIdleTimeout)
	setDefault(&ac.SessionAbsoluteTimeout, DefaultSessionAbsoluteTimeout)
	if ac.OIDC != nil {
		ac.OIDC.applyDefaults()
	}

	c.ForwardAuth.applyDefaults()
	c.Tracing.applyDefaults()
	a.JWT.applyDefaults()

	setDefault(&c.Store.Driver, DefaultStoreDriver)
	setDefault(&c.Store.Embedded.Path, DefaultEmbeddedPath)
	r := &c.Store.Redis
	setDefault(&r.KeyPrefix, DefaultRedisKeyPrefix)
	setDefault(&r.DialTimeout, DefaultRedisDialTimeout)
	setDefault(&r.ReadTimeout, DefaultRedisReadTimeout)
	setDefault(&r.WriteTimeout, DefaultRedisWriteTimeout)
	setDefault(&r.ReplicaWait, DefaultRedisReplicaWait)

	for i := range c.Routes {
		rt := &c.Routes[i]
		rt.Host = strings.ToLower(rt.Host)
		if len(rt.PathPrefix) > 1 {
			rt.PathPrefix = strings.TrimSuffix(rt.PathPrefix, "/")
		}
		for j, m := range rt.Methods {
			rt.Methods[j] = strings.ToUpper(m)
		}
		for _, h := range MethodOverrideHeaders {
			if strings.EqualFold(rt.MethodOverride, h) {
				rt.MethodOverride = h
			}
		}
		if len(rt.Scopes) > 0 {
			up := make(map[string]string, len(rt.Scopes))
			for m, s := range rt.Scopes {
				up[strings.ToUpper(m)] = s
			}
			rt.Scopes = up
		}
		setDefault(&rt.Auth, DefaultRouteAuth)
		if rt.RateLimit != nil {
			rt.RateLimit.applyDefaults(rt.Auth == AuthNone)
		}
		if rt.Quota != nil {
			rt.Quota.applyDefaults()
		}
		if rt.CORS != nil {
			rt.CORS.applyDefaults()
		}
	}
	for name, set := range c.APISets {
		if set.RateLimit != nil {
			set.RateLimit.applyDefaults(false)
		}
		if set.Quota != nil {
			set.Quota.applyDefaults()
		}
		if set.CORS != nil {
			set.CORS.applyDefaults()
		}
		c.APISets[name] = set
	}
}

// applyDefaults fills the tls section. The ACME defaults apply only in
// mode acme, so that an acme section left under another mode is reported
// rather than hidden behind defaults.
func (t *TLS) applyDefaults() {
	setDefault(&t.Mode, DefaultTLSMode)
	setDefault(&t.MinVersion, DefaultTLSMinVersion)
	if t.Mode != TLSACME {
		return
	}
	a := &t.ACME
	setDefault(&a.CA, DefaultACMEDirectory)
	for i, d := range a.Domains {
		a.Domains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	for i, d := range a.OnDemandDomains {
		a.OnDemandDomains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	if a.Challenges == nil { // what the listeners can answer
		a.Challenges = []string{ChallengeTLSALPN01}
		if t.HTTPListen != "" {
			a.Challenges = append(a.Challenges, ChallengeHTTP01)
		}
	}
}

// applyDefaults fills a failure limit: rate and per, and a burst of the
// rate, at least minBurst.
func (f *FailureLimit) applyDefaults(rate int, per time.Duration, minBurst int) {
	setDefault(&f.Rate, rate)
	setDefault(&f.Per, per)
	setDefault(&f.Burst, max(f.Rate, minBurst, 1))
}

// applyDefaults fills a rate limit's empty fields; authNone: the limit is
// on a route that looks at no credential.
func (rl *RateLimit) applyDefaults(authNone bool) {
	setDefault(&rl.Per, DefaultRateLimitPer)
	setDefault(&rl.Burst, rl.Rate)
	if authNone {
		setDefault(&rl.Key, DefaultRateLimitKeyAuthNone)
	} else {
		setDefault(&rl.Key, DefaultRateLimitKey)
	}
	setDefault(&rl.OnStoreError, DefaultRateLimitOnStoreError)
	setDefault(&rl.Mode, DefaultRateLimitMode)
}

func (q *Quota) applyDefaults() {
	setDefault(&q.Per, DefaultQuotaPer)
	setDefault(&q.OnStoreError, DefaultQuotaOnStoreError)
}

// setDefault sets *p to def if it is the zero value (empty, 0).
func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}
