package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// procTimes is the CPU time of one process from /proc/PID/stat, in clock
// ticks.
type procTimes struct {
	User, System int64 // utime, stime: the process's own threads
	// ChildUser and ChildSystem are cutime and cstime: children it has
	// waited for (wrk, loadgen, the keygate CLI for the harness itself).
	ChildUser, ChildSystem int64
}

// Own is user + system time of the process itself.
func (p procTimes) Own() int64 { return p.User + p.System }

// parseProcStat reads the contents of /proc/PID/stat. The command name,
// field 2, is in parentheses and may hold spaces and parentheses itself, so
// the fields are counted from the last ')'.
func parseProcStat(stat string) (procTimes, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return procTimes{}, errors.New("no ')' after the command name")
	}
	// After ") ": state (field 3), ppid, ... utime is field 14, stime 15,
	// cutime 16, cstime 17.
	f := strings.Fields(stat[i+1:])
	if len(f) < 15 {
		return procTimes{}, fmt.Errorf("%d fields after the command name, want at least 15", len(f))
	}
	var v [4]int64
	for k := range v {
		n, err := strconv.ParseInt(f[11+k], 10, 64)
		if err != nil {
			return procTimes{}, fmt.Errorf("field %d: %w", 14+k, err)
		}
		v[k] = n
	}
	return procTimes{User: v[0], System: v[1], ChildUser: v[2], ChildSystem: v[3]}, nil
}

// readProcTimes reads /proc/PID/stat of pid.
func readProcTimes(pid int) (procTimes, error) {
	return parseFile(fmt.Sprintf("/proc/%d/stat", pid), parseProcStat)
}

// machineTimes is the machine's CPU time from /proc/stat, in clock ticks
// summed over all CPUs.
type machineTimes struct {
	// Busy is user, nice, system and steal. irq and softirq time is left
	// out: the kernel charges it to no process, and on loopback most of it
	// is the benchmark's own.
	Busy int64
	// Total is Busy plus idle, iowait, irq and softirq.
	Total int64
}

// parseMachineStat reads the "cpu" line of /proc/stat.
func parseMachineStat(stat string) (machineTimes, error) {
	for _, line := range strings.Split(stat, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 9 {
			return machineTimes{}, fmt.Errorf("the cpu line has %d fields, want at least 9", len(f))
		}
		var v [8]int64 // user nice system idle iowait irq softirq steal
		for k := range v {
			n, err := strconv.ParseInt(f[1+k], 10, 64)
			if err != nil {
				return machineTimes{}, fmt.Errorf("the cpu line, field %d: %w", 2+k, err)
			}
			v[k] = n
		}
		busy := v[0] + v[1] + v[2] + v[7]
		return machineTimes{Busy: busy, Total: busy + v[3] + v[4] + v[5] + v[6]}, nil
	}
	return machineTimes{}, errors.New("no cpu line")
}

func readMachineTimes() (machineTimes, error) {
	return parseFile("/proc/stat", parseMachineStat)
}

// othersPercent is the share of all cores, in per cent, that processes the
// harness did not start used between two readings: busy time minus ours,
// over all time, never below 0.
func othersPercent(m0, m1 machineTimes, ours0, ours1 int64) float64 {
	total := m1.Total - m0.Total
	if total <= 0 {
		return 0
	}
	x := float64((m1.Busy-m0.Busy)-(ours1-ours0)) / float64(total) * 100
	return max(x, 0)
}

// parsePeakRSS returns VmHWM from the contents of /proc/PID/status, in MiB.
func parsePeakRSS(status string) (float64, error) { return parseStatusMiB(status, "VmHWM") }

// parseStatusMiB returns the field (VmRSS, VmHWM: figures in kB) from the
// contents of /proc/PID/status, in MiB.
func parseStatusMiB(status, field string) (float64, error) {
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", field, err)
			}
			return float64(kb) / 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s line", field)
}

func readPeakRSS(pid int) (float64, error) {
	rss, err := readRSS(pid)
	return rss.Peak, err
}

// rss is a process's resident memory, MiB: now (VmRSS) and the most since
// it started or since resetPeakRSS (VmHWM).
type rss struct{ Now, Peak float64 }

// parseRSS reads VmRSS and VmHWM from the contents of /proc/PID/status.
func parseRSS(status string) (rss, error) {
	now, err := parseStatusMiB(status, "VmRSS")
	if err != nil {
		return rss{}, err
	}
	peak, err := parseStatusMiB(status, "VmHWM")
	if err != nil {
		return rss{}, err
	}
	return rss{Now: now, Peak: peak}, nil
}

func readRSS(pid int) (rss, error) {
	return parseFile(fmt.Sprintf("/proc/%d/status", pid), parseRSS)
}

// resetPeakRSS sets pid's VmHWM back to its VmRSS (writing 5 to
// /proc/PID/clear_refs, Linux 4.0 and later), so that the next reading is
// the peak of what ran in between.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// clockTicks returns the kernel's clock ticks per second (getconf CLK_TCK),
// 100 when getconf cannot say.
func clockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n <= 0 {
		return 100
	}
	return n
}
