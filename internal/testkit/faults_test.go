package testkit

import (
	"testing"
	"time"
)

func TestQuantileRatioSpan(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	d := []time.Duration{ms(5), ms(1), ms(4), ms(2), ms(3)}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0, ms(1)}, {.5, ms(3)}, {.99, ms(4)}, {1, ms(5)}} {
		if got := Quantile(d, tc.q); got != tc.want {
			t.Errorf("Quantile(1..5 ms, %v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := Quantile(nil, .5); got != 0 {
		t.Errorf("Quantile(nil) = %v, want 0", got)
	}
	if got, want := Ratio(ms(3), ms(2)), "1.5×"; got != want {
		t.Errorf("Ratio(3ms, 2ms) = %q, want %q", got, want)
	}
	if got := Ratio(ms(3), 0); got != "-" {
		t.Errorf("Ratio(3ms, 0) = %q, want -", got)
	}
	t.Setenv(LongEnv, "")
	if got := Span(time.Second, time.Minute); got != time.Second {
		t.Errorf("Span without %s = %v, want the short one", LongEnv, got)
	}
	t.Setenv(LongEnv, "1")
	if got := Count(2, 6); got != 6 {
		t.Errorf("Count with %s=1 = %d, want the long one", LongEnv, got)
	}
}
