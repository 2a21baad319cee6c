package main

import (
	"math"
	"slices"
	"testing"
)

// median of whole numbers (the instruction counts) truncates the mean of
// the two middle values; of fractions it does not.
func TestMedian(t *testing.T) {
	tests := []struct {
		name    string
		in      []float64
		want    float64
		wantInt int64 // of in as whole numbers
	}{
		{"none", nil, 0, 0},
		{"one", []float64{7}, 7, 7},
		{"odd, unsorted", []float64{17900, 10200, 15000}, 15000, 15000},
		{"even: mean of the middle two", []float64{4, 1, 3, 2}, 2.5, 2},
		{"repeated values", []float64{2, 2, 9, 2, 9}, 2, 2},
		{"negative (added latency below bare's)", []float64{-12, 30, 5}, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			if got := median(tt.in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Fatalf("median reordered its argument: %v, was %v", tt.in, in)
			}
			ints := make([]int64, len(tt.in))
			for i, v := range tt.in {
				ints[i] = int64(v)
			}
			if got := median(ints); got != tt.wantInt {
				t.Errorf("median(%v) = %d, want %d", ints, got, tt.wantInt)
			}
		})
	}
}

func TestSpread(t *testing.T) {
	tests := []struct {
		name string
		in   []int64
		m    int64
		want float64
	}{
		{"one run", []int64{300000}, 300000, 0},
		{"two runs 0.5 % apart", []int64{300000, 301500}, 300000, 0.5},
		{"range, not deviation", []int64{99, 100, 101}, 100, 2},
		{"median 0", []int64{1, 2}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := spread(tt.in, tt.m); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("spread(%v, %d) = %v, want %v", tt.in, tt.m, got, tt.want)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{
		{15234, 16001, "0.95"},
		{16001, 16001, "1.00"},
		{1, 3, "0.33"},
		{2, 3, "0.67"},
		{5, 0, "n/a"},
		{0, 5, "0.00"},
	}
	for _, tt := range tests {
		if got := ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestFormatPerRequest(t *testing.T) {
	tests := []struct {
		name          string
		ticks, clk, n int64
		want          string
	}{
		{"10 s of CPU over a million requests", 1000, 100, 1_000_000, "10.0"},
		{"rounded to a tenth", 734, 100, 180_000, "40.8"},
		{"no requests", 5, 100, 0, "n/a"},
		{"no CPU", 0, 100, 5, "0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatPerRequest(tt.ticks, tt.clk, tt.n); got != tt.want {
				t.Errorf("formatPerRequest(%d, %d, %d) = %q, want %q", tt.ticks, tt.clk, tt.n, got, tt.want)
			}
		})
	}
}

func TestNum(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{210, "210"},
		{215.5, "215.5"},
		{-38, "-38"},
		{1234567, "1234567"},
		{1.0 / 3, "0.333333"},
	}
	for _, tt := range tests {
		if got := num(tt.in); got != tt.want {
			t.Errorf("num(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
