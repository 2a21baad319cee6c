package gateway

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
)

// RuntimeSettings is what TuneRuntime set, and where each value came from.
type RuntimeSettings struct {
	GOMAXPROCS      int
	GOMAXPROCSFrom  string
	GCPercent       int
	GCPercentFrom   string
	MemoryLimit     int64 // bytes
	MemoryLimitFrom string
}

// Fields are the settings as log fields.
func (s RuntimeSettings) Fields() []zap.Field {
	return []zap.Field{
		zap.Int("gomaxprocs", s.GOMAXPROCS), zap.String("gomaxprocs_from", s.GOMAXPROCSFrom),
		zap.Int("gc_percent", s.GCPercent), zap.String("gc_percent_from", s.GCPercentFrom),
		zap.Int64("memory_limit_mib", s.MemoryLimit>>20), zap.String("memory_limit_from", s.MemoryLimitFrom),
	}
}

// cgroupMemoryMax is where cgroup v2 tells a container's memory limit.
var cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// TuneRuntime sets GOMAXPROCS, the GC percentage and the memory limit for
// the keygate process, from the environment (GOMAXPROCS, GOGC, GOMEMLIMIT
// win), else the config, else keygate's defaults. It changes process-wide
// state: call it once, from main.
func TuneRuntime(c config.Runtime) RuntimeSettings {
	var s RuntimeSettings
	switch {
	case os.Getenv("GOMAXPROCS") != "":
		s.GOMAXPROCSFrom = "environment"
	case c.GOMAXPROCS > 0:
		runtime.GOMAXPROCS(c.GOMAXPROCS)
		s.GOMAXPROCSFrom = "config"
	default:
		s.GOMAXPROCSFrom = "go runtime (CPU count or container quota)"
	}
	s.GOMAXPROCS = runtime.GOMAXPROCS(0)

	if v := os.Getenv("GOGC"); v != "" {
		s.GCPercentFrom = "environment"
		s.GCPercent = debug.SetGCPercent(-1)
		debug.SetGCPercent(s.GCPercent)
	} else {
		s.GCPercent, s.GCPercentFrom = c.GCPercent, "config"
		debug.SetGCPercent(c.GCPercent)
	}

	switch {
	case os.Getenv("GOMEMLIMIT") != "":
		s.MemoryLimit, s.MemoryLimitFrom = debug.SetMemoryLimit(-1), "environment"
	case c.MemoryLimitMiB > 0:
		s.MemoryLimit, s.MemoryLimitFrom = c.MemoryLimitMiB<<20, "config"
		debug.SetMemoryLimit(s.MemoryLimit)
	default:
		if max, ok := containerMemoryLimit(); ok {
			s.MemoryLimit, s.MemoryLimitFrom = max/10*9, fmt.Sprintf("90%% of the container's limit (%d MiB)", max>>20)
		} else {
			s.MemoryLimit, s.MemoryLimitFrom = config.DefaultMemoryLimitMiB<<20, "default (no container limit found)"
		}
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	return s
}

// containerMemoryLimit reads cgroup v2's memory.max ("max" means none).
func containerMemoryLimit() (int64, bool) {
	b, err := os.ReadFile(cgroupMemoryMax)
	if err != nil {
		return 0, false
	}
	v := strings.TrimSpace(string(b))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
