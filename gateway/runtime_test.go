package gateway

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/keygate/keygate/config"
)

func TestTuneRuntime(t *testing.T) {
	for _, v := range []string{"GOMAXPROCS", "GOGC", "GOMEMLIMIT"} {
		if os.Getenv(v) != "" {
			t.Skipf("%s is set in the environment; TuneRuntime leaves it alone", v)
		}
	}
	procs, gc, mem := runtime.GOMAXPROCS(0), debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs); debug.SetGCPercent(gc); debug.SetMemoryLimit(mem) })
	debug.SetGCPercent(gc)

	dir := t.TempDir()
	old := cgroupMemoryMax
	t.Cleanup(func() { cgroupMemoryMax = old })

	cgroupMemoryMax = filepath.Join(dir, "memory.max")
	os.WriteFile(cgroupMemoryMax, []byte("1073741824\n"), 0o600) // 1 GiB container
	s := TuneRuntime(config.Runtime{GCPercent: 400})
	if s.GCPercent != 400 || debug.SetGCPercent(400) != 400 {
		t.Errorf("gc percent = %d", s.GCPercent)
	}
	if want := int64(1073741824 / 10 * 9); s.MemoryLimit != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("memory limit = %d, want 90%% of the container's (%d)", s.MemoryLimit, want)
	}

	os.WriteFile(cgroupMemoryMax, []byte("max\n"), 0o600) // no container limit
	s = TuneRuntime(config.Runtime{GCPercent: 200, GOMAXPROCS: 1})
	if s.MemoryLimit != config.DefaultMemoryLimitMiB<<20 || s.GOMAXPROCS != 1 || runtime.GOMAXPROCS(0) != 1 || s.GOMAXPROCSFrom != "config" {
		t.Errorf("without a container limit: %+v", s)
	}

	s = TuneRuntime(config.Runtime{GCPercent: 100, MemoryLimitMiB: 300})
	if s.MemoryLimit != 300<<20 || s.MemoryLimitFrom != "config" {
		t.Errorf("configured limit: %+v", s)
	}

	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	if s = TuneRuntime(config.Runtime{GCPercent: 400}); s.GCPercent != 50 || s.GCPercentFrom != "environment" {
		t.Errorf("GOGC in the environment: %+v", s)
	}
}
