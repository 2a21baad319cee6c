package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// parseCase is one row of a parser's table test.
type parseCase[T comparable] struct {
	name    string
	in      string
	want    T
	wantErr bool
}

// testParse runs parse on every case, a subtest each.
func testParse[T comparable](t *testing.T, parse func(string) (T, error), cases []parseCase[T]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %t", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The testdata files are /proc files captured on Linux 6.x: proc-pid-stat.txt
// of a go build, proc-pid-stat-parens.txt of a copy of bash named "x (y) z"
// that had spun a while and waited for a spinning child.
func TestParseProcStat(t *testing.T) {
	testParse(t, parseProcStat, []parseCase[procTimes]{
		{name: "go build", in: readTestdata(t, "proc-pid-stat.txt"),
			want: procTimes{User: 36, System: 29, ChildUser: 873, ChildSystem: 127}},
		{name: "command name with spaces and parentheses", in: readTestdata(t, "proc-pid-stat-parens.txt"),
			want: procTimes{User: 83, System: 1, ChildUser: 59, ChildSystem: 0}},
		{name: "no command name", in: "17 S 1 2 3", wantErr: true},
		{name: "cut short", in: "17 (wrk) S 1 17 17 0 -1 4194304 97 0 0 0 5", wantErr: true},
		{name: "not a number", in: "17 (wrk) S 1 17 17 0 -1 4194304 97 0 0 0 x 0 0 0 20", wantErr: true},
	})
}

func TestReadProcTimesSelf(t *testing.T) {
	// Spin, so that this process has used CPU the kernel has counted.
	x := 0
	for i := 0; i < 300_000_000; i++ {
		x += i & 3
	}
	got, err := readProcTimes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got.Own() <= 0 {
		t.Errorf("readProcTimes(self).Own() = %d after spinning (x=%d), want > 0", got.Own(), x)
	}
}

func TestParseMachineStat(t *testing.T) {
	testParse(t, parseMachineStat, []parseCase[machineTimes]{
		// cpu  52605 0 19000 76411 444 0 311 0 0 0
		{name: "captured", in: readTestdata(t, "proc-stat.txt"),
			want: machineTimes{Busy: 52605 + 19000, Total: 52605 + 19000 + 76411 + 444 + 311}},
		{name: "steal counts as busy, irq and softirq do not",
			in:   "cpu  100 10 50 1000 5 7 9 30 0 0\ncpu0 100 10 50 1000 5 7 9 30 0 0\n",
			want: machineTimes{Busy: 190, Total: 190 + 1000 + 5 + 7 + 9}},
		{name: "per-CPU lines only", in: "cpu0 1 2 3 4 5 6 7 8\n", wantErr: true},
		{name: "short", in: "cpu 1 2 3\n", wantErr: true},
	})
}

func TestOthersPercent(t *testing.T) {
	m0 := machineTimes{Busy: 1000, Total: 5000}
	tests := []struct {
		name         string
		m1           machineTimes
		ours0, ours1 int64
		want         float64
	}{
		{"all busy time ours", machineTimes{Busy: 1150, Total: 5200}, 10, 160, 0},
		{"a quarter of the machine someone else's", machineTimes{Busy: 1150, Total: 5200}, 10, 110, 25},
		{"ours over busy (irq charged to us): clamped", machineTimes{Busy: 1100, Total: 5200}, 0, 150, 0},
		{"no time passed", m0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := othersPercent(m0, tt.m1, tt.ours0, tt.ours1); got != tt.want {
				t.Errorf("othersPercent = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParsePeakRSS(t *testing.T) {
	got, err := parsePeakRSS(readTestdata(t, "proc-pid-status.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := 33772.0 / 1024; got != want {
		t.Errorf("parsePeakRSS = %v, want %v", got, want)
	}
	if _, err := parsePeakRSS("Name:\tkernel thread\nVmRSS:\t0 kB\n"); err == nil {
		t.Error("parsePeakRSS without VmHWM: no error")
	}
}

func TestParseRSS(t *testing.T) {
	got, err := parseRSS(readTestdata(t, "proc-pid-status.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (rss{Now: 29192.0 / 1024, Peak: 33772.0 / 1024}); got != want {
		t.Errorf("parseRSS = %+v, want %+v", got, want)
	}
	if _, err := parseRSS("Name:\tx\nVmHWM:\t10 kB\n"); err == nil {
		t.Error("parseRSS without VmRSS: no error")
	}
}

// resetPeakRSS brings VmHWM back down to VmRSS: the test maps and touches
// 64 MiB, unmaps it, and the peak must fall by most of it.
func TestResetPeakRSS(t *testing.T) {
	const size = 64 << 20
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size; i += 4096 {
		mem[i] = 1
	}
	if err := syscall.Munmap(mem); err != nil {
		t.Fatal(err)
	}
	before, err := readRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.Peak-before.Now < 48 {
		t.Fatalf("peak %.1f MiB, now %.1f MiB: the 64 MiB touched are not in the peak", before.Peak, before.Now)
	}
	if err := resetPeakRSS(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	after, err := readRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.Peak > before.Peak-48 {
		t.Errorf("peak after reset %.1f MiB, before %.1f MiB: not reset", after.Peak, before.Peak)
	}
}
