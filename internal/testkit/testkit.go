// Package testkit holds the few helpers every package's tests share.
package testkit

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Poll is how often Eventually asks again.
const Poll = 10 * time.Millisecond

// Eventually asks cond every Poll until it is true, and fails the test with
// "what: not within timeout" if it is still false after timeout. It is the
// one place tests wait for something that happens in another goroutine,
// process or replica; a test that can be told instead of polling (a channel,
// an injected clock) should be.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
			return
		}
		time.Sleep(Poll)
	}
}

// Buffer collects what a process or server writes from other goroutines
// (its log, its output), for a failing test's message.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Bytes is a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// Reset forgets what was written so far.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}
