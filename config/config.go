// Package config is gateway.yaml: the typed tree, strict loading, defaults in
// one place and validation that reports every problem with its field path.
//
// Load reads a file, refuses unknown keys (naming file, line and key),
// expands ${VAR} references in scalar values, applies defaults and validates.
// Nothing else in keygate parses configuration: the components receive a
// validated *Config and build what they need from it once.
package config

import (
	"net/netip"
	"net/url"
	"time"
)

// Route auth modes.
const (
	// AuthRequired: only a request with a verified credential for the
	// route's API set and the method's scope reaches the upstream.
	AuthRequired = "required"
	// AuthOptional: a credential is verified when present (a bad one is
	// refused); a request without one passes anonymously.
	AuthOptional = "optional"
	// AuthNone: no credential is looked at; the Authorization header is
	// still removed unless forward_authorization is set.
	AuthNone = "none"
)

// Store drivers.
const (
	DriverEmbedded = "embedded"
	DriverRedis    = "redis"
)

// Config is the whole of gateway.yaml.
type Config struct {
	// Listen is the public listener address. Default ":8080".
	Listen string `yaml:"listen"`
	// AdminListen serves the admin API (/admin/) and, with pprof, Go's
	// profiles. Default "127.0.0.1:9090": keep it on loopback (or at
	// least off every network but the operators').
	AdminListen string `yaml:"admin_listen"`
	// HealthListen serves /healthz, /readyz and /metrics, for the
	// orchestrator's probes and the metrics scraper, and nothing else.
	// Default "127.0.0.1:9091"; in a container, "0.0.0.0:9091".
	HealthListen string `yaml:"health_listen"`
	// Runtime sets the Go runtime's parallelism and garbage collector.
	Runtime Runtime `yaml:"runtime"`
	// Pprof serves Go's /debug/pprof/ profiles on the admin listener.
	// Default false: profiles show internals and cost CPU while taken.
	Pprof bool `yaml:"pprof"`
	// Server holds the public server's timeouts and size limits.
	Server Server `yaml:"server"`
	// Upstream tunes the one Transport shared by every route.
	Upstream Upstream `yaml:"upstream"`
	// TLS serves the public listener over TLS. Default off.
	TLS TLS `yaml:"tls"`
	// TrustedProxies are the IPs or CIDRs whose X-Forwarded-* headers are
	// believed. Default none: client-sent X-Forwarded-* are dropped.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Log configures the zap logger.
	Log Log `yaml:"log"`
	// Readiness shapes /readyz. Default: ready whatever the store's state.
	Readiness Readiness `yaml:"readiness"`
	// Store selects where keygate keeps its state.
	Store Store `yaml:"store"`
	// Auth configures credential verification.
	Auth Auth `yaml:"auth"`
	// OAuth configures OAuth2 clients and the token endpoint.
	OAuth OAuth `yaml:"oauth"`
	// SelfService configures the credential API on the public listener.
	SelfService SelfService `yaml:"self_service"`
	// Account configures the account pages in the browser.
	Account Account `yaml:"account"`
	// ForwardAuth serves the check endpoint for an ingress's
	// authorization requests. Default off.
	ForwardAuth ForwardAuth `yaml:"forward_auth"`
	// Audit sends audit lines to a file of their own as well. Default
	// none.
	Audit Audit `yaml:"audit"`
	// Tracing exports OpenTelemetry traces over OTLP/HTTP. Default off.
	Tracing Tracing `yaml:"tracing"`
	// Routes are matched by host, then longest path prefix, then method.
	Routes []Route `yaml:"routes"`
	// APISets holds settings per API set, by name: limits shared by every
	// route of the set. Default none.
	APISets map[string]APISet `yaml:"api_sets"`
	// trusted is TrustedProxies parsed by Validate (TrustedPrefixes).
	trusted []netip.Prefix
	// envSources maps a field path to the environment variable its value
	// came from (Parse's ${VAR}), so that problems can name the variable.
	envSources map[string]string
}

// Runtime is how keygate sets up the Go runtime at start. The environment
// variables GOMAXPROCS, GOGC and GOMEMLIMIT, when set, win over these.
type Runtime struct {
	// GOMAXPROCS: 0 (default) keeps Go's own choice, which follows the
	// container's CPU quota.
	GOMAXPROCS int `yaml:"gomaxprocs"`
	// GCPercent is GOGC. Default 400: a proxy's heap is small and its
	// garbage short-lived, so collecting less often buys throughput for
	// memory, which MemoryLimitMiB bounds. -1 turns the collector off
	// until the memory limit.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimitMiB is GOMEMLIMIT in MiB, the soft limit at which the
	// collector works harder whatever GCPercent says. Default 0: 90% of
	// the container's memory limit (cgroup v2 memory.max), or 1024 MiB
	// without one.
	MemoryLimitMiB int64 `yaml:"memory_limit_mib"`
}

// Server holds the public listener's timeouts and limits.
type Server struct {
	// ReadHeaderTimeout default 5s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout (whole request, body included) default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout default 60s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout between keep-alive requests, default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds the drain of in-flight requests on SIGTERM,
	// default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxHeaderBytes default 65536.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes caps a request body; larger ones get 413. Default
	// 10 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Upstream tunes the shared upstream Transport.
type Upstream struct {
	// DialTimeout default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// TLSHandshakeTimeout default 5s.
	TLSHandshakeTimeout time.Duration `yaml:"tls_handshake_timeout"`
	// ResponseHeaderTimeout default 30s.
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`
	// IdleConnTimeout default 90s.
	IdleConnTimeout time.Duration `yaml:"idle_conn_timeout"`
	// MaxIdleConnsPerHost default 256.
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host"`
	// HTTP2 speaks HTTP/2 to upstreams: over TLS by ALPN, and in clear
	// text with prior knowledge (h2c), so every cleartext upstream must
	// speak it. Default false: HTTP/1.1 with keep-alive.
	HTTP2 bool `yaml:"http2"`
	// TLS is how keygate speaks TLS to https upstreams. Default: the
	// system roots, no client certificate.
	TLS UpstreamTLS `yaml:"tls"`
}

// UpstreamTLS configures TLS toward every https upstream (the Transport is
// shared, so it is one setting for all of them).
type UpstreamTLS struct {
	// CAFile is a PEM bundle trusted instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate (mutual TLS), both or
	// neither. They are read again when they change on disk.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name checked in every upstream's certificate
	// instead of the host of its URL (for upstreams addressed by IP).
	ServerName string `yaml:"server_name"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json or console. Default json.
	Format string `yaml:"format"`
	// AccessLog writes one line per request. Default true.
	AccessLog *bool `yaml:"access_log"`
}

// AccessLogEnabled reports whether access logging is on (default true).
func (l Log) AccessLogEnabled() bool {
	if l.AccessLog == nil {
		return DefaultAccessLog
	}
	return *l.AccessLog
}

// Auth configures how credentials are verified.
type Auth struct {
	// DigestKeys are the server keys of the HMAC-SHA256 digests under
	// which secrets are stored. The first one digests new secrets; the
	// others still verify old ones, so a key can be rotated without
	// invalidating every credential. Write the secrets as ${ENV}
	// references. Default none: keygate generates one at first start,
	// keeps it in the store and warns at every start.
	DigestKeys []DigestKey `yaml:"digest_keys"`
	// EncryptionKeys, when set, make the long-lived tokens of named API
	// keys and the secrets of OAuth2 clients retrievable (a user can get a
	// key's token again later): they are also stored encrypted
	// (AES-256-GCM, key id with each ciphertext) and the show endpoints
	// return them. The first key encrypts; the others still decrypt.
	// Default none: secrets are shown once. Digests stay the only thing
	// verification uses.
	EncryptionKeys []DigestKey `yaml:"encryption_keys"`
	// LockoutThreshold is the number of calls with a wrong ApiKey token
	// after which the token of that ApiKey key is void, until it is
	// unvoided or rotated. From 1 to 1000. Default 3.
	LockoutThreshold int `yaml:"lockout_threshold"`
	// CacheTTL is how long a verified credential is trusted without
	// asking the store again: the hard cap on staleness if an
	// invalidation message is lost. Default 15s.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// NegativeCacheTTL is how long an unknown token is remembered as
	// unknown. Default 5s.
	NegativeCacheTTL time.Duration `yaml:"negative_cache_ttl"`
	// CacheSize bounds the number of cached credentials. Default 100000.
	CacheSize int `yaml:"cache_size"`
	// StaleIfError lets a credential verified less than this long ago keep
	// working while the store cannot be reached. Default 1m (a zero value
	// means the default; write 1ms to practically turn it off).
	StaleIfError time.Duration `yaml:"stale_if_error"`
	// FailureLimit bounds failed credential checks (unknown, wrong,
	// expired... credentials) per client address, per replica: past it
	// the address gets 429 without a look-up until its bucket refills, so
	// a guessing flood is answered cheaply. Default 20 per minute, burst
	// 20; rate -1 turns it off.
	FailureLimit FailureLimit `yaml:"failure_limit"`
	// KeyFailureLimit bounds wrong tokens per ApiKey key (an unknown key
	// counts too, so that it is answered as a wrong token is), per replica:
	// past it the key gets 429 before its token is compared or the store
	// asked, until its bucket refills. Default 10 per minute, burst 10;
	// the burst must be at least lockout_threshold, so that the void
	// always comes first; rate -1 turns it off.
	KeyFailureLimit FailureLimit `yaml:"key_failure_limit"`
	// IdentityHeaders are more header names (besides X-Keygate-*) that
	// upstreams treat as identity; client-sent ones are removed.
	IdentityHeaders []string `yaml:"identity_headers"`
	// UpstreamIdentity names the identity headers an authenticated
	// request carries to the upstream: user (X-Keygate-User),
	// credential_id, credential_kind, api_sets and scopes. Default all
	// five; [] sends none. Client-sent X-Keygate-* headers are removed
	// whatever this says. Name only those the upstream reads: it need not
	// be told more about a credential than it uses.
	UpstreamIdentity []string `yaml:"upstream_identity"`
	// JWT accepts Bearer JWTs from identity providers on proxied routes
	// (docs/federation.md). Default off.
	JWT JWT `yaml:"jwt"`
}

// The identity headers auth.upstream_identity can name, in the order
// they are documented.
const (
	IdentityUser           = "user"
	IdentityCredentialID   = "credential_id"
	IdentityCredentialKind = "credential_kind"
	IdentityAPISets        = "api_sets"
	IdentityScopes         = "scopes"
)

// IdentityNames are every name auth.upstream_identity accepts; its
// default is all of them.
var IdentityNames = []string{IdentityUser, IdentityCredentialID, IdentityCredentialKind, IdentityAPISets, IdentityScopes}

// OAuth configures OAuth2 client credentials: clients (a client ID and
// secret) and the tokens they get at /oauth/token.
type OAuth struct {
	// AccessTokenValidity is a new client's access token lifetime (a
	// client's accessTokenValiditySeconds). Default 12h (43200 seconds).
	AccessTokenValidity time.Duration `yaml:"access_token_validity"`
	// RefreshTokenValidity is a new client's refresh token lifetime (a
	// client's refreshTokenValiditySeconds). Default 720h (30 days).
	RefreshTokenValidity time.Duration `yaml:"refresh_token_validity"`
	// MaxAccessTokenValidity bounds the access token lifetime a client
	// may ask for; at most 876000h (100 years). Default 24h.
	MaxAccessTokenValidity time.Duration `yaml:"max_access_token_validity"`
	// MaxRefreshTokenValidity bounds the refresh token lifetime a client
	// may ask for; at most 876000h (100 years). Default 2160h (90 days).
	MaxRefreshTokenValidity time.Duration `yaml:"max_refresh_token_validity"`
	// IssueRefreshTokens issues a refresh token with client_credentials
	// tokens, as OAuth2 clients whose grant types are refresh_token and
	// client_credentials expect. Default true; RFC 6749 §4.4.3 says
	// SHOULD NOT, so set false where clients can simply ask again.
	IssueRefreshTokens *bool `yaml:"issue_refresh_tokens"`
	// SecretGrace keeps a client's previous secret working this long after
	// a new one is generated. Default 0: the old secret stops at once.
	SecretGrace time.Duration `yaml:"secret_grace"`
}

// RefreshTokensIssued reports whether refresh tokens are issued (default
// true).
func (o OAuth) RefreshTokensIssued() bool {
	if o.IssueRefreshTokens == nil {
		return DefaultIssueRefreshTokens
	}
	return *o.IssueRefreshTokens
}

// SelfService configures the self-service credential API (OAuth2 client
// credentials, named API keys and their long-lived key tokens, the ApiKey
// key and token) served on the public listener beside the proxied routes.
type SelfService struct {
	// Enabled serves /connect/register/createClientId, /oauth/*, /user,
	// /user/keys, /user/apikey, /openapi.json and the OAuth server metadata
	// (/.well-known/oauth-authorization-server) on the public listener.
	// Default false: those paths would shadow the same paths of an
	// upstream behind a catch-all route, so turning it on is a choice, and
	// routes may not overlap them while it is on.
	Enabled bool `yaml:"enabled"`
	// MaxPasswordFailuresPerUser is the number of failed password
	// sign-ins for one user within PasswordFailureWindow after which
	// sign-in is refused (429), right password or wrong. Default 10.
	MaxPasswordFailuresPerUser int `yaml:"max_password_failures_per_user"`
	// MaxPasswordFailuresPerAddress is the same per client address.
	// Default 50.
	MaxPasswordFailuresPerAddress int `yaml:"max_password_failures_per_address"`
	// PasswordFailureWindow is the time over which failed password
	// sign-ins are counted. Default 15m.
	PasswordFailureWindow time.Duration `yaml:"password_failure_window"`
	// MaxConcurrentPasswordChecks bounds the password checks (argon2id,
	// 19 MiB of memory each) running at once in this process, whatever
	// asks: the self-service API, the admin API and the account pages. A
	// check waits up to PasswordCheckQueueTimeout for a turn, then is
	// refused with 503 and Retry-After. Default 2.
	MaxConcurrentPasswordChecks int `yaml:"max_concurrent_password_checks"`
	// MaxConcurrentPasswordChecksPerAddress bounds the checks running or
	// waiting at once for one client address; one more is refused at once
	// with 429 and Retry-After. Default 2.
	MaxConcurrentPasswordChecksPerAddress int `yaml:"max_concurrent_password_checks_per_address"`
	// PasswordCheckQueueTimeout is how long a password check waits for a
	// turn under MaxConcurrentPasswordChecks. Default 2s.
	PasswordCheckQueueTimeout time.Duration `yaml:"password_check_queue_timeout"`
	// ManageKeyAuthorityFor lists the credentials whose creation needs the
	// MANAGE_USER_API_KEY (or ADMIN) authority, on the self-service API
	// and the account pages alike: named_keys (named API keys),
	// oauth_clients (OAuth2 clients and their new secrets), apikey (the
	// ApiKey token). Default (absent) [named_keys]; an empty list: none
	// does.
	ManageKeyAuthorityFor []string `yaml:"manage_key_authority_for"`
}

// The credential kinds of SelfService.ManageKeyAuthorityFor.
const (
	KeyKindNamedKeys    = "named_keys"    // named API keys (POST /user/keys)
	KeyKindOAuthClients = "oauth_clients" // OAuth clients and their new secrets
	KeyKindAPIKey       = "apikey"        // the ApiKey token (POST /user/apikey/token)
)

// KeyKinds are the values SelfService.ManageKeyAuthorityFor may hold.
var KeyKinds = []string{KeyKindNamedKeys, KeyKindOAuthClients, KeyKindAPIKey}

// NeedsKeyAuthority reports whether creating a credential of kind (one of
// KeyKinds) needs the MANAGE_USER_API_KEY authority. Without defaults
// applied (nil) it is the default's answer, so it never fails open.
func (s SelfService) NeedsKeyAuthority(kind string) bool {
	if s.ManageKeyAuthorityFor == nil {
		return kind == DefaultManageKeyAuthorityFor
	}
	for _, k := range s.ManageKeyAuthorityFor {
		if k == kind {
			return true
		}
	}
	return false
}

// On reports whether the self-service API is served.
func (s SelfService) On() bool { return s.Enabled }

// SelfServicePaths are the path prefixes the self-service API answers on;
// routes may not overlap them while it is enabled.
var SelfServicePaths = []string{"/connect/register", "/oauth", "/user", "/openapi.json", "/.well-known/oauth-authorization-server"}

// Account configures the account pages (sign in; OAuth2 clients, named
// API keys and the ApiKey key and token as screens; the administrators'
// user list) served on the public listener under Path.
type Account struct {
	// Enabled serves the pages. Default false, like self_service: Path
	// would shadow the same path of an upstream behind a catch-all route,
	// so turning it on is a choice, and routes may not overlap Path while
	// it is on.
	Enabled bool `yaml:"enabled"`
	// Path is where the pages live. Default "/account".
	Path string `yaml:"path"`
	// SessionIdleTimeout ends a session not used for this long. Default
	// 30m.
	SessionIdleTimeout time.Duration `yaml:"session_idle_timeout"`
	// SessionAbsoluteTimeout ends every session this long after sign-in,
	// used or not. Default 12h.
	SessionAbsoluteTimeout time.Duration `yaml:"session_absolute_timeout"`
	// SecureCookie marks the session cookie Secure on every answer. Default
	// false: Secure when the request came over TLS, or from a trusted
	// proxy with X-Forwarded-Proto: https. Set it when a TLS-terminating
	// proxy in front of keygate is not in trusted_proxies.
	SecureCookie bool `yaml:"secure_cookie"`
	// OIDC, when set, offers sign-in with an OpenID Connect provider
	// (oidc.go).
	OIDC *OIDC `yaml:"oidc"`
}

// On reports whether the account pages are served.
func (a Account) On() bool { return a.Enabled }

// FailureLimit is a per-address limit on failed credential checks.
type FailureLimit struct {
	// Rate is the number of failures forgiven every Per; -1 turns the
	// limit off.
	Rate int `yaml:"rate"`
	// Per default 1m.
	Per time.Duration `yaml:"per"`
	// Burst failures are allowed at once. Default Rate.
	Burst int `yaml:"burst"`
}

// On reports whether the failure limit is in force.
func (f FailureLimit) On() bool { return f.Rate > 0 }

// DigestKey is one server key for secret digests.
type DigestKey struct {
	// ID names the key in stored records: 1 to 16 of a-z and 0-9.
	ID string `yaml:"id"`
	// Secret is at least 32 bytes; write it as ${KEYGATE_DIGEST_KEY}.
	Secret string `yaml:"secret"`
}

// Store selects and configures the state backend.
type Store struct {
	// Driver is embedded (default, one instance) or redis (replicas).
	Driver string `yaml:"driver"`
	// Embedded configures the bbolt file.
	Embedded Embedded `yaml:"embedded"`
	// Redis configures the Redis client.
	Redis Redis `yaml:"redis"`
}

// Embedded configures the bbolt store.
type Embedded struct {
	// Path of the database file. Default "keygate.db".
	Path string `yaml:"path"`
}

// Redis configures go-redis's UniversalClient: one node, Sentinel (set
// master_name) or Cluster (set cluster).
type Redis struct {
	// Addrs: host:port of the node, of the sentinels (with master_name)
	// or of cluster nodes to learn the cluster from (with cluster).
	// Required when store.driver is redis.
	Addrs []string `yaml:"addrs"`
	// MasterName selects Sentinel mode.
	MasterName string `yaml:"master_name"`
	// SentinelUsername and SentinelPassword authenticate to the sentinels.
	SentinelUsername string `yaml:"sentinel_username"`
	SentinelPassword string `yaml:"sentinel_password"`
	// Cluster selects Cluster mode.
	Cluster bool `yaml:"cluster"`
	// Username and Password (ACL / AUTH); use ${VAR} for the password.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// DB number; must be 0 in Cluster mode.
	DB int `yaml:"db"`
	// TLS toward Redis.
	TLS ClientTLS `yaml:"tls"`
	// KeyPrefix is put before every key. Default "keygate:".
	KeyPrefix string `yaml:"key_prefix"`
	// PoolSize is connections per node; 0 lets go-redis choose
	// (10 per GOMAXPROCS).
	PoolSize int `yaml:"pool_size"`
	// DialTimeout default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout default 500ms; every store call also carries a deadline.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout default 500ms.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// RequireNoeviction makes start-up fail unless every Redis master
	// reports maxmemory-policy noeviction (a policy that cannot be read
	// fails too); on a later change, such as a failover to a master with
	// another policy, keygate logs an error and keeps running. Default
	// false: keygate only warns.
	RequireNoeviction bool `yaml:"require_noeviction"`
	// ReplicaWait bounds how long a record write, a delete or a void waits
	// for one replica to confirm it (Redis WAIT), when the node written to
	// has replicas; so that a revocation, void or new ApiKey token is not
	// lost in a failover. Default 100ms; negative turns the wait off. Not
	// above read_timeout.
	ReplicaWait time.Duration `yaml:"replica_wait"`
}

// ClientTLS configures TLS for an outgoing connection.
type ClientTLS struct {
	// Enabled turns TLS on (rediss://).
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle to trust instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate, both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name"`
}

// Route maps requests to an upstream.
type Route struct {
	// Name identifies the route in logs and metrics. Required, unique,
	// [a-z0-9_-].
	Name string `yaml:"name"`
	// Host, if set, must equal the request's host (port ignored, case
	// insensitive). Empty matches any host.
	Host string `yaml:"host"`
	// PathPrefix is matched on segment boundaries: "/pub" matches "/pub"
	// and "/pub/x" but not "/public". Required, starts with "/".
	PathPrefix string `yaml:"path_prefix"`
	// Methods allowed; empty allows all. Others get 405.
	Methods []string `yaml:"methods"`
	// Upstream is the http or https URL requests are sent to; its path, if
	// any, is put before the request path. unix:///path/to.sock sends them
	// over a Unix socket (the sidecar case: the application in the same
	// pod). Required, unless forward_auth is enabled: a route without one
	// is only checked for the ingress, and a request sent to keygate
	// itself for it is answered 404.
	Upstream string `yaml:"upstream"`
	// upstream is Upstream parsed by Validate (UpstreamURL).
	upstream *url.URL
	// StripPrefix removes PathPrefix before forwarding.
	StripPrefix bool `yaml:"strip_prefix"`
	// Timeout bounds the whole upstream exchange, body included, and
	// answers 504 past it. Default none: upstream.response_header_timeout
	// bounds the wait for the upstream's answer and server.write_timeout
	// the whole response (a per-route deadline costs a timer per request).
	Timeout time.Duration `yaml:"timeout"`
	// Auth is required (default), optional or none.
	Auth string `yaml:"auth"`
	// APISet the route belongs to. Required unless auth is none.
	APISet string `yaml:"api_set"`
	// Scopes overrides the scope a method needs (default: GET, HEAD and
	// OPTIONS need read, the others write), e.g. {POST: read}.
	Scopes map[string]string `yaml:"scopes"`
	// RateLimit, if set, limits the route's requests (429 past it).
	RateLimit *RateLimit `yaml:"rate_limit"`
	// Quota, if set, counts each credential's requests per day or month
	// (429 past it). Not on routes with auth none.
	Quota *Quota `yaml:"quota"`
	// ForwardAuthorization keeps the Authorization header toward the
	// upstream. Default false: keygate removes it, so the upstream never
	// sees the client's secret.
	ForwardAuthorization bool `yaml:"forward_authorization"`
	// MethodOverride names the one method-override header the route's
	// upstream honours: X-HTTP-Method-Override, X-HTTP-Method or
	// X-Method-Override, in any case. Default none: keygate
	// removes all three (and X-Original-URL, X-Rewrite-URL) from client
	// requests. When set, that header is forwarded, its value must be one
	// method the route serves, and the scope check uses that method.
	MethodOverride string `yaml:"method_override"`
	// CORS lets pages of other origins call the route from a browser; it
	// replaces the API set's cors. Default none (see docs/cors.md).
	CORS *CORS `yaml:"cors"`
}

// MethodOverrideHeaders are the method-override headers a route may name
// in method_override, canonical.
var MethodOverrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// Rate-limit keys: what a route's limit is counted per.
const (
	LimitByCredential = "credential"
	LimitByUser       = "user"
	LimitByRoute      = "route"
	LimitByAddress    = "address"
)

// What a limit does when its backend (Redis) cannot be reached.
const (
	OnErrorLocal      = "local"
	OnErrorFailOpen   = "fail_open"
	OnErrorFailClosed = "fail_closed"
)

// Rate-limit modes: how a limit shared through Redis is decided.
const (
	LimitExact = "exact"
	LimitFast  = "fast"
)

// RateLimit is a route's GCRA limit: Rate requests per Per, in bursts of
// up to Burst, counted per Key, shared by all replicas through Redis (in
// Mode exact or fast); with the embedded store it is kept in process.
type RateLimit struct {
	// Rate is the number of requests allowed per Per. Required.
	Rate int `yaml:"rate"`
	// Per is the period of Rate. Default 1s.
	Per time.Duration `yaml:"per"`
	// Burst is the most requests allowed at once. Default Rate.
	Burst int `yaml:"burst"`
	// Key is what the limit counts: credential (default where auth is
	// required or optional), user, route, or address (the client address;
	// the default, and the only choice, where auth is none). On an
	// optional route an anonymous request counts per address.
	Key string `yaml:"key"`
	// OnStoreError is what happens while Redis cannot be reached: local
	// (default: each replica limits on its own, in process), fail_open
	// (allow) or fail_closed (503).
	OnStoreError string `yaml:"on_store_error"`
	// Headers sends RateLimit-Limit, -Remaining and -Reset on allowed
	// responses too (they are always on 429s). Default true.
	Headers *bool `yaml:"headers"`
	// Mode, with the Redis store: fast (default: each replica decides in
	// process from budget leased from Redis in batches, so a request
	// normally costs no round trip) or exact (every decision atomically
	// in Redis). Ignored by the embedded store.
	Mode string `yaml:"mode"`
	// Batch is the most tokens a replica leases at once in fast mode.
	// Default 0: adaptive, up to a tenth of Burst and at most the tokens
	// of 100ms, at least 1. At most Burst.
	Batch int `yaml:"batch"`
}

// HeadersOn reports whether allowed responses carry RateLimit-* headers.
func (r *RateLimit) HeadersOn() bool {
	if r.Headers == nil {
		return DefaultRateLimitHeaders
	}
	return *r.Headers
}

// Scopes keygate knows by default.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// RequiredScope returns the scope a request with method needs on the
// route: the route's override if it has one, else read for GET, HEAD and
// OPTIONS and write for every other method.
func (r *Route) RequiredScope(method string) string {
	if s, ok := r.Scopes[method]; ok {
		return s
	}
	switch method {
	case "GET", "HEAD", "OPTIONS":
		return ScopeRead
	}
	return ScopeWrite
}

// TLS modes of the public listener.
const (
	TLSOff   = "off"
	TLSFiles = "files"
	TLSACME  = "acme"
)

// ACME challenge types.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// TLS configures TLS on the public listener.
type TLS struct {
	// Mode is off (default: plain HTTP, for a sidecar behind a TLS-ending
	// load balancer or mesh), files (a certificate and key from disk) or
	// acme (certificates obtained and renewed automatically).
	Mode string `yaml:"mode"`
	// MinVersion is the oldest TLS version accepted: "1.2" (default: what
	// every client in use speaks, with Go's default cipher suites, all of
	// them forward-secret AEADs) or "1.3".
	MinVersion string `yaml:"min_version"`
	// CertFile and KeyFile are PEM files, required when mode is files. A
	// change of either file (a rewrite, or a Kubernetes Secret's symlink
	// swap) is picked up within a second, without a restart; a pair that
	// does not load is logged and the previous one stays.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// HTTPListen, if set, is a plain HTTP listener (such as ":80") that
	// redirects every request to https (308) and, in acme mode, answers
	// ACME HTTP-01 challenges. Default none.
	HTTPListen string `yaml:"http_listen"`
	// ACME configures mode acme.
	ACME ACME `yaml:"acme"`
}

// ACME configures automatic certificates (CertMagic).
type ACME struct {
	// Domains are obtained at start and renewed before they expire.
	// Required unless on_demand_domains is set.
	Domains []string `yaml:"domains"`
	// Email is given to the CA for expiry notices. Optional.
	Email string `yaml:"email"`
	// CA is the ACME directory URL. Default Let's Encrypt's production
	// directory. Setting mode acme means agreeing to the CA's terms of
	// service.
	CA string `yaml:"ca"`
	// CARootFile is a PEM bundle to trust for the ACME server's own HTTPS
	// (a private CA such as Pebble or step-ca). Default the system roots.
	CARootFile string `yaml:"ca_root_file"`
	// StorageDir keeps certificates, keys, ACME accounts and locks in a
	// folder. Default empty: in keygate's store, so that replicas on Redis
	// share them and one replica orders a certificate for all.
	StorageDir string `yaml:"storage_dir"`
	// Challenges are the ACME challenge types offered: http-01 (needs
	// tls.http_listen reachable on port 80) and tls-alpn-01 (on the public
	// listener, which must be reachable on port 443). Default both where
	// possible: tls-alpn-01, and http-01 when http_listen is set.
	Challenges []string `yaml:"challenges"`
	// OnDemandDomains are names a certificate is obtained for at the first
	// handshake that asks for one (SNI), besides Domains. An entry is an
	// exact name or "*.example.com" (any one label under example.com).
	// Only these names are ever ordered. Default none (on-demand off).
	OnDemandDomains []string `yaml:"on_demand_domains"`
}
