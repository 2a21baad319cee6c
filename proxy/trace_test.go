package proxy

import (
	"fmt"
	"net"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestTraceRefusalsAndUpstreamErrors: the spans of the paths the gateway's
// end-to-end test does not take, through a real listener and the SDK's
// in-memory exporter: a rate-limited request (its span refused with
// rate_limited, no upstream span), an upstream that refuses connections
// (the upstream span's error status and kind, the request's 502), and an
// anonymous request on an optional route.
func TestTraceRefusalsAndUpstreamErrors(t *testing.T) {
	up := newUpstream(t, "up")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close() // nothing listens there now: connect errors
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	gw := newGateway(t, fmt.Sprintf(`
routes:
  - {name: limited, path_prefix: /limited, upstream: %s, auth: none, rate_limit: {rate: 1, per: 1m, burst: 1}}
  - {name: dead, path_prefix: /dead, upstream: %s, auth: none}
  - {name: maybe, path_prefix: /maybe, upstream: %[1]s, auth: optional, api_set: ops}
`, up.URL, deadURL), Options{Authenticator: fixedAuth{}, Tracer: tp.Tracer("test")})
	addr := gw.Listener.Addr().String()

	spans := func() map[string][]tracetest.SpanStub {
		t.Helper()
		by := map[string][]tracetest.SpanStub{}
		for _, s := range exp.GetSpans() {
			by[s.Name] = append(by[s.Name], s)
		}
		exp.Reset()
		return by
	}
	attr := func(s tracetest.SpanStub, key string) string {
		for _, kv := range s.Attributes {
			if kv.Key == attribute.Key(key) {
				return kv.Value.Emit()
			}
		}
		return ""
	}

	for _, want := range []int{200, 429} {
		if resp, body := rawGet(t, addr, "/limited"); resp.StatusCode != want {
			t.Fatalf("/limited: %d %s, want %d", resp.StatusCode, body, want)
		}
	}
	by := spans()
	if len(by["GET limited"]) != 2 || len(by["keygate.rate_limit"]) != 2 || len(by["keygate.upstream"]) != 1 || len(by["keygate.authenticate"]) != 0 {
		t.Fatalf("spans of an allowed and a limited request: %v", by)
	}
	limited := by["keygate.rate_limit"][1]
	if attr(limited, "keygate.decision") != "refused" || attr(limited, "keygate.reason") != "rate_limited" || attr(limited, "http.response.status_code") != "429" {
		t.Errorf("rate-limit span of the 429: %v", limited.Attributes)
	}
	if req := by["GET limited"][1]; attr(req, "keygate.decision") != "refused" || attr(req, "keygate.reason") != "rate_limited" || req.Status.Code == codes.Error {
		t.Errorf("request span of the 429: %v %v", req.Attributes, req.Status)
	}

	if resp, _ := rawGet(t, addr, "/dead"); resp.StatusCode != 502 {
		t.Fatalf("/dead: %d, want 502", resp.StatusCode)
	}
	by = spans()
	upSpan, req := by["keygate.upstream"], by["GET dead"]
	if len(upSpan) != 1 || len(req) != 1 {
		t.Fatalf("spans of a failed upstream call: %v", by)
	}
	if upSpan[0].Status.Code != codes.Error || attr(upSpan[0], "keygate.upstream.error") != "connect" || upSpan[0].Parent.SpanID() != req[0].SpanContext.SpanID() {
		t.Errorf("upstream span: %v %v parent %v", upSpan[0].Attributes, upSpan[0].Status, upSpan[0].Parent.SpanID())
	}
	if req[0].Status.Code != codes.Error || attr(req[0], "http.response.status_code") != "502" || attr(req[0], "keygate.decision") != "allowed" {
		t.Errorf("request span: %v %v", req[0].Attributes, req[0].Status)
	}

	if resp, _ := rawGet(t, addr, "/maybe"); resp.StatusCode != 200 {
		t.Fatalf("/maybe: %d", resp.StatusCode)
	}
	by = spans()
	if a := by["keygate.authenticate"]; len(a) != 1 || attr(a[0], "keygate.decision") != "anonymous" || attr(a[0], "user.id") != "" {
		t.Errorf("authenticate span of an anonymous request: %v", by)
	}
}
