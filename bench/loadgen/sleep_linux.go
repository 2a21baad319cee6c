package main

import (
	"syscall"
	"time"
)

// prSetTimerSlack is prctl's PR_SET_TIMERSLACK (linux/prctl.h).
const prSetTimerSlack = 29

// preciseSleeps sets the calling thread's timer slack to 1 µs (default
// 50 µs), so that its nanosleeps end within microseconds of the time asked.
// The caller has locked its goroutine to the thread.
func preciseSleeps() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1000, 0)
}

// sleepUntil blocks the calling thread in nanosleep until t. The Go
// runtime hands the thread's P to other goroutines meanwhile. Signals (the
// runtime's preemption signal among them) cut a sleep short: it sleeps
// again for what is left.
func sleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(d.Nanoseconds())
		_ = syscall.Nanosleep(&ts, nil)
	}
}
