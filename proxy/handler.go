// Package proxy is keygate's request path: the route table, path
// canonicalisation, header hygiene, authentication through an
// Authenticator, and one httputil.ReverseProxy per route sharing one tuned
// Transport.
//
// Handler.ServeHTTP is the whole chain; the order of its steps is written
// in its doc comment and nowhere else.
package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/internal/httpkit"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/version"
	"github.com/keygate/keygate/ratelimit"
)

// Authenticator verifies a request's credential for what a route needs.
// *authz.Verifier implements it; its errors are authz's sentinels
// (ErrNoCredential, ErrMalformed, ErrInvalid, *ScopeError, ErrUnavailable),
// and any other error is answered 503: keygate fails closed.
type Authenticator interface {
	Verify(ctx context.Context, authorization []string, need authz.Need, client netip.Addr) (*authz.Identity, error)
}

var _ Authenticator = (*authz.Verifier)(nil)

// Options are a Handler's collaborators.
type Options struct {
	// Logger receives access and error logs. Nil: no logging.
	Logger *zap.Logger
	// Registerer receives the proxy metrics. Nil: a private registry.
	Registerer prometheus.Registerer
	// Authenticator verifies credentials. Nil: no credential can be
	// verified, so routes with auth required answer 401 to every request
	// and a credential sent to an optional route is refused.
	Authenticator Authenticator
	// Version is reported by keygate_build_info. Zero: the running
	// binary's (version.Get).
	Version version.Info
	// RateLimiter takes the decisions of routes with a rate_limit: the
	// Redis limiter shared by replicas, or an in-process one. Nil: an
	// in-process limiter.
	RateLimiter RateLimiter
	// Quotas counts requests of routes and API sets with a quota. Nil:
	// such requests are answered 503 (fail_closed) or let through
	// (fail_open).
	Quotas QuotaCounter
	// Tracer makes the spans of requests (see trace.go). Nil: tracing is
	// off, and the request path makes no span.
	Tracer trace.Tracer
}

// RateLimiter decides under a limit; *ratelimit.Redis and
// *ratelimit.Local implement it.
type RateLimiter interface {
	Allow(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error)
}

// Handler is the public listener's http.Handler. Its configuration can be
// replaced while it serves with Reload.
type Handler struct {
	log *zap.Logger
	// upstreamLines rate-limits the "upstream error" lines.
	upstreamLines *lineLimiter
	metrics       *metrics
	auth          Authenticator
	limiter       RateLimiter
	quotas        QuotaCounter
	tracer        trace.Tracer     // nil: tracing off
	local         *ratelimit.Local // fallback while the limiter's backend is down
	ids           *requestIDs
	state         atomic.Pointer[state]
	sockets       socketMap // Unix-socket upstreams, for the Transport's dialer
	unmatched     routeMetrics
}

// state is everything a Reload replaces at once.
type state struct {
	table       *table
	trusted     trustedProxies
	maxBody     int64
	accessLog   bool
	transport   *http.Transport
	upstreamCfg config.Upstream
	// extraIdentity: auth.identity_headers, canonical, removed from
	// client requests like X-Keygate-*.
	extraIdentity map[string]bool
	// failures limits failed credential checks per address; nil: off.
	failures   *failureGuard
	failureCfg config.FailureLimit
}

// MaxLimitKeys bounds the rate-limit keys (credential, user, address...)
// a limiter keeps state for in process: the in-process limiter's buckets,
// and the fast-mode leases of a shared one.
const MaxLimitKeys = 100_000

// New builds a Handler from a validated config.
func New(cfg *config.Config, opts Options) (*Handler, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if opts.Version == (version.Info{}) {
		opts.Version = version.Get()
	}
	m, err := newMetrics(reg, opts.Version)
	if err != nil {
		return nil, err
	}
	local, err := ratelimit.NewLocal(MaxLimitKeys, nil)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		upstreamLines: newLineLimiter(upstreamErrorLogEvery, time.Now),
		log:           log.Named("proxy"),
		metrics:       m,
		auth:          opts.Authenticator,
		limiter:       opts.RateLimiter,
		quotas:        opts.Quotas,
		tracer:        opts.Tracer,
		local:         local,
		ids:           newRequestIDs(),
	}
	if h.limiter == nil {
		h.limiter = local
	}
	if h.quotas == nil {
		h.quotas = noQuotas{}
	}
	h.unmatched = m.forRoute(unmatchedRoute)
	if err := h.Reload(cfg); err != nil {
		return nil, err
	}
	return h, nil
}

// Reload builds the route table, proxies and Transport for cfg and swaps
// them in at once: requests already running finish on the old ones, new
// requests use the new ones. On error nothing changes.
func (h *Handler) Reload(cfg *config.Config) error {
	old := h.state.Load()
	s := &state{
		maxBody:     cfg.Server.MaxBodyBytes,
		accessLog:   cfg.Log.AccessLogEnabled(),
		upstreamCfg: cfg.Upstream,
	}
	if old != nil && old.failures != nil && old.failureCfg == cfg.Auth.FailureLimit {
		s.failures = old.failures // keep the counts across a reload
	} else {
		var err error
		if s.failures, err = newFailureGuard(cfg.Auth.FailureLimit); err != nil {
			return err
		}
	}
	s.failureCfg = cfg.Auth.FailureLimit
	for _, name := range cfg.Auth.IdentityHeaders {
		if s.extraIdentity == nil {
			s.extraIdentity = map[string]bool{}
		}
		s.extraIdentity[http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))] = true
	}
	trusted, err := cfg.TrustedPrefixes()
	if err != nil {
		return err
	}
	s.trusted = trusted
	if old != nil && old.upstreamCfg == cfg.Upstream {
		s.transport = old.transport
	} else {
		var err error
		if s.transport, err = newTransport(cfg.Upstream, &h.sockets, h.log); err != nil {
			return err
		}
	}
	sockets := map[string]string{}
	t, err := compileTable(cfg, sockets, func(rt *Route) error {
		rt.metrics = h.metrics.forRoute(rt.Name)
		if rt.target == nil {
			return nil // checked for forward auth only: nothing to proxy to
		}
		rt.proxy = &httputil.ReverseProxy{
			Rewrite:        rt.rewrite,
			Transport:      s.transport,
			BufferPool:     bufferPool{},
			ErrorHandler:   h.upstreamError,
			ModifyResponse: markUpstreamResponse,
			ErrorLog:       zap.NewStdLog(h.log.Named("httputil")),
		}
		if rt.cors != nil {
			rt.proxy.ModifyResponse = stripUpstreamCORS
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.table = t
	h.sockets.m.Store(&sockets)
	h.state.Store(s)
	if old != nil && old.transport != s.transport {
		// Connections in use finish; idle ones are closed now.
		old.transport.CloseIdleConnections()
	}
	return nil
}

// Close releases idle upstream connections.
func (h *Handler) Close() {
	if s := h.state.Load(); s != nil {
		s.transport.CloseIdleConnections()
	}
}

// exchange is one request's state between ServeHTTP and the proxy's
// Rewrite, ModifyResponse and ErrorHandler.
type exchange struct {
	route         *Route
	path          string // canonical request path, once accepted
	host          string // the normalised Host (see parseHost), for X-Forwarded-Host
	method        string // the method checked: the request's, or the route's method_override
	realIP        bool   // the client sent X-Real-IP; the upstream gets ex.client
	upstreamPath  string
	requestID     []string   // X-Request-Id's value, shared by response and upstream request
	peer          netip.Addr // the connection's peer
	client        netip.Addr // who the request is from (see trustedProxies.clientAddr)
	trustedPeer   bool
	identity      *authz.Identity
	keepAuth      bool
	upstreamStart time.Time
	upstreamDur   time.Duration
	upstreamErr   string
	reason        string // why the request was refused: authz.Reason's words, rate_limited, quota_exceeded...
	mode          mode   // proxy, or a forward-auth check (see Check)
	refused       bool   // keygate answered with an error of its own
	// Tracing (trace.go); nil with tracing off. traceCtx holds the
	// innermost span: the request's, then the upstream call's.
	span, upstreamSpan trace.Span
	traceCtx           context.Context
}

type exchangeKey struct{}

// exchangeCtx carries the exchange in the request's context without a
// context.WithValue allocation of its own.
type exchangeCtx struct {
	context.Context
	ex *exchange
}

func (c exchangeCtx) Value(key any) any {
	if _, ok := key.(exchangeKey); ok {
		return c.ex
	}
	return c.Context.Value(key)
}

func exchangeOf(r *http.Request) *exchange {
	ex, _ := r.Context().Value(exchangeKey{}).(*exchange)
	return ex
}

// ServeHTTP runs a request through keygate, in this order:
//
//  1. request id: the client's X-Request-Id if well-formed, else a new one;
//     echoed in the response; with tracing on, the request span starts,
//     continuing the client's traceparent;
//  2. path: canonicalised once (see canonicalPath); refused forms get 400;
//     so does a Host that is not a name or IP literal with an optional
//     port (see parseHost);
//  3. route: host, longest path prefix, method; no match is 404 and a
//     method the route does not serve is 405 — neither is ever proxied;
//     on a route with a cors policy a CORS preflight is answered here,
//     and other requests get the policy's headers (see cors.go);
//  4. body: a declared Content-Length over server.max_body_bytes is 413,
//     and the body is capped while it streams;
//  5. header hygiene: client-sent X-Keygate-* headers, method and path
//     override headers (but the route's method_override) and X-Real-IP are
//     removed; a method_override's value must be one method the route
//     serves (400, 405) and is the method the scope check uses;
//  6. authentication and policy through the Authenticator (routes with
//     auth none skip it), unless the client address has failed too many
//     credential checks (429 without a look-up); then the rate limits of
//     the route and of its API set (6b), then their quotas (6c);
//  7. the route's ReverseProxy, under the route's timeout if it has one
//     (otherwise upstream.response_header_timeout and server.write_timeout
//     bound the exchange); its Rewrite sets
//     the upstream URL, X-Forwarded-*, X-Request-Id and the identity
//     headers, after the proxy has removed hop-by-hop headers, so a
//     "Connection: X-Keygate-User" from the client cannot remove them,
//     and with tracing on the traceparent of the upstream call's span;
//  8. metrics, the end of the spans and the access log line.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.handle(w, r, modeProxy, nil)
}

// handle is ServeHTTP for both modes: serve's decision, or the refusal
// given, then metrics and the access log. It reports whether a check was
// allowed with the route's forward_authorization (see Check).
func (h *Handler) handle(w http.ResponseWriter, r *http.Request, mode mode, refusal *httpkit.Error) (keepAuth bool) {
	start := time.Now()
	s := h.state.Load()
	h.metrics.inFlight.Inc()
	c := calls.Get().(*call)
	rec, ex := &c.rec, &c.ex
	rec.ResponseWriter, rec.status = w, http.StatusOK
	ex.mode = mode
	h.startRequest(r, ex)

	if ids := r.Header[headerRequestID]; len(ids) == 1 && httpkit.ValidRequestID(ids[0]) {
		ex.requestID = ids
	} else {
		ex.requestID = []string{h.ids.next()}
	}
	w.Header()[headerRequestID] = ex.requestID

	// A ReverseProxy whose upstream abandons the body mid-way panics with
	// http.ErrAbortHandler; the deferred call still does the books and the
	// access line, and the panic goes on to net/http, which cuts the
	// connection. On the normal path it is an open-coded defer: a flag test.
	finished := false
	defer func() {
		if !finished {
			h.abandoned(r, s, c, start, mode)
		}
	}()

	e := refusal
	if e == nil {
		e = h.serve(rec, r, s, ex)
	} else {
		ex.peer = peerAddr(r.RemoteAddr)
		ex.client = ex.peer
	}
	if e != nil {
		ex.refused = true
		httpkit.WriteError(rec, e)
		h.logRefusal(r, ex, e)
	}

	finished = true
	h.account(r, s, c, start, mode)
	keepAuth = ex.keepAuth && e == nil
	*c = call{}
	calls.Put(c)
	return keepAuth
}

// account is step 8: in-flight, request count and duration, spans,
// access line.
func (h *Handler) account(r *http.Request, s *state, c *call, start time.Time, mode mode) {
	rec, ex := &c.rec, &c.ex
	h.metrics.inFlight.Dec()
	elapsed := time.Since(start)
	rm := &h.unmatched
	if ex.route != nil {
		rm = &ex.route.metrics
	}
	rm.request(mode, r.Method, rec.status)
	rm.duration[mode].Observe(elapsed.Seconds())
	if !ex.upstreamStart.IsZero() {
		rm.upstream.Observe(ex.upstreamDur.Seconds())
	}
	h.endRequest(r, ex, rec.status)
	if s.accessLog {
		h.logAccess(r, ex, rec, elapsed)
	}
}

// abandoned accounts for an exchange that ended in a panic: in practice
// http.ErrAbortHandler from the ReverseProxy when the upstream closed the
// connection (or the client went away) in the middle of the response
// body. It is counted as an upstream error of kind aborted. The call is
// not returned to the pool: the panic may leave references behind.
func (h *Handler) abandoned(r *http.Request, s *state, c *call, start time.Time, mode mode) {
	ex := &c.ex
	if ex.route != nil && ex.route.target != nil && !ex.upstreamStart.IsZero() {
		if ex.upstreamErr == "" {
			ex.upstreamErr = upstreamAborted
			ex.route.metrics.upstreamErrors[upstreamAborted].Inc()
			if ce := h.log.Check(zapcore.WarnLevel, "upstream error"); ce != nil {
				ce.Write(zap.String("kind", upstreamAborted), zap.String("request_id", ex.requestID[0]), zap.String("route", ex.route.Name))
			}
		}
		if ex.upstreamDur == 0 {
			ex.upstreamDur = time.Since(ex.upstreamStart)
		}
	}
	h.account(r, s, c, start, mode)
}

// call is one request's recorder and exchange, pooled: nothing keeps a
// reference once ServeHTTP returns.
type call struct {
	rec recorder
	ex  exchange
}

var calls = sync.Pool{New: func() any { return new(call) }}

// serve is steps 2 to 7; an *httpkit.Error it returns is written by ServeHTTP.
func (h *Handler) serve(w *recorder, r *http.Request, s *state, ex *exchange) *httpkit.Error {
	ex.peer = peerAddr(r.RemoteAddr)
	ex.trustedPeer = len(s.trusted) > 0 && s.trusted.contains(ex.peer)
	ex.client = ex.peer
	if ex.trustedPeer {
		ex.client = s.trusted.clientAddr(ex.peer, r.Header["X-Forwarded-For"])
	}

	if r.URL.Opaque != "" {
		return errBadRequestPath
	}
	path, _, err := canonicalPath(httpkit.RawPath(r))
	if err != nil {
		return errBadRequestPath
	}

	host, normalHost, ok := parseHost(r.Host)
	if !ok {
		return errBadHost
	}
	ex.host = normalHost

	if r.Method == http.MethodTrace || r.Method == http.MethodConnect {
		return errMethodRefused
	}
	if s.table.cors && isPreflight(r) {
		if rt := s.table.preflight(w, r, host, path); rt != nil {
			ex.route, ex.path = rt, path
			return nil // answered, never proxied
		}
	}
	rt, allow := s.table.match(host, path, r.Method)
	if rt == nil {
		if allow != "" {
			if s.table.cors {
				if prt, _ := s.table.policyAt(host, path); prt != nil {
					prt.corsActual(w, r)
				}
			}
			w.Header()["Allow"] = []string{allow}
			return errMethodNotAllowed
		}
		return errNotFound
	}
	if rt.target == nil && ex.mode != modeCheck {
		return errNotFound // a route for forward auth only
	}
	if rt.cors != nil {
		rt.corsActual(w, r)
	}
	ex.route = rt
	ex.path = path
	ex.upstreamPath = rt.upstreamPath(path)

	if r.ContentLength > s.maxBody {
		return errTooLarge
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	}

	ex.realIP = stripClient(r.Header, s.extraIdentity, rt.override)
	ex.method = r.Method
	if rt.override != "" {
		if v := r.Header[rt.override]; len(v) > 0 {
			if len(v) != 1 || !isMethod(v[0]) {
				return errBadOverride
			}
			if rt.methods != nil && !rt.methods[v[0]] {
				w.Header()["Allow"] = []string{rt.allow}
				return errMethodNotAllowed
			}
			ex.method = v[0]
		}
	}

	if rt.Auth != config.AuthNone {
		if s.failures != nil && len(r.Header["Authorization"]) > 0 {
			if e := s.failures.check(ex.client); e != nil {
				ex.reason = reasonTooManyFailures
				return e
			}
		}
		id, e := h.tracedAuthenticate(r, rt, ex)
		if e != nil {
			if s.failures != nil && (e == httpkit.ErrInvalidToken || e == httpkit.ErrMalformed) {
				s.failures.failed(ex.client)
			}
			return e
		}
		ex.identity = id
	}
	ex.keepAuth = rt.cfg.ForwardAuthorization

	if rt.limit != nil || rt.setLimit != nil {
		if e := h.tracedRateLimit(w, r, rt, ex); e != nil {
			ex.reason = policyReason(e, reasonRateLimited)
			return e
		}
	}
	if rt.quota != nil || rt.setQuota != nil {
		if e := h.tracedQuota(r, rt, ex); e != nil {
			ex.reason = policyReason(e, reasonQuotaExceeded)
			return e
		}
	}

	if ex.mode == modeCheck {
		allowCheck(w, rt, ex)
		return nil
	}
	ctx := r.Context()
	if rt.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rt.timeout)
		defer cancel()
	}
	h.startUpstream(r, ex)
	rt.proxy.ServeHTTP(w, r.WithContext(exchangeCtx{ctx, ex}))
	return nil
}

// authenticate is step 6: it returns the identity, nil for an anonymous
// request on an optional route, or the error to answer. ctx is r's, or
// its span's with tracing on.
func (h *Handler) authenticate(ctx context.Context, r *http.Request, rt *Route, ex *exchange) (*authz.Identity, *httpkit.Error) {
	if h.auth == nil {
		if rt.Auth == config.AuthOptional && len(r.Header["Authorization"]) == 0 {
			return nil, nil
		}
		if len(r.Header["Authorization"]) == 0 {
			ex.reason = authz.Reason(authz.ErrNoCredential)
			return nil, httpkit.ErrNoCredential
		}
		ex.reason = reasonNoAuthenticator
		return nil, httpkit.ErrInvalidToken
	}
	id, err := h.auth.Verify(ctx, r.Header["Authorization"], authz.Need{APISet: rt.APISet, Scope: rt.RequiredScope(ex.method)}, ex.client)
	if err == nil {
		return id, nil
	}
	if !(rt.Auth == config.AuthOptional && errors.Is(err, authz.ErrNoCredential)) {
		ex.reason = authz.Reason(err)
	}
	var scopeErr *authz.ScopeError
	switch {
	case errors.Is(err, authz.ErrNoCredential) && rt.Auth == config.AuthOptional:
		return nil, nil
	case errors.As(err, &scopeErr):
		return nil, rt.scopeError(scopeErr.Scope, scopeErr.Scope == rt.RequiredScope(ex.method))
	}
	return nil, httpkit.Answer(err, httpkit.ForProxy)
}

// isMethod reports whether m is one of the methods a route can serve.
func isMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// rewrite is the route's httputil.ReverseProxy Rewrite: it only shapes
// the outgoing request; every decision was taken before.
func (rt *Route) rewrite(pr *httputil.ProxyRequest) {
	ex := exchangeOf(pr.In)
	out := pr.Out
	out.URL.Scheme = rt.target.Scheme
	out.URL.Host = rt.target.Host
	setPath(out.URL, ex.upstreamPath)
	out.URL.RawQuery = pr.In.URL.RawQuery
	out.Host = ""

	h := out.Header
	if ex.trustedPeer {
		if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
			h["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + ex.peer.String()}
		} else {
			h["X-Forwarded-For"] = []string{ex.peer.String()}
		}
		if v := pr.In.Header["X-Forwarded-Proto"]; len(v) > 0 {
			h["X-Forwarded-Proto"] = v[:1]
		}
		if v := pr.In.Header["X-Forwarded-Host"]; len(v) > 0 {
			h["X-Forwarded-Host"] = v[:1]
		}
	} else {
		h["X-Forwarded-For"] = []string{ex.peer.String()}
	}
	if len(h["X-Forwarded-Proto"]) == 0 {
		if pr.In.TLS != nil {
			h["X-Forwarded-Proto"] = protoHTTPS
		} else {
			h["X-Forwarded-Proto"] = protoHTTP
		}
	}
	if len(h["X-Forwarded-Host"]) == 0 {
		h["X-Forwarded-Host"] = []string{ex.host}
	}
	if ex.realIP {
		h["X-Real-Ip"] = []string{ex.client.String()}
	}
	h[headerRequestID] = ex.requestID
	if !ex.keepAuth {
		delete(h, "Authorization")
	}
	// Hop-by-hop headers were removed before Rewrite; strip the identity
	// namespace again in case a Connection header named one of them
	// differently, then set ours.
	stripIdentity(h, nil)
	if id := ex.identity; id != nil {
		rt.identity.set(h, id.HeaderValues())
	}
	if ex.span != nil {
		injectTrace(h, ex)
	}
	ex.upstreamStart = time.Now()
}

// Shared, read-only header values.
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// markUpstreamResponse records when the upstream's response headers came.
func markUpstreamResponse(resp *http.Response) error {
	if ex := exchangeOf(resp.Request); ex != nil {
		ex.upstreamDur = time.Since(ex.upstreamStart)
		traceUpstreamResponse(ex, resp.StatusCode)
	}
	return nil
}

// upstreamError answers a failed upstream exchange: 504 for a timeout,
// 413 for a body over the limit, 502 otherwise.
func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	ex := exchangeOf(r)
	kind, e := upstreamOther, errBadGateway
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		kind, e = "", errTooLarge
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		kind, e = upstreamTimeout, errTimeout
	case errors.Is(err, context.Canceled):
		kind = upstreamCanceled // the client went away; nobody reads the answer
	case isConnect(err):
		kind = upstreamConnect
	}
	if ex != nil {
		ex.upstreamDur = time.Since(ex.upstreamStart)
		ex.upstreamErr = kind
		if kind != "" {
			ex.route.metrics.upstreamErrors[kind].Inc()
		}
	}
	if ce := h.log.Check(zapcore.WarnLevel, "upstream error"); ce != nil && kind != upstreamCanceled {
		route := ""
		if ex != nil {
			route = ex.route.Name
		}
		// One line per route and kind per upstreamErrorLogEvery: a dead
		// upstream under load would write one per request.
		if ok, suppressed := h.upstreamLines.allow(route, kind); ok {
			fields := []zap.Field{zap.String("kind", kind), zap.Error(err), zap.Int("suppressed", suppressed)}
			if ex != nil {
				fields = append(fields, zap.String("request_id", ex.requestID[0]), zap.String("route", route))
			}
			ce.Write(fields...)
		}
	}
	httpkit.WriteError(w, e)
}

// logRefusal writes a debug line for a request keygate answered itself.
func (h *Handler) logRefusal(r *http.Request, ex *exchange, e *httpkit.Error) {
	if ce := h.log.Check(zapcore.DebugLevel, "request refused"); ce != nil {
		ce.Write(zap.String("request_id", ex.requestID[0]), zap.Int("status", e.Status), zap.String("code", e.Code), zap.NamedError("cause", e.Cause))
	}
}

// logAccess writes the access log line. The query string, Authorization
// and cookies are never logged; the path logged is the one the route
// matched.
func (h *Handler) logAccess(r *http.Request, ex *exchange, rec *recorder, elapsed time.Duration) {
	ce := h.log.Check(zapcore.InfoLevel, "request")
	if ce == nil {
		return
	}
	route := unmatchedRoute
	if ex.route != nil {
		route = ex.route.Name
	}
	var fields [accessFields]zap.Field
	f := append(fields[:0],
		zap.String("request_id", ex.requestID[0]),
		zap.String("route", route),
		zap.String("method", r.Method),
		zap.String("host", logHost(ex)),
		zap.String("path", logPath(ex)),
		zap.Int("status", rec.status),
		zap.Duration("duration", elapsed),
		zap.Int64("bytes", rec.bytes),
		zap.Duration("upstream_duration", ex.upstreamDur),
		zap.String("client", ex.client.String()),
		zap.String("user_agent", userAgent(r)),
		zap.String("mode", modeLabels[ex.mode]),
	)
	if id := ex.identity; id != nil {
		f = append(f,
			zap.String("user", id.User),
			zap.String("credential_id", id.CredentialID),
			zap.String("credential_kind", string(id.Kind)),
		)
	}
	if ex.reason != "" {
		f = append(f, zap.String("reason", ex.reason))
	}
	if ex.upstreamErr != "" {
		f = append(f, zap.String("upstream_error", ex.upstreamErr))
	}
	if ex.span != nil {
		f = append(f, zap.String("trace_id", traceID(ex)))
	}
	ce.Write(f...)
}

// accessFields is the most fields an access line has.
const accessFields = 18

// Refusal reasons besides authz.Reason's, for the access line.
const (
	reasonRateLimited     = "rate_limited"
	reasonQuotaExceeded   = "quota_exceeded"
	reasonTooManyFailures = "too_many_failures" // auth.failure_limit: the address failed too many checks
	reasonStoreError      = "store_error"
	reasonNoAuthenticator = "unknown" // no Authenticator: no credential can be verified
)

// policyReason is the reason of a rate-limit or quota refusal: 503s say
// the store could not be asked, 429s the limit.
func policyReason(e *httpkit.Error, limited string) string {
	if e.Status == http.StatusServiceUnavailable {
		return reasonStoreError
	}
	return limited
}

// maxUserAgent bounds the User-Agent logged: the client chooses it.
const maxUserAgent = 256

// userAgent is the request's User-Agent for logs, cut at maxUserAgent
// bytes.
func userAgent(r *http.Request) string {
	v := r.Header["User-Agent"]
	if len(v) == 0 {
		return ""
	}
	if len(v[0]) > maxUserAgent {
		return v[0][:maxUserAgent]
	}
	return v[0]
}

// logHost is the normalised Host for logs, or a fixed marker when the
// request was refused before the Host was accepted.
func logHost(ex *exchange) string {
	if ex.host == "" {
		return "(refused)"
	}
	return ex.host
}

// logPath is the request path for logs: the canonical path once it was
// accepted, otherwise a fixed marker (a refused path may hold anything).
func logPath(ex *exchange) string {
	if ex.path == "" {
		return "(refused)"
	}
	return ex.path
}
