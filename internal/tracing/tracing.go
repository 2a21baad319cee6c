// Package tracing builds keygate's OpenTelemetry tracer from the tracing
// section: a TracerProvider with a parent-based ratio sampler, a batch
// span processor with a bounded queue and an OTLP/HTTP exporter. The
// gateway builds one at start and shuts it down (flushing the queue) when
// it closes; the proxy makes the spans and carries their W3C trace
// context in and out of requests.
package tracing

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/version"
)

// ScopeName is the instrumentation scope of keygate's spans.
const ScopeName = "github.com/keygate/keygate"

// Tracing is a running tracer: spans are made with Tracer. They are
// carried in and out of requests as W3C trace context (traceparent and
// tracestate; go.opentelemetry.io/otel/propagation.TraceContext), which
// the proxy reads and writes itself.
type Tracing struct {
	Tracer   trace.Tracer
	provider *sdktrace.TracerProvider
	timeout  time.Duration
}

// New builds the tracer of a validated tracing section that is on. It
// connects to nothing yet: spans are exported in batches as they end.
func New(cfg config.Tracing, v version.Info, log *zap.Logger) (*Tracing, error) {
	if log == nil {
		log = zap.NewNop()
	}
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(cfg.TracesURL()),
		otlptracehttp.WithHeaders(cfg.Headers),
		otlptracehttp.WithTimeout(cfg.Timeout),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	attrs := []attribute.KeyValue{
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", v.Version),
	}
	if host, err := os.Hostname(); err == nil {
		attrs = append(attrs, attribute.String("host.name", host))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.Ratio()))),
		sdktrace.WithBatcher(exp,
			sdktrace.WithMaxQueueSize(cfg.QueueSize),
			sdktrace.WithMaxExportBatchSize(min(cfg.QueueSize, 512)),
			sdktrace.WithExportTimeout(cfg.Timeout),
		),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	)
	errorLog.Store(log.Named("tracing"))
	handlerOnce()
	return &Tracing{
		Tracer:   tp.Tracer(ScopeName, trace.WithInstrumentationVersion(v.Version)),
		provider: tp,
		timeout:  cfg.Timeout,
	}, nil
}

// Shutdown ends the tracer: the spans still queued are exported, within
// tracing.timeout.
func (t *Tracing) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	return t.provider.Shutdown(ctx)
}

// errorLog receives the OpenTelemetry SDK's errors (a failed export),
// which it reports through one process-wide handler: the logger of the
// tracer built last.
var errorLog atomic.Pointer[zap.Logger]

var handlerSet atomic.Bool

func handlerOnce() {
	if handlerSet.CompareAndSwap(false, true) {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			if log := errorLog.Load(); log != nil {
				log.Warn("span export failed", zap.Error(err))
			}
		}))
	}
}
