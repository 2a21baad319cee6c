package main

import (
	"strings"
	"testing"
)

// The load subcommand's flags resolve into targets, a baseline and the rate
// phase's targets, or into every problem at once, each naming its flag.
func TestResolve(t *testing.T) {
	tests := []struct {
		args        []string
		name        string
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
		{name: "nginx-authreq without keygate-check", args: []string{"-targets", "bare nginx-authreq"}, wantErr: "list keygate-check too"},
		{name: "few unknown tokens", args: []string{"-targets", "bare keygate-unknown", "-unknown-tokens", "999"}, wantErr: "-unknown-tokens"},
		{name: "the sidecar footprint: fixed rates first",
			args: []string{"-targets", "bare keygate-sidecar keygate-sidecar-gc100", "-rate-targets", "bare keygate-sidecar keygate-sidecar-gc100",
				"-rate", "500 2000", "-rate-first"},
			targets: "bare, keygate-sidecar, keygate-sidecar-gc100", baseline: "bare", rateTargets: "bare, keygate-sidecar, keygate-sidecar-gc100"},
		{name: "-rate-first without -rate", args: []string{"-targets", "bare keygate-bearer", "-rate-first"}, wantErr: "-rate-first needs -rate"},
		{name: "every problem at once", args: []string{"-rounds", "0", "-path", "x"}, wantErr: "-rounds must be at least 1, got 0\n-path must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p, err := parseLoadOptions(tt.args)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("parseLoadOptions: %v", err)
			case tt.wantErr == "":
			case err == nil || !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("parseLoadOptions: error %v, want one with %q", err, tt.wantErr)
			default:
				return
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

// The sidecar targets and the rate-limit ones run on the private
// redis-server; the others need none.
func TestNeedRedis(t *testing.T) {
	for targets, want := range map[string]bool{"bare keygate keygate-bearer": false, "bare keygate-sidecar-gc50": true, "bare keygate-rl-fast": true} {
		_, p, err := parseLoadOptions([]string{"-targets", targets, "-rate-phase", "0"})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.needRedis(); got != want {
			t.Errorf("%s: needRedis %t, want %t", targets, got, want)
		}
	}
}
