// Package mailbox is the queue in front of one subscriber: both store
// implementations deliver events through it so that a slow subscriber loses
// messages (and is told so with a Resync) instead of blocking the publisher.
package mailbox

import (
	"sync"

	"github.com/keygate/keygate/store"
)

// DefaultSize is the number of messages a Box holds when New is given 0.
const DefaultSize = 128

// Box is a bounded queue of messages for one subscriber. Send never blocks;
// Send and Close may be called from any goroutine.
type Box struct {
	mu     sync.Mutex
	ch     chan store.Message
	closed bool
}

// New returns a Box holding up to size messages (DefaultSize if size < 2).
func New(size int) *Box {
	if size < 2 {
		size = DefaultSize
	}
	return &Box{ch: make(chan store.Message, size)}
}

// C is the channel the subscriber reads; it is closed by Close.
func (b *Box) C() <-chan store.Message { return b.ch }

// Send queues m without blocking and reports whether it was queued. When the
// queue is full, m is dropped and the oldest queued message makes room for a
// Resync, so the subscriber learns that it missed something; a Down
// message is kept (it says more than a Resync: the Resync follows when the
// subscription is back). Send after Close does nothing.
func (b *Box) Send(m store.Message) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	select {
	case b.ch <- m:
		return true
	default:
	}
	// Full. Only this goroutine (holding mu) sends, so after taking one
	// message out there is room for the Resync, whatever the reader does.
	select {
	case <-b.ch:
	default:
	}
	select {
	case b.ch <- store.Message{Channel: m.Channel, Resync: !m.Down, Down: m.Down}:
	default:
	}
	return false
}

// Close closes the subscriber's channel once; messages already queued stay
// readable.
func (b *Box) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.ch)
	}
}
