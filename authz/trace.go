package authz

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Where Verify found a credential, on the span in its context
// (Options.Traced): keygate.auth.source.
var (
	// sourceCache: the verifier's cache answered, no store round trip.
	sourceCache = attribute.String("keygate.auth.source", "cache")
	// sourceStore: the store was read.
	sourceStore = attribute.String("keygate.auth.source", "store")
	// sourceStale: the store did not answer and a stale cache entry
	// stood in (auth.stale_if_error).
	sourceStale = attribute.String("keygate.auth.source", "stale")
	// sourceJWT: a JWT verified by its signature.
	sourceJWT = attribute.String("keygate.auth.source", "jwt")
)

// noteSource sets where the credential was found on the span of ctx, if
// tracing is on and the span records; the last note wins. With tracing
// off it reads nothing.
func (s *Verifier) noteSource(ctx context.Context, source attribute.KeyValue) {
	if !s.traced {
		return
	}
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		sp.SetAttributes(source)
	}
}
