package config

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Tracing exports OpenTelemetry traces of the requests keygate serves:
// one span per request (and per forward-auth check), with spans for
// authentication, rate limiting, quotas and the upstream call below it,
// sent in batches over OTLP/HTTP. The W3C traceparent and tracestate of a
// client are continued, and the upstream receives the trace's traceparent.
// See docs/operations.md.
type Tracing struct {
	// Enabled turns tracing on. Default false: no span is made, nothing is
	// exported, and the traceparent and tracestate headers pass to the
	// upstream as the client sent them, like any other header. Read at
	// start: a change of this section needs a restart.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the base URL of the OTLP/HTTP collector, http or https,
	// such as http://collector:4318: spans are sent to its path
	// /v1/traces (an Endpoint that already ends in /v1/traces is used as
	// it is). Required while tracing is on.
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the share of the traces keygate starts that are
	// recorded and exported, from 0 to 1. Default 1: every one. A request
	// whose traceparent comes from the client follows the client's
	// sampling decision instead (parent-based sampling). A trace that is
	// not recorded still gets its traceparent sent upstream.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name of the exported spans. Default
	// "keygate".
	ServiceName string `yaml:"service_name"`
	// Headers are sent with every export, such as the API key of a
	// hosted collector (write secrets as ${ENV} references). Never
	// logged. Default none.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one export, and the flush of the spans still queued
	// at shutdown. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// QueueSize is the most spans kept waiting for export; past it, new
	// spans are dropped rather than slowing requests down. Default 2048.
	QueueSize int `yaml:"queue_size"`
}

// On reports whether tracing is on.
func (t Tracing) On() bool { return t.Enabled }

// Ratio is sample_ratio (default 1).
func (t Tracing) Ratio() float64 {
	if t.SampleRatio == nil {
		return DefaultTracingSampleRatio
	}
	return *t.SampleRatio
}

// TracesURL is the URL spans are sent to: Endpoint's path /v1/traces.
// It is meaningful only for a valid Endpoint.
func (t Tracing) TracesURL() string {
	u := strings.TrimSuffix(t.Endpoint, "/")
	if strings.HasSuffix(u, TracesPath) {
		return u
	}
	return u + TracesPath
}

// TracesPath is OTLP/HTTP's path for traces.
const TracesPath = "/v1/traces"

// applyDefaults fills the tracing section.
func (t *Tracing) applyDefaults() {
	setDefault(&t.ServiceName, DefaultTracingServiceName)
	setDefault(&t.Timeout, DefaultTracingTimeout)
	setDefault(&t.QueueSize, DefaultTracingQueueSize)
}

// validateTracing checks the tracing section; the endpoint is required
// while tracing is on, and checked whenever it is set.
func (c *Config) validateTracing(v *problems) {
	t := c.Tracing
	if t.Enabled && t.Endpoint == "" {
		v.add("tracing.endpoint", "required while tracing.enabled is true: the OTLP/HTTP collector's URL, such as http://collector:4318")
	}
	if t.Endpoint != "" {
		u, err := url.Parse(t.Endpoint)
		switch {
		case err != nil:
			v.add("tracing.endpoint", "not a URL: "+err.Error())
		case u.Scheme != "http" && u.Scheme != "https":
			v.add("tracing.endpoint", fmt.Sprintf("%q must be an http or https URL", t.Endpoint))
		case u.Host == "" || u.Hostname() == "":
			v.add("tracing.endpoint", fmt.Sprintf("%q has no host", t.Endpoint))
		case u.User != nil:
			v.add("tracing.endpoint", "must not hold a user or password: send credentials in tracing.headers")
		case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(t.Endpoint, "?") || strings.HasSuffix(t.Endpoint, "#"):
			v.add("tracing.endpoint", fmt.Sprintf("%q must have no query or fragment", t.Endpoint))
		}
	}
	if r := t.SampleRatio; r != nil && (math.IsNaN(*r) || *r < 0 || *r > 1) {
		v.add("tracing.sample_ratio", fmt.Sprintf("%v is not between 0 and 1", *r))
	}
	if t.ServiceName == "" {
		v.add("tracing.service_name", "must not be empty")
	}
	v.positive("tracing.timeout", t.Timeout)
	if t.QueueSize < 1 || t.QueueSize > MaxTracingQueueSize {
		v.add("tracing.queue_size", fmt.Sprintf("must be between 1 and %d", MaxTracingQueueSize))
	}
	for _, name := range slices.Sorted(maps.Keys(t.Headers)) { // problems in a stable order
		path := "tracing.headers." + name
		if !headerName.MatchString(name) {
			v.add(path, "not an HTTP header name")
		}
		if strings.ContainsAny(t.Headers[name], "\r\n\x00") {
			v.add(path, "the value must not hold a line break or NUL") // the value itself is never shown
		}
	}
}
