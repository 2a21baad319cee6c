package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		targets     string // the plan's targets
		baseline    string
		rateTargets string
		wantErr     string // in the error, "" for none
	}{
		{name: "defaults", targets: "bare, keygate", baseline: "bare"},
		{name: "the authentication path runs the rate phase",
			args:    []string{"-targets", "bare keygate keygate-bearer keygate-apikey keygate-unknown"},
			targets: "bare, keygate, keygate-bearer, keygate-apikey, keygate-unknown", baseline: "bare",
			rateTargets: "bare, keygate-bearer, keygate-apikey"},
		{name: "-rate-phase 0", args: []string{"-targets", "bare keygate-bearer", "-rate-phase", "0"},
			targets: "bare, keygate-bearer", baseline: "bare"},
		{name: "baseline is the first without bare", args: []string{"-targets", "keygate keygate-bearer"},
			targets: "keygate, keygate-bearer", baseline: "keygate"},
		{name: "-access-log adds keygate-log", args: []string{"-access-log"},
			targets: "bare, keygate, keygate-log", baseline: "bare"},
		{name: "-rate-targets given: only bare and keygate is enough",
			args:    []string{"-targets", "bare keygate", "-rate-targets", "bare keygate"},
			targets: "bare, keygate", baseline: "bare", rateTargets: "bare, keygate"},
		{name: "unknown target", args: []string{"-targets", "bare envoy"}, wantErr: `unknown target "envoy"`},
		{name: "listed twice", args: []string{"-targets", "bare bare"}, wantErr: "listed twice"},
		{name: "fractional duration", args: []string{"-duration", "1500ms"}, wantErr: "-duration must be whole seconds"},
		{name: "-rate-phase 1 without an authenticated target", args: []string{"-rate-phase", "1"}, wantErr: "-rate-phase 1 needs bare"},
		{name: "-rate-targets not in -targets", args: []string{"-targets", "bare keygate-bearer", "-rate-targets", "bare keygate-apikey"},
			wantErr: `"keygate-apikey" is not in -targets`},
		{name: "keygate-unknown in the rate phase", args: []string{"-targets", "bare keygate-unknown", "-rate-targets", "bare keygate-unknown"},
			wantErr: "cannot be in the rate phase"},
		{name: "bad fraction", args: []string{"-targets", "bare keygate-bearer", "-rate-fractions", "1.5"}, wantErr: "-rate-fractions"},
		{name: "few unknown tokens", args: []string{"-targets", "bare keygate-unknown", "-unknown-tokens", "999"}, wantErr: "-unknown-tokens"},
		{name: "every problem at once", args: []string{"-rounds", "0", "-path", "x"}, wantErr: "-rounds must be at least 1, got 0\n-path must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p, err := parseLoadOptions(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolve: error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := targetNames(p.targets, nil); got != tt.targets {
				t.Errorf("targets %q, want %q", got, tt.targets)
			}
			if p.baseline != tt.baseline {
				t.Errorf("baseline %q, want %q", p.baseline, tt.baseline)
			}
			if got := targetNames(p.rateTargets, nil); got != tt.rateTargets {
				t.Errorf("rate targets %q, want %q", got, tt.rateTargets)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	ts := []target{{name: "a"}, {name: "b"}, {name: "c"}}
	for round, want := range map[int]string{1: "a, b, c", 2: "b, c, a", 3: "c, a, b", 4: "a, b, c"} {
		if got := targetNames(rotate(ts, round), nil); got != want {
			t.Errorf("rotate(round %d) = %s, want %s", round, got, want)
		}
	}
}

func TestPairedRound(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lg := func(errors int, answered int, p99 int) string {
		return "loadgen url=u rate=1000 conns=32 duration=3s warmup=1s count=3000 errors=" + strconv.Itoa(errors) +
			" bad_status=0 missed=0 achieved_rps=1000.0 p50_us=300 p90_us=500 p99_us=" + strconv.Itoa(p99) +
			" p999_us=9000 max_us=9999 late_p99_us=50 answered=" + strconv.Itoa(answered) + "\n"
	}
	off := write("off", lg(0, 4000, 1500))
	on := write("on", lg(0, 4000, 2500))
	// 20 and 22 ticks at 100/s over 4000 requests: 50 and 55 µs.
	row, err := pairedRound(1, 20, 22, 100, off, on)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := row.String(), "| 1 | 50.0 | 55.0 | 1.100 | 1.50 | 2.50 |"; got != want {
		t.Errorf("row %q, want %q", got, want)
	}
	if _, err := pairedRound(2, 20, 22, 100, off, write("failed", lg(3, 4000, 2500))); err == nil {
		t.Error("a round with failed requests: no error")
	}
	if _, err := pairedRound(3, 0, 22, 100, off, on); err == nil {
		t.Error("a round where off used no CPU: no error")
	}
}

func TestInstructionsTables(t *testing.T) {
	ir := map[string]int64{"bare": 100000, "keygate": 150000, "keygate-bearer": 180000, "nginx": 25000}
	spreads := map[string]float64{"bare": 0.1, "keygate": 0.25, "keygate-bearer": 0.7, "nginx": 0}
	got := instructionsTables([]string{"bare", "keygate", "keygate-bearer", "nginx"}, ir, spreads)
	want := `| target | instructions/request | spread % | vs bare | vs keygate |
|---|---:|---:|---:|---:|
| bare | 100000 | 0.1 | 1.000 | 0.667 |
| keygate | 150000 | 0.2 | 1.500 | 1.000 |
| keygate-bearer | 180000 | 0.7 | 1.800 | 1.200 |
| nginx | 25000 | 0.0 | 0.250 | 0.167 |

| step | added instructions/request |
|---|---:|
| keygate → keygate-bearer | 30000 |
`
	if got != want {
		t.Errorf("instructionsTables =\n%s\nwant\n%s", got, want)
	}
	// Without bare the first target is the baseline, and a keygate
	// baseline has no second ratio column.
	got = instructionsTables([]string{"keygate", "keygate-bearer"}, ir, spreads)
	if !strings.HasPrefix(got, "| target | instructions/request | spread % | vs keygate |\n|---|---:|---:|---:|\n") {
		t.Errorf("instructionsTables without bare =\n%s", got)
	}
}
