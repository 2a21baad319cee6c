package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

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
