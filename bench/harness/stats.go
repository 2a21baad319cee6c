package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// median returns the median of vs: the middle value, or the mean of the two
// middle values when there is an even number of them (truncated for whole
// numbers, as the instruction counts always were). It is 0 for no values.
func median[T int64 | float64](vs []T) T {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread returns the range of vs (largest minus smallest) in per cent of m.
func spread(vs []int64, m int64) float64 {
	if len(vs) == 0 || m == 0 {
		return 0
	}
	lo, hi := vs[0], vs[0]
	for _, v := range vs[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return float64(hi-lo) * 100 / float64(m)
}

// ratio formats a/b with two decimals, or "n/a" when b is 0.
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// perRequest returns the CPU microseconds per request of ticks clock ticks
// (clk per second) over n requests, and false when n is 0.
func perRequest(ticks int64, clk int64, n int64) (float64, bool) {
	if n == 0 || clk == 0 {
		return 0, false
	}
	return float64(ticks) / float64(clk) * 1e6 / float64(n), true
}

// formatPerRequest formats perRequest's figure with one decimal, or "n/a".
func formatPerRequest(ticks, clk, n int64) string {
	v, ok := perRequest(ticks, clk, n)
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}

// num formats v the way the reports always printed a median of whole
// microseconds: whole values without decimals, others with six significant
// digits (215.5).
func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}
