//go:build !linux

package main

import "time"

// preciseSleeps does nothing outside Linux.
func preciseSleeps() {}

// sleepUntil sleeps until t with Go's timers: outside Linux, the
// generator's own lateness can be up to a timer tick.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
