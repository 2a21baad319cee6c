package proxy

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/httpkit"
)

// Tracing (tracing.enabled, see docs/operations.md#tracing): the request
// span, a server span continuing the client's W3C traceparent; below it
// the spans of authentication, the rate limits, the quotas and the
// upstream call, whose traceparent is sent upstream.
//
// With tracing off h.tracer is nil, no exchange has a span, and every
// function here returns at once: the request path makes no span and
// allocates nothing more. A request whose trace is not sampled gets its
// request span (non-recording: its trace id is still logged and sent
// upstream) but no child span.

// Span names.
const (
	spanAuthenticate = "keygate.authenticate"
	spanRateLimit    = "keygate.rate_limit"
	spanQuota        = "keygate.quota"
	spanUpstream     = "keygate.upstream"
)

// Attribute keys of keygate's spans; the others are OpenTelemetry's
// semantic conventions.
const (
	attrRoute          = attribute.Key("keygate.route")
	attrMode           = attribute.Key("keygate.mode")
	attrDecision       = attribute.Key("keygate.decision")
	attrReason         = attribute.Key("keygate.reason")
	attrRequestID      = attribute.Key("keygate.request_id")
	attrCredentialID   = attribute.Key("keygate.credential.id")
	attrCredentialKind = attribute.Key("keygate.credential.kind")
	attrUpstreamError  = attribute.Key("keygate.upstream.error")
	attrUser           = attribute.Key("user.id")
	attrMethod         = attribute.Key("http.request.method")
	attrStatus         = attribute.Key("http.response.status_code")
	attrHTTPRoute      = attribute.Key("http.route")
	attrPath           = attribute.Key("url.path")
	attrServerAddress  = attribute.Key("server.address")
	attrClientAddress  = attribute.Key("client.address")
	attrUserAgent      = attribute.Key("user_agent.original")
	attrErrorType      = attribute.Key("error.type")
)

// Decisions, the values of keygate.decision.
const (
	decisionAllowed = "allowed" // every check passed (proxied, a check allowed, a preflight answered)
	decisionRefused = "refused" // keygate answered the request itself with an error
	decisionAnon    = "anonymous"
)

// w3c is the propagator: W3C traceparent and tracestate.
var w3c propagation.TraceContext

// startRequest starts the request span, continuing the trace of the
// client's traceparent if it sent a valid one.
func (h *Handler) startRequest(r *http.Request, ex *exchange) {
	if h.tracer == nil {
		return
	}
	ctx := w3c.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ex.traceCtx, ex.span = h.tracer.Start(ctx, methodLabels[methodIndex(r.Method)], trace.WithSpanKind(trace.SpanKindServer))
}

// endRequest ends the upstream span, if any, then the request span,
// with what the exchange came to.
func (h *Handler) endRequest(r *http.Request, ex *exchange, status int) {
	if ex.span == nil {
		return
	}
	if sp := ex.upstreamSpan; sp != nil {
		if ex.upstreamErr != "" {
			sp.SetAttributes(attrUpstreamError.String(ex.upstreamErr), attrErrorType.String(ex.upstreamErr))
			sp.SetStatus(codes.Error, ex.upstreamErr)
		}
		sp.End()
	}
	sp := ex.span
	if !sp.IsRecording() {
		return
	}
	route := unmatchedRoute
	if ex.route != nil {
		route = ex.route.Name
	}
	method := methodLabels[methodIndex(r.Method)]
	sp.SetName(method + " " + route)
	decision := decisionAllowed
	if ex.refused {
		decision = decisionRefused
	}
	attrs := make([]attribute.KeyValue, 0, 16)
	attrs = append(attrs,
		attrRoute.String(route),
		attrMode.String(modeLabels[ex.mode]),
		attrDecision.String(decision),
		attrRequestID.String(ex.requestID[0]),
		attrMethod.String(method),
		attrStatus.Int(status),
		attrPath.String(logPath(ex)),
		attrServerAddress.String(logHost(ex)),
		attrClientAddress.String(ex.client.String()),
		attrUserAgent.String(userAgent(r)),
	)
	if ex.route != nil {
		attrs = append(attrs, attrHTTPRoute.String(ex.route.cfg.PathPrefix))
	}
	if ex.reason != "" {
		attrs = append(attrs, attrReason.String(ex.reason))
	}
	if id := ex.identity; id != nil {
		attrs = append(attrs, attrUser.String(id.User), attrCredentialID.String(id.CredentialID), attrCredentialKind.String(string(id.Kind)))
	}
	sp.SetAttributes(attrs...)
	if status >= 500 {
		sp.SetStatus(codes.Error, http.StatusText(status))
	}
	sp.End()
}

// startSpan starts a child span of the request span: r's context and
// nil with tracing off or an unsampled trace.
func (h *Handler) startSpan(r *http.Request, ex *exchange, name string) (context.Context, trace.Span) {
	if ex.span == nil || !ex.span.IsRecording() {
		return r.Context(), nil
	}
	return h.tracer.Start(ex.traceCtx, name)
}

// tracedAuthenticate is authenticate in its span: the credential's
// user, id and kind, or the reason of a refusal, and where the
// credential was found (keygate.auth.source, set by the Verifier).
func (h *Handler) tracedAuthenticate(r *http.Request, rt *Route, ex *exchange) (*authz.Identity, *httpkit.Error) {
	ctx, sp := h.startSpan(r, ex, spanAuthenticate)
	id, e := h.authenticate(ctx, r, rt, ex)
	if sp == nil {
		return id, e
	}
	switch {
	case id != nil:
		sp.SetAttributes(attrDecision.String(decisionAllowed), attrUser.String(id.User), attrCredentialID.String(id.CredentialID), attrCredentialKind.String(string(id.Kind)))
	case e == nil:
		sp.SetAttributes(attrDecision.String(decisionAnon))
	default:
		sp.SetAttributes(attrDecision.String(decisionRefused), attrReason.String(ex.reason), attrStatus.Int(e.Status))
		if e.Status >= 500 {
			sp.SetStatus(codes.Error, ex.reason)
		}
	}
	sp.End()
	return id, e
}

// tracedRateLimit is rateLimit in its span.
func (h *Handler) tracedRateLimit(w http.ResponseWriter, r *http.Request, rt *Route, ex *exchange) *httpkit.Error {
	_, sp := h.startSpan(r, ex, spanRateLimit)
	e := h.rateLimit(w, r, rt, ex)
	endPolicy(sp, e, reasonRateLimited)
	return e
}

// tracedQuota is quota in its span.
func (h *Handler) tracedQuota(r *http.Request, rt *Route, ex *exchange) *httpkit.Error {
	_, sp := h.startSpan(r, ex, spanQuota)
	e := h.quota(r, rt, ex)
	endPolicy(sp, e, reasonQuotaExceeded)
	return e
}

// endPolicy ends a rate-limit or quota span with its decision.
func endPolicy(sp trace.Span, e *httpkit.Error, limited string) {
	if sp == nil {
		return
	}
	if e == nil {
		sp.SetAttributes(attrDecision.String(decisionAllowed))
	} else {
		reason := policyReason(e, limited)
		sp.SetAttributes(attrDecision.String(decisionRefused), attrReason.String(reason), attrStatus.Int(e.Status))
		if e.Status >= 500 {
			sp.SetStatus(codes.Error, reason)
		}
	}
	sp.End()
}

// startUpstream starts the upstream call's client span; it ends with the
// request span (endRequest), once the response body has been copied.
func (h *Handler) startUpstream(r *http.Request, ex *exchange) {
	if ex.span == nil || !ex.span.IsRecording() {
		return
	}
	rt := ex.route
	ex.traceCtx, ex.upstreamSpan = h.tracer.Start(ex.traceCtx, spanUpstream, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attrRoute.String(rt.Name),
			attrMethod.String(methodLabels[methodIndex(r.Method)]),
			attrServerAddress.String(rt.target.Host),
		))
}

// injectTrace sets the traceparent (and tracestate) of the upstream
// request: the upstream span's, or the request span's when the trace is
// not sampled. The client's own are replaced.
func injectTrace(h http.Header, ex *exchange) {
	delete(h, "Traceparent")
	delete(h, "Tracestate")
	w3c.Inject(ex.traceCtx, propagation.HeaderCarrier(h))
}

// traceUpstreamResponse records the upstream's status on its span.
func traceUpstreamResponse(ex *exchange, status int) {
	if ex.upstreamSpan != nil {
		ex.upstreamSpan.SetAttributes(attrStatus.Int(status))
		if status >= 500 {
			ex.upstreamSpan.SetStatus(codes.Error, http.StatusText(status))
		}
	}
}

// traceID is the request's trace id for the access line.
func traceID(ex *exchange) string {
	return ex.span.SpanContext().TraceID().String()
}
