package config

import (
	"strings"
	"testing"
	"time"
)

// TestTracingConfig: tracing's defaults, the URL spans are sent to, and
// every problem named by its field path; a header's value is never shown.
func TestTracingConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Parse("t.yaml", []byte("tracing: {enabled: true, endpoint: http://collector:4318}\n"+oneRoute), nil)
		if err != nil {
			t.Fatal(err)
		}
		tr := cfg.Tracing
		if !tr.On() || tr.Ratio() != 1 || tr.ServiceName != "keygate" || tr.Timeout != 10*time.Second || tr.QueueSize != 2048 {
			t.Errorf("got %+v (ratio %v)", tr, tr.Ratio())
		}
		if got := tr.TracesURL(); got != "http://collector:4318/v1/traces" {
			t.Errorf("TracesURL = %q", got)
		}
	})
	t.Run("off by default", func(t *testing.T) {
		cfg, err := Parse("t.yaml", []byte(oneRoute), nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Tracing.On() {
			t.Error("tracing on without a tracing section")
		}
	})
	for _, tt := range []struct{ endpoint, want string }{
		{"https://otlp.example.com/", "https://otlp.example.com/v1/traces"},
		{"http://c:4318/prefix", "http://c:4318/prefix/v1/traces"},
		{"http://c:4318/v1/traces", "http://c:4318/v1/traces"},
	} {
		if got := (Tracing{Endpoint: tt.endpoint}).TracesURL(); got != tt.want {
			t.Errorf("TracesURL of %q = %q, want %q", tt.endpoint, got, tt.want)
		}
	}
	for _, tt := range []struct {
		name, yaml string
		want       string // "" means valid
	}{
		{"all fields", "tracing: {enabled: true, endpoint: https://otlp.example.com, sample_ratio: 0.1, service_name: edge, headers: {x-api-key: k}, timeout: 5s, queue_size: 100}\n", ""},
		{"ratio 0", "tracing: {enabled: true, endpoint: http://c:4318, sample_ratio: 0}\n", ""},
		{"endpoint while off", "tracing: {endpoint: http://c:4318}\n", ""},
		{"no endpoint", "tracing: {enabled: true}\n", "tracing.endpoint: required while tracing.enabled is true"},
		{"grpc scheme", "tracing: {enabled: true, endpoint: grpc://c:4317}\n", `tracing.endpoint: "grpc://c:4317" must be an http or https URL`},
		{"no host", "tracing: {enabled: true, endpoint: http://:4318}\n", "tracing.endpoint: \"http://:4318\" has no host"},
		{"user in URL", "tracing: {enabled: true, endpoint: http://u:p@c:4318}\n", "tracing.endpoint: must not hold a user or password"},
		{"query", "tracing: {enabled: true, endpoint: \"http://c:4318?x=1\"}\n", `tracing.endpoint: "http://c:4318?x=1" must have no query or fragment`},
		{"ratio above 1", "tracing: {enabled: true, endpoint: http://c:4318, sample_ratio: 1.5}\n", "tracing.sample_ratio: 1.5 is not between 0 and 1"},
		{"ratio negative", "tracing: {enabled: true, endpoint: http://c:4318, sample_ratio: -0.1}\n", "tracing.sample_ratio: -0.1 is not between 0 and 1"},
		{"ratio NaN", "tracing: {enabled: true, endpoint: http://c:4318, sample_ratio: .nan}\n", "tracing.sample_ratio: NaN is not between 0 and 1"},
		{"timeout", "tracing: {enabled: true, endpoint: http://c:4318, timeout: -1s}\n", "tracing.timeout"},
		{"queue", "tracing: {enabled: true, endpoint: http://c:4318, queue_size: -1}\n", "tracing.queue_size: must be between 1 and"},
		{"header name", "tracing: {enabled: true, endpoint: http://c:4318, headers: {\"a b\": v}}\n", "tracing.headers.a b: not an HTTP header name"},
		{"header value", "tracing: {enabled: true, endpoint: http://c:4318, headers: {x-key: \"sec\\r\\nret\"}}\n", "tracing.headers.x-key: the value must not hold a line break"},
		{"unknown field", "tracing: {enabled: true, endpoint: http://c:4318, sampler: always}\n", "unknown field"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.yaml+oneRoute), nil)
			if checkProblem(t, err, tt.want) && err != nil && strings.Contains(err.Error(), "sec") {
				t.Errorf("the error shows a header's value: %v", err)
			}
		})
	}
}
