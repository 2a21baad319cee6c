package testkit

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// LongEnv is the environment variable that makes the fault tests (the
// tests named TestFault…) run their long versions: minutes of load
// instead of seconds. scripts/faults.sh sets it.
const LongEnv = "KEYGATE_FAULTS_LONG"

// Long reports whether the fault tests run their long versions
// (KEYGATE_FAULTS_LONG=1).
func Long() bool { return os.Getenv(LongEnv) == "1" }

// Span is short, or long when the fault tests run their long versions.
func Span(short, long time.Duration) time.Duration {
	if Long() {
		return long
	}
	return short
}

// Count is short, or long when the fault tests run their long versions.
func Count(short, long int) int {
	if Long() {
		return long
	}
	return short
}

// Figure logs one measured figure of a fault test in the form
// scripts/faults.sh collects:
//
//	figure: <test> | <name> | <value>
//
// Figures are observations for the docs, never pass/fail conditions.
func Figure(t testing.TB, name, format string, args ...any) {
	t.Helper()
	t.Logf("figure: %s | %s | %s", t.Name(), name, fmt.Sprintf(format, args...))
}

// Quantile is the q-quantile (0 ≤ q ≤ 1) of d, which it sorts; 0 when d
// is empty.
func Quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(q * float64(len(d)-1))
	return d[i]
}

// Ratio is a/b written as "1.3×" (or "-" when b is 0).
func Ratio(a, b time.Duration) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}
