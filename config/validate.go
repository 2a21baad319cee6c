package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	routeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	setName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	scopeName = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,63}$`)
	hostName  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// Methods a route may name. CONNECT and TRACE are never proxied.
var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true,
}

// Validate checks a defaulted Config and returns every problem found, each
// prefixed by its field path, joined with errors.Join. It reads nothing but
// the Config. The values it parses to check them it keeps, typed, for the
// components: trusted_proxies (TrustedPrefixes) and each route's upstream
// (Route.UpstreamURL), so that none of them parses the config again.
func (c *Config) Validate() error {
	var v problems
	v.addr("listen", c.Listen)
	v.addr("admin_listen", c.AdminListen)
	v.addr("health_listen", c.HealthListen)
	if c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") {
		v.add("admin_listen", "must differ from listen")
	}
	if (c.HealthListen == c.Listen || c.HealthListen == c.AdminListen) && !strings.HasSuffix(c.HealthListen, ":0") {
		v.add("health_listen", "must differ from listen and admin_listen")
	}

	s := c.Server
	v.positive("server.read_header_timeout", s.ReadHeaderTimeout)
	v.positive("server.read_timeout", s.ReadTimeout)
	v.positive("server.write_timeout", s.WriteTimeout)
	v.positive("server.idle_timeout", s.IdleTimeout)
	v.positive("server.shutdown_timeout", s.ShutdownTimeout)
	if s.MaxHeaderBytes < 1024 {
		v.add("server.max_header_bytes", "must be at least 1024")
	}
	if s.MaxBodyBytes < 0 {
		v.add("server.max_body_bytes", "must not be negative")
	}

	u := c.Upstream
	v.positive("upstream.dial_timeout", u.DialTimeout)
	v.positive("upstream.tls_handshake_timeout", u.TLSHandshakeTimeout)
	v.positive("upstream.response_header_timeout", u.ResponseHeaderTimeout)
	v.positive("upstream.idle_conn_timeout", u.IdleConnTimeout)
	if u.MaxIdleConnsPerHost < 1 {
		v.add("upstream.max_idle_conns_per_host", "must be at least 1")
	}
	if (u.TLS.CertFile == "") != (u.TLS.KeyFile == "") {
		v.add("upstream.tls", "cert_file and key_file go together")
	}

	c.trusted = make([]netip.Prefix, 0, len(c.TrustedProxies))
	for i, p := range c.TrustedProxies {
		pfx, err := ParsePrefix(p)
		if err != nil {
			v.add(fmt.Sprintf("trusted_proxies[%d]", i), err.Error())
		}
		c.trusted = append(c.trusted, pfx)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", fmt.Sprintf("%q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		v.add("log.format", fmt.Sprintf("%q is not one of json, console", c.Log.Format))
	}

	if c.Runtime.GOMAXPROCS < 0 {
		v.add("runtime.gomaxprocs", "must not be negative (0 keeps Go's choice)")
	}
	if c.Runtime.GCPercent < -1 {
		v.add("runtime.gc_percent", "must be -1 (off until the memory limit) or positive")
	}
	if c.Runtime.MemoryLimitMiB < 0 {
		v.add("runtime.memory_limit_mib", "must not be negative (0 picks one from the container's limit)")
	}
	c.validateTLS(&v)
	c.validateAuth(&v)
	c.validateOAuth(&v)
	c.validateStore(&v)
	c.validateAccount(&v)
	c.validateOIDC(&v)
	c.validateRoutes(&v)
	c.validateAPISets(&v)
	c.validateForwardAuth(&v)
	c.validateJWT(&v)
	c.validateTracing(&v)
	return v.err()
}

// MinDigestKeyLen is the shortest digest or encryption key secret, in
// bytes.
const MinDigestKeyLen = 32

var (
	keyID      = regexp.MustCompile(`^[a-z0-9]{1,16}$`)
	headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
)

func (c *Config) validateAuth(v *problems) {
	a := c.Auth
	c.checkKeys(v, "auth.digest_keys", a.DigestKeys)
	c.checkKeys(v, "auth.encryption_keys", a.EncryptionKeys)
	if a.LockoutThreshold < 1 || a.LockoutThreshold > 1000 {
		v.add("auth.lockout_threshold", "must be from 1 to 1000")
	}
	v.positive("auth.cache_ttl", a.CacheTTL)
	v.positive("auth.negative_cache_ttl", a.NegativeCacheTTL)
	v.positive("auth.stale_if_error", a.StaleIfError)
	if fl := a.FailureLimit; fl.Rate < -1 || fl.Per <= 0 || fl.Burst < 1 {
		v.add("auth.failure_limit", "rate must be positive (or -1 for off), per a positive duration, burst at least 1")
	}
	if fl := a.KeyFailureLimit; fl.Rate < -1 || fl.Per <= 0 || fl.Burst < 1 {
		v.add("auth.key_failure_limit", "rate must be positive (or -1 for off), per a positive duration, burst at least 1")
	} else if fl.On() && fl.Burst < a.LockoutThreshold {
		v.add("auth.key_failure_limit.burst", fmt.Sprintf("must be at least auth.lockout_threshold (%d), so that a token is void before its key is blocked", a.LockoutThreshold))
	}
	if a.CacheSize < 100 {
		v.add("auth.cache_size", "must be at least 100")
	}
	for i, h := range a.IdentityHeaders {
		if !headerName.MatchString(h) {
			v.add(fmt.Sprintf("auth.identity_headers[%d]", i), fmt.Sprintf("%q is not a header name", h))
		}
	}
	seenIdentity := map[string]bool{}
	for i, name := range a.UpstreamIdentity {
		f := fmt.Sprintf("auth.upstream_identity[%d]", i)
		switch {
		case !slices.Contains(IdentityNames, name):
			v.add(f, fmt.Sprintf("unknown identity header %q (want %s)", name, strings.Join(IdentityNames, ", ")))
		case seenIdentity[name]:
			v.add(f, fmt.Sprintf("%q is listed twice", name))
		}
		seenIdentity[name] = true
	}
}

// checkKeys checks a list of server keys (digest or encryption keys):
// unique ids, and secrets long and random enough.
func (c *Config) checkKeys(v *problems, path string, keys []DigestKey) {
	ids := map[string]bool{}
	for i, k := range keys {
		f := fmt.Sprintf("%s[%d]", path, i)
		if !keyID.MatchString(k.ID) {
			v.add(f+".id", "required: 1 to 16 of a-z and 0-9")
		} else if ids[k.ID] {
			v.add(f+".id", fmt.Sprintf("%q is used twice", k.ID))
		}
		ids[k.ID] = true
		if len(k.Secret) < MinDigestKeyLen {
			v.add(f+".secret", fmt.Sprintf("must be at least %d bytes (got %d); generate one with: openssl rand -base64 48", MinDigestKeyLen, len(k.Secret)))
		} else {
			c.secretProblem(v, f+".secret", k.Secret, "openssl rand -base64 48")
		}
	}
}

func (c *Config) validateOAuth(v *problems) {
	o := c.OAuth
	v.positive("oauth.access_token_validity", o.AccessTokenValidity)
	v.positive("oauth.refresh_token_validity", o.RefreshTokenValidity)
	if o.AccessTokenValidity > o.MaxAccessTokenValidity {
		v.add("oauth.access_token_validity", "must not exceed oauth.max_access_token_validity")
	}
	if o.RefreshTokenValidity > o.MaxRefreshTokenValidity {
		v.add("oauth.refresh_token_validity", "must not exceed oauth.max_refresh_token_validity")
	}
	// A credential lives at most 100 years (authz.MaxLifetime); longer
	// would come close to what a time.Duration holds.
	const maxValidity = 100 * 365 * 24 * time.Hour
	if o.MaxAccessTokenValidity > maxValidity {
		v.add("oauth.max_access_token_validity", "must be at most 876000h (100 years)")
	}
	if o.MaxRefreshTokenValidity > maxValidity {
		v.add("oauth.max_refresh_token_validity", "must be at most 876000h (100 years)")
	}
	if o.SecretGrace < 0 {
		v.add("oauth.secret_grace", "must not be negative")
	}
	ss := c.SelfService
	if ss.MaxPasswordFailuresPerUser < 1 {
		v.add("self_service.max_password_failures_per_user", "must be at least 1")
	}
	if ss.MaxPasswordFailuresPerAddress < 1 {
		v.add("self_service.max_password_failures_per_address", "must be at least 1")
	}
	v.positive("self_service.password_failure_window", ss.PasswordFailureWindow)
	if ss.MaxConcurrentPasswordChecks < 1 {
		v.add("self_service.max_concurrent_password_checks", "must be at least 1")
	}
	if ss.MaxConcurrentPasswordChecksPerAddress < 1 {
		v.add("self_service.max_concurrent_password_checks_per_address", "must be at least 1")
	}
	v.positive("self_service.password_check_queue_timeout", ss.PasswordCheckQueueTimeout)
	for i, k := range ss.ManageKeyAuthorityFor {
		f := fmt.Sprintf("self_service.manage_key_authority_for[%d]", i)
		switch {
		case !slices.Contains(KeyKinds, k):
			v.add(f, fmt.Sprintf("%q is not one of %s", k, strings.Join(KeyKinds, ", ")))
		case slices.Contains(ss.ManageKeyAuthorityFor[:i], k):
			v.add(f, fmt.Sprintf("%q is listed twice", k))
		}
	}
}

func (c *Config) validateStore(v *problems) {
	st := c.Store
	switch st.Driver {
	case DriverEmbedded:
	case DriverRedis:
		r := st.Redis
		if len(r.Addrs) == 0 {
			v.add("store.redis.addrs", "required when store.driver is redis")
		}
		for i, a := range r.Addrs {
			v.addr(fmt.Sprintf("store.redis.addrs[%d]", i), a)
		}
		if r.Cluster && r.MasterName != "" {
			v.add("store.redis.cluster", "cannot be combined with store.redis.master_name (Sentinel)")
		}
		if len(r.Addrs) > 1 && !r.Cluster && r.MasterName == "" {
			v.add("store.redis.addrs", fmt.Sprintf("%d addresses need master_name (Sentinel) or cluster: true", len(r.Addrs)))
		}
		if r.MasterName == "" && r.SentinelUsername != "" {
			v.add("store.redis.sentinel_username", "only used with master_name (Sentinel)")
		}
		if r.MasterName == "" && r.SentinelPassword != "" {
			v.add("store.redis.sentinel_password", "only used with master_name (Sentinel)")
		}
		if r.Cluster && r.DB != 0 {
			v.add("store.redis.db", "must be 0 in cluster mode")
		}
		if r.DB < 0 {
			v.add("store.redis.db", "must not be negative")
		}
		if r.PoolSize < 0 {
			v.add("store.redis.pool_size", "must not be negative")
		}
		if strings.ContainsAny(r.KeyPrefix, "{} \t\r\n") {
			v.add("store.redis.key_prefix", "must not contain braces or white space")
		}
		v.positive("store.redis.dial_timeout", r.DialTimeout)
		v.positive("store.redis.read_timeout", r.ReadTimeout)
		v.positive("store.redis.write_timeout", r.WriteTimeout)
		if r.ReplicaWait >= r.ReadTimeout && r.ReadTimeout > 0 {
			v.add("store.redis.replica_wait", fmt.Sprintf("must be below store.redis.read_timeout (%s): the wait is read on the connection", r.ReadTimeout))
		}
		if (r.TLS.CertFile == "") != (r.TLS.KeyFile == "") {
			v.add("store.redis.tls", "cert_file and key_file go together")
		}
		if !r.TLS.Enabled && (r.TLS.CAFile != "" || r.TLS.CertFile != "") {
			v.add("store.redis.tls.enabled", "must be true when TLS files are set")
		}
	default:
		v.add("store.driver", fmt.Sprintf("%q is not one of embedded, redis", st.Driver))
	}
}

func (c *Config) validateRoutes(v *problems) {
	if len(c.Routes) == 0 {
		v.add("routes", "at least one route is required")
	}
	names := map[string]int{}
	type matchKey struct{ host, prefix string }
	seen := map[matchKey][]int{} // the routes of each host and prefix
	for i, rt := range c.Routes {
		f := func(name string) string { return fmt.Sprintf("routes[%d].%s", i, name) }
		if !routeName.MatchString(rt.Name) {
			v.add(f("name"), "required: 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit")
		} else if j, dup := names[rt.Name]; dup {
			v.add(f("name"), fmt.Sprintf("%q is also the name of routes[%d]", rt.Name, j))
		} else {
			names[rt.Name] = i
		}
		if rt.Host != "" && !hostName.MatchString(rt.Host) {
			v.add(f("host"), fmt.Sprintf("%q is not a host name (no scheme, port or path)", rt.Host))
		}
		if err := checkPathPrefix(rt.PathPrefix); err != nil {
			v.add(f("path_prefix"), err.Error())
		} else if c.SelfService.On() {
			for _, p := range SelfServicePaths {
				if pathsOverlap(rt.PathPrefix, p) {
					v.add(f("path_prefix"), fmt.Sprintf("%q overlaps the self-service API at %s (move the route, or set self_service.enabled: false)", rt.PathPrefix, p))
					break
				}
			}
		}
		if c.Account.On() && checkPathPrefix(rt.PathPrefix) == nil && pathsOverlap(rt.PathPrefix, c.Account.Path) {
			v.add(f("path_prefix"), fmt.Sprintf("%q overlaps the account pages at %s (move the route, change account.path, or set account.enabled: false)", rt.PathPrefix, c.Account.Path))
		}
		for j, m := range rt.Methods {
			if !knownMethods[m] {
				v.add(fmt.Sprintf("routes[%d].methods[%d]", i, j), fmt.Sprintf("%q is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", m))
			}
		}
		k := matchKey{rt.Host, rt.PathPrefix}
		for _, j := range seen[k] {
			if msg := methodsOverlap(c.Routes, j, i); msg != "" {
				v.add(f("methods"), msg)
			}
		}
		seen[k] = append(seen[k], i)
		u, err := parseUpstream(rt.Upstream)
		switch {
		case rt.Upstream == "" && c.ForwardAuth.On():
			// checked for the ingress only (see ForwardAuth.Enabled)
		case err != nil:
			v.add(f("upstream"), err.Error())
		case isOwnListener(u, c.Listen):
			v.add(f("upstream"), fmt.Sprintf("%q is keygate's own listener (listen %q): every request would be proxied to itself until the process runs out of connections", rt.Upstream, c.Listen))
		}
		c.Routes[i].upstream = u
		if rt.Timeout < 0 {
			v.add(f("timeout"), "must not be negative")
		}
		switch rt.Auth {
		case AuthRequired, AuthOptional:
			if rt.APISet == "" {
				v.add(f("api_set"), "required when auth is "+rt.Auth)
			}
		case AuthNone:
		default:
			v.add(f("auth"), fmt.Sprintf("%q is not one of required, optional, none", rt.Auth))
		}
		if rt.APISet != "" && !setName.MatchString(rt.APISet) {
			v.add(f("api_set"), fmt.Sprintf("%q: use 1 to 64 of A-Z, a-z, 0-9, _, . and -", rt.APISet))
		}
		if rt.RateLimit != nil {
			rt.RateLimit.check(v, f("rate_limit"), rt.Auth == AuthNone)
		}
		if rt.Quota != nil {
			rt.Quota.check(v, f("quota"))
			if rt.Auth == AuthNone {
				v.add(f("quota"), "counts per credential: not on a route with auth none")
			}
		}
		if rt.CORS != nil {
			rt.CORS.check(v, f("cors"))
		}
		if rt.MethodOverride != "" && !slices.Contains(MethodOverrideHeaders, rt.MethodOverride) {
			v.add(f("method_override"), fmt.Sprintf("%q is not one of X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override", rt.MethodOverride))
		}
		for m, s := range rt.Scopes {
			if !knownMethods[m] {
				v.add(f("scopes."+m), "not a method this route can serve")
			}
			if !scopeName.MatchString(s) {
				v.add(f("scopes."+m), fmt.Sprintf("%q is not a scope name", s))
			}
		}
	}
}

// methodsOverlap describes how routes[j] and routes[i], of the same host
// and prefix, would both match a request, or returns "": the proxy sends
// such a request to the first, so the second would silently miss it.
func methodsOverlap(routes []Route, j, i int) string {
	a, b := routes[j], routes[i]
	both := fmt.Sprintf("routes[%d] (%q) and routes[%d] (%q) share host %q and prefix %q", i, b.Name, j, a.Name, b.Host, b.PathPrefix)
	switch {
	case len(a.Methods) == 0 && len(b.Methods) == 0:
		return both + " and neither has methods, so both serve every method: give them disjoint methods"
	case len(a.Methods) == 0 || len(b.Methods) == 0:
		k, other := j, b
		if len(b.Methods) == 0 {
			k, other = i, a
		}
		return fmt.Sprintf("%s: routes[%d] has no methods, so it also serves %s; list its methods, disjoint from those (for browser preflights, use cors rather than an OPTIONS route)", both, k, strings.Join(other.Methods, ", "))
	}
	served := func(ms []string) map[string]bool {
		set := make(map[string]bool, len(ms)+1)
		for _, m := range ms {
			set[m] = true
			if m == "GET" {
				set["HEAD"] = true // GET implies HEAD
			}
		}
		return set
	}
	sa, sb := served(a.Methods), served(b.Methods)
	var common []string
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		if sa[m] && sb[m] {
			common = append(common, m)
		}
	}
	if len(common) == 0 {
		return ""
	}
	return fmt.Sprintf("%s and both serve %s (GET implies HEAD): give them disjoint methods", both, strings.Join(common, ", "))
}

// checkPathPrefix accepts only canonical prefixes: the proxy compares them
// with canonical request paths, so a prefix that no canonical path can have
// would silently match nothing.
func checkPathPrefix(p string) error {
	switch {
	case p == "":
		return errors.New("required")
	case p[0] != '/':
		return fmt.Errorf("%q must start with /", p)
	case strings.ContainsAny(p, "%?#;\\ \t"):
		return fmt.Errorf("%q must not contain %%, ?, #, ;, \\ or white space", p)
	case strings.Contains(p, "//"):
		return fmt.Errorf("%q must not contain an empty segment", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%q must not contain . or .. segments", p)
		}
		if strings.HasSuffix(seg, ".") {
			return fmt.Errorf("%q must not have a segment ending in . (the proxy refuses such paths)", p)
		}
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] >= 0x7f {
			return fmt.Errorf("%q must be printable ASCII", p)
		}
	}
	return nil
}

// isOwnListener reports whether an http(s) upstream is the public
// listener itself on this host: the same port, on a loopback address,
// localhost, or the listener's own host. Other hosts may well be other
// machines, so only what is certainly a loop is refused.
func isOwnListener(u *url.URL, listen string) bool {
	if u.Scheme == "unix" {
		return false
	}
	lhost, lport, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if port != lport {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || host == strings.ToLower(lhost) {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && (a.IsLoopback() || a.IsUnspecified())
}

// pathsOverlap reports whether one prefix covers the other on a segment
// boundary ("/" covers everything).
func pathsOverlap(a, b string) bool {
	under := func(p, prefix string) bool {
		return prefix == "/" || p == prefix || strings.HasPrefix(p, prefix+"/")
	}
	return under(a, b) || under(b, a)
}

// parseUpstream parses a route's upstream: an http or https URL with a
// host, or unix:///absolute/path.sock.
func parseUpstream(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme == "unix" {
		switch {
		case u.Host != "" || !strings.HasPrefix(u.Path, "/") || len(u.Path) < 2:
			return nil, fmt.Errorf("%q: write a Unix socket as unix:///absolute/path.sock", s)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			return nil, errors.New("must not contain a query, fragment or user information")
		}
		return u, nil
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme must be http, https or unix, not %q", u.Scheme)
	case u.Host == "":
		return nil, errors.New("host is required")
	case u.User != nil:
		return nil, errors.New("must not contain user information")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, errors.New("must not contain a query or fragment")
	}
	return u, nil
}

// TrustedPrefixes is trusted_proxies as Validate parsed them. A config
// that has not been through Validate (Load and Parse run it) has none
// parsed: that is an error rather than an empty list, so that a
// component built from it fails instead of quietly trusting no proxy.
func (c *Config) TrustedPrefixes() ([]netip.Prefix, error) {
	if len(c.trusted) != len(c.TrustedProxies) {
		return nil, errors.New("trusted_proxies: not parsed (the config was not validated)")
	}
	return slices.Clone(c.trusted), nil
}

// UpstreamURL is the route's upstream as Validate parsed it (a copy), nil
// for a config that has not been through Validate.
func (r *Route) UpstreamURL() *url.URL {
	if r.upstream == nil {
		return nil
	}
	u := *r.upstream
	return &u
}

// ParsePrefix parses a trusted-proxy entry: a CIDR, or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// problems collects validation errors with their field paths.
type problems []error

func (v *problems) add(path, msg string) { *v = append(*v, fmt.Errorf("%s: %s", path, msg)) }

func (v *problems) positive(path string, d time.Duration) {
	if d <= 0 {
		v.add(path, "must be a positive duration such as 5s")
	}
}

func (v *problems) addr(path, a string) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		v.add(path, fmt.Sprintf("%q is not host:port", a))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(path, fmt.Sprintf("port %q is not a number from 0 to 65535", port))
	}
	if strings.ContainsAny(host, "/ ") {
		v.add(path, fmt.Sprintf("host %q is not a host name or IP address", host))
	}
}

func (v problems) err() error { return errors.Join(v...) }

// accountPath is what account.path may be: one or more plain segments
// (the pages' links are built from it unescaped).
var accountPath = regexp.MustCompile(`^(/[A-Za-z0-9][A-Za-z0-9_.-]*)+$`)

func (c *Config) validateAccount(v *problems) {
	a := c.Account
	if !accountPath.MatchString(a.Path) {
		v.add("account.path", fmt.Sprintf("%q must be / followed by segments of A-Z, a-z, 0-9, _, . and - (not / alone)", a.Path))
	} else if a.On() && c.SelfService.On() {
		for _, p := range SelfServicePaths {
			if pathsOverlap(a.Path, p) {
				v.add("account.path", fmt.Sprintf("%q overlaps the self-service API at %s", a.Path, p))
				break
			}
		}
	}
	v.positive("account.session_idle_timeout", a.SessionIdleTimeout)
	v.positive("account.session_absolute_timeout", a.SessionAbsoluteTimeout)
	if a.SessionIdleTimeout > a.SessionAbsoluteTimeout {
		v.add("account.session_idle_timeout", fmt.Sprintf("%s is longer than account.session_absolute_timeout (%s)", a.SessionIdleTimeout, a.SessionAbsoluteTimeout))
	}
}
