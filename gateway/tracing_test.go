package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/otlptest"
)

// The tracing tests run a real gateway whose exporter sends to an
// in-process OTLP/HTTP receiver (internal/otlptest), and an upstream that
// records the traceparent it receives. The spans are read after the
// gateway has stopped: its shutdown flushes the exporter's queue, so what
// the receiver holds then is everything exported.

// A client's trace: its trace id and the id of its own (client) span.
const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
)

func clientTraceparent(sampled bool) string {
	flags := "00"
	if sampled {
		flags = "01"
	}
	return "00-" + clientTraceID + "-" + clientSpanID + "-" + flags
}

// traceUpstream is an upstream that records the traceparent and
// tracestate of every request ("" when absent).
type traceUpstream struct {
	*httptest.Server
	mu                  sync.Mutex
	parents, tracestate []string
}

func newTraceUpstream(t *testing.T) *traceUpstream {
	u := &traceUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.parents = append(u.parents, r.Header.Get("Traceparent"))
		u.tracestate = append(u.tracestate, r.Header.Get("Tracestate"))
		u.mu.Unlock()
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(u.Close)
	return u
}

// last is the traceparent and tracestate of the last request.
func (u *traceUpstream) last(t *testing.T) (string, string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.parents) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.parents[len(u.parents)-1], u.tracestate[len(u.tracestate)-1]
}

// tracedGateway is a gateway on the embedded store with forward auth on,
// a route orders (rate limit per user, quota) to upstream, and tracing
// as given (the tracing section's lines).
func tracedGateway(t *testing.T, upstream, tracing string) string {
	return fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
trusted_proxies: [127.0.0.1]
store: {embedded: {path: %q}}
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
  failure_limit: {rate: -1}
forward_auth: {enabled: true}
tracing:
%s
routes:
  - name: orders
    path_prefix: /orders
    upstream: %s
    api_set: orders
    rate_limit: {rate: 100, per: 1s, key: user}
    quota: {requests: 1000}
`, filepath.Join(t.TempDir(), "k.db"), tracing, upstream)
}

// bootAlice boots cfg with an observed logger and gives alice (API set
// orders, scope read) a named key with the handle given: the gateway, its
// stop, the log lines and the key's token.
func bootAlice(t *testing.T, cfg *config.Config, handle string) (*Gateway, func(), *observer.ObservedLogs, string) {
	t.Helper()
	var logs *observer.ObservedLogs
	opts := Options{}
	opts.Logger, logs = observed()
	g, stop := boot(t, cfg, opts)
	if _, err := g.Auth().Accounts.CreateUser(t.Context(), authz.User{Name: "alice", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	return g, stop, logs, namedKey(t, g, "alice", handle)
}

// tracedRig is one test's traced gateway (bootAlice on tracedGateway):
// the OTLP receiver its tracing section names, the upstream, the config
// as YAML, and what bootAlice returns.
type tracedRig struct {
	rcv   *otlptest.Receiver
	up    *traceUpstream
	yaml  string
	g     *Gateway
	stop  func()
	logs  *observer.ObservedLogs
	token string
}

// bootTraced starts a receiver and an upstream and boots tracedGateway
// with the tracing lines given followed by the receiver's endpoint, alice
// holding a key with the handle given.
func bootTraced(t *testing.T, tracing, handle string) *tracedRig {
	t.Helper()
	r := &tracedRig{rcv: otlptest.Start(t), up: newTraceUpstream(t)}
	r.yaml = tracedGateway(t, r.up.URL, tracing+"\n  endpoint: "+r.rcv.Endpoint())
	r.g, r.stop, r.logs, r.token = bootAlice(t, parse(t, r.yaml), handle)
	return r
}

// order sends GET /orders/1 with alice's token and the other headers
// given (name, value pairs), and fails the test unless it is answered 200.
func (r *tracedRig) order(t *testing.T, headers ...string) {
	t.Helper()
	if code := get(t, "http://"+r.g.Addr().String()+"/orders/1", append([]string{"Authorization", "Bearer " + r.token}, headers...)...); code != 200 {
		t.Fatalf("status %d", code)
	}
}

// get sends GET url with headers (name, value pairs): the status.
func get(t *testing.T, url string, headers ...string) int {
	t.Helper()
	code, _, _ := call(t, "GET", url, headers...)
	return code
}

// parseTraceparent splits a version 00 traceparent: trace id, parent id,
// flags.
func parseTraceparent(t *testing.T, tp string) (traceID, spanID, flags string) {
	t.Helper()
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		t.Fatalf("traceparent %q is not a W3C traceparent", tp)
	}
	return parts[1], parts[2], parts[3]
}

// accessTraceIDs are the trace_id fields of the access lines, "" for a
// line without one.
func accessTraceIDs(logs *observer.ObservedLogs) []string {
	var ids []string
	for _, e := range logs.FilterMessage("request").All() {
		id, _ := e.ContextMap()["trace_id"].(string)
		ids = append(ids, id)
	}
	return ids
}

func spanNamed(t *testing.T, spans []otlptest.Span, name string) otlptest.Span {
	t.Helper()
	var found []otlptest.Span
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q among %d: %+v", len(found), name, len(spans), spans)
	}
	return found[0]
}

func wantAttrs(t *testing.T, s otlptest.Span, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got, ok := s.Attrs[k]; !ok || got != v {
			t.Errorf("span %s: %s = %q (present %v), want %q", s.Name, k, got, ok, v)
		}
	}
}

func wantChild(t *testing.T, s, parent otlptest.Span) {
	t.Helper()
	if s.TraceID != parent.TraceID || s.ParentID != parent.SpanID {
		t.Errorf("span %s: trace %s parent %s, want a child of %s (trace %s span %s)", s.Name, s.TraceID, s.ParentID, parent.Name, parent.TraceID, parent.SpanID)
	}
}

// TestTracingEndToEnd: a request with a client's traceparent reaches the
// upstream with the same trace id, the span id of keygate's upstream span
// and the client's tracestate; the request span is the child of the
// client's span, and authentication (store look-up, then the cache on the
// next request), rate limit, quota and upstream spans are its children,
// with the route, the user and the decision; the access line carries the
// trace id. A refused request starts a trace of its own, with the reason.
// A forward-auth check gets its request span too. No span or resource
// attribute holds a token, the query string or a cookie.
func TestTracingEndToEnd(t *testing.T) {
	r := bootTraced(t, "  enabled: true", "traced")
	rcv, up, g, stop, logs, token := r.rcv, r.up, r.g, r.stop, r.logs, r.token
	wrong := authz.NewToken(authz.KindKeyToken)
	base := "http://" + g.Addr().String()

	for i := range 2 {
		if code := get(t, base+"/orders/1?secret=q", "Authorization", "Bearer "+token, "Traceparent", clientTraceparent(true), "Tracestate", "vendor=opaque", "Cookie", "session=cookie-secret"); code != 200 {
			t.Fatalf("request %d: status %d", i, code)
		}
	}
	upParent, upState := up.last(t)
	upTrace, upSpan, upFlags := parseTraceparent(t, upParent)
	if upTrace != clientTraceID || upFlags != "01" || upSpan == clientSpanID {
		t.Errorf("upstream traceparent %q: want trace %s, sampled, a span of keygate's", upParent, clientTraceID)
	}
	if upState != "vendor=opaque" {
		t.Errorf("upstream tracestate %q, want the client's", upState)
	}
	if code := get(t, base+"/orders/1", "Authorization", "Bearer "+wrong); code != 401 {
		t.Fatalf("wrong token: status %d", code)
	}
	check := base + "/_keygate/auth"
	if code := get(t, check, "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http", "X-Forwarded-Host", "api.test", "X-Forwarded-Uri", "/orders/2",
		"Authorization", "Bearer "+token, "Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"); code != 200 {
		t.Fatalf("forward-auth check: status %d", code)
	}

	ids := accessTraceIDs(logs)
	stop() // flushes the exporter
	if len(ids) != 4 || ids[0] != clientTraceID || ids[1] != clientTraceID || ids[3] != "0af7651916cd43dd8448eb211c80319c" || len(ids[2]) != 32 || ids[2] == clientTraceID {
		t.Errorf("access lines' trace_id = %q", ids)
	}

	spans := rcv.Trace(clientTraceID)
	if len(spans) != 10 {
		t.Fatalf("%d spans of the client's trace, want 2 × 5: %+v", len(spans), spans)
	}
	// The two requests, told apart by their request ids.
	var requests []otlptest.Span
	for _, s := range spans {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			requests = append(requests, s)
		}
	}
	if len(requests) != 2 {
		t.Fatalf("%d server spans, want 2", len(requests))
	}
	for i, req := range requests {
		if req.ParentID != clientSpanID {
			t.Errorf("request span's parent %s, want the client's span %s", req.ParentID, clientSpanID)
		}
		if req.Name != "GET orders" || req.Resource["service.name"] != "keygate" || req.Scope == "" {
			t.Errorf("request span %q, resource %v, scope %q", req.Name, req.Resource, req.Scope)
		}
		wantAttrs(t, req, map[string]string{
			"keygate.route": "orders", "http.route": "/orders", "keygate.decision": "allowed", "keygate.mode": "proxy",
			"user.id": "alice", "keygate.credential.kind": "key_token", "http.response.status_code": "200",
			"http.request.method": "GET", "url.path": "/orders/1", "client.address": "127.0.0.1",
		})
		var children []otlptest.Span
		for _, s := range spans {
			if s.ParentID == req.SpanID {
				children = append(children, s)
			}
		}
		if len(children) != 4 {
			t.Fatalf("request %d: %d children, want authenticate, rate_limit, quota, upstream: %+v", i, len(children), children)
		}
		auth := spanNamed(t, children, "keygate.authenticate")
		source := "store"
		if i == 1 {
			source = "cache"
		}
		wantAttrs(t, auth, map[string]string{"keygate.decision": "allowed", "user.id": "alice", "keygate.credential.kind": "key_token", "keygate.auth.source": source})
		wantAttrs(t, spanNamed(t, children, "keygate.rate_limit"), map[string]string{"keygate.decision": "allowed"})
		wantAttrs(t, spanNamed(t, children, "keygate.quota"), map[string]string{"keygate.decision": "allowed"})
		upstream := spanNamed(t, children, "keygate.upstream")
		if upstream.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("upstream span kind %v", upstream.Kind)
		}
		wantAttrs(t, upstream, map[string]string{"keygate.route": "orders", "http.response.status_code": "200"})
		if i == 1 && upstream.SpanID != upSpan {
			t.Errorf("the upstream received parent %s, want the upstream span %s", upSpan, upstream.SpanID)
		}
	}

	refused := rcv.Trace(ids[2])
	if len(refused) != 2 {
		t.Fatalf("refused request: %d spans, want request and authenticate: %+v", len(refused), refused)
	}
	req := spanNamed(t, refused, "GET orders")
	if req.ParentID != "" {
		t.Errorf("refused request's span has parent %s: a new trace is a root", req.ParentID)
	}
	wantAttrs(t, req, map[string]string{"keygate.decision": "refused", "keygate.reason": "unknown", "http.response.status_code": "401"})
	if _, ok := req.Attrs["user.id"]; ok {
		t.Error("refused request's span names a user")
	}
	auth := spanNamed(t, refused, "keygate.authenticate")
	wantChild(t, auth, req)
	wantAttrs(t, auth, map[string]string{"keygate.decision": "refused", "keygate.reason": "unknown"})

	checked := rcv.Trace("0af7651916cd43dd8448eb211c80319c")
	creq := spanNamed(t, checked, "GET orders")
	if creq.ParentID != "b7ad6b7169203331" {
		t.Errorf("check's request span parent %s, want the ingress's span", creq.ParentID)
	}
	wantAttrs(t, creq, map[string]string{"keygate.mode": "forward_auth", "keygate.decision": "allowed", "user.id": "alice", "url.path": "/orders/2"})
	wantChild(t, spanNamed(t, checked, "keygate.authenticate"), creq)
	for _, s := range checked {
		if s.Name == "keygate.upstream" {
			t.Error("a forward-auth check has an upstream span")
		}
	}

	for _, s := range rcv.Spans() {
		for _, m := range []map[string]string{s.Attrs, s.Resource} {
			for k, v := range m {
				for _, secret := range []string{token, wrong, "secret=q", "cookie-secret"} {
					if strings.Contains(v, secret) {
						t.Errorf("span %s: attribute %s holds a secret: %q", s.Name, k, v)
					}
				}
			}
		}
	}
}

// TestTracingOff: with tracing off (an endpoint set, but not enabled) no
// traceparent is made up for the upstream, a client's passes through as
// it came, the access lines have no trace_id, and nothing is exported.
func TestTracingOff(t *testing.T) {
	r := bootTraced(t, "  enabled: false", "untraced")
	r.order(t)
	if tp, ts := r.up.last(t); tp != "" || ts != "" {
		t.Errorf("upstream got traceparent %q tracestate %q with tracing off", tp, ts)
	}
	r.order(t, "Traceparent", clientTraceparent(true), "Tracestate", "vendor=opaque")
	if tp, ts := r.up.last(t); tp != clientTraceparent(true) || ts != "vendor=opaque" {
		t.Errorf("upstream got traceparent %q tracestate %q, want the client's as sent", tp, ts)
	}
	for _, e := range r.logs.FilterMessage("request").All() {
		if _, ok := e.ContextMap()["trace_id"]; ok {
			t.Errorf("access line with trace_id while tracing is off: %v", e.ContextMap())
		}
	}
	r.stop()
	if n := r.rcv.Requests(); n != 0 {
		t.Errorf("%d exports with tracing off", n)
	}
}

// TestTracingSampleRatioZero: at sample_ratio 0 a trace keygate starts is
// not exported, but its traceparent (not sampled) still goes upstream and
// its trace id into the access line; a client's sampled traceparent is
// followed (parent-based sampling), so that trace is exported.
func TestTracingSampleRatioZero(t *testing.T) {
	r := bootTraced(t, "  enabled: true\n  sample_ratio: 0", "sampled")
	r.order(t)
	tp, _ := r.up.last(t)
	started, _, flags := parseTraceparent(t, tp)
	if flags != "00" {
		t.Errorf("unsampled trace sent upstream with flags %s", flags)
	}
	r.order(t, "Traceparent", clientTraceparent(true))
	if tp, _ := r.up.last(t); !strings.HasPrefix(tp, "00-"+clientTraceID+"-") || !strings.HasSuffix(tp, "-01") {
		t.Errorf("upstream traceparent %q, want the client's sampled trace", tp)
	}
	ids := accessTraceIDs(r.logs)
	r.stop()
	if len(ids) != 2 || ids[0] != started || ids[1] != clientTraceID {
		t.Errorf("access lines' trace_id = %q, want %s then %s", ids, started, clientTraceID)
	}
	if n := len(r.rcv.Trace(started)); n != 0 {
		t.Errorf("%d spans exported of an unsampled trace", n)
	}
	if n := len(r.rcv.Trace(clientTraceID)); n != 5 {
		t.Errorf("%d spans of the client's sampled trace, want 5", n)
	}
}

// TestTracingReloadNeedsRestart: a reload that changes the tracing
// section is applied for everything else, warns that tracing needs a
// restart, and the tracer of the start stays: spans still go to the
// first endpoint, none to the new one.
func TestTracingReloadNeedsRestart(t *testing.T) {
	r := bootTraced(t, "  enabled: true", "reload")
	first, second := r.rcv, otlptest.Start(t)
	up, y, g, stop, logs := r.up, r.yaml, r.g, r.stop, r.logs
	for _, change := range []string{
		"  enabled: true\n  endpoint: " + second.Endpoint(),
		"  enabled: false",
	} {
		// The same store path: only the tracing section changes.
		next := strings.Replace(y, "tracing:\n  enabled: true\n  endpoint: "+first.Endpoint(), "tracing:\n"+change, 1)
		if next == y {
			t.Fatal("the test's config did not change")
		}
		if err := g.Reload(parse(t, next)); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		warned := false
		for _, e := range logs.FilterMessage("config field changed but needs a restart to take effect").All() {
			warned = warned || e.ContextMap()["field"] == "tracing"
		}
		if !warned {
			t.Errorf("reload to %q: no restart warning naming tracing", change)
		}
		r.order(t)
		if tp, _ := up.last(t); tp == "" {
			t.Errorf("after the reload to %q the upstream got no traceparent: the tracer of the start must stay", change)
		}
	}
	stop()
	if n := second.Requests(); n != 0 {
		t.Errorf("%d exports to the endpoint of the reloaded config", n)
	}
	if n := len(first.Spans()); n != 10 {
		t.Errorf("%d spans at the endpoint of the start, want 2 requests × 5", n)
	}
}
