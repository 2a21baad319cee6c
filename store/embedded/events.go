package embedded

import (
	"context"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/internal/mailbox"
)

// hub fans events out to the subscribers of this process.
type hub struct {
	mu     sync.RWMutex
	subs   map[string][]*mailbox.Box
	closed bool
}

func (h *hub) init() { h.subs = make(map[string][]*mailbox.Box) }

// add registers box for channel; false if the hub is closed.
func (h *hub) add(channel string, box *mailbox.Box) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.subs[channel] = append(h.subs[channel], box)
	return true
}

// remove unregisters box and closes it.
func (h *hub) remove(channel string, box *mailbox.Box) {
	h.mu.Lock()
	boxes := slices.DeleteFunc(h.subs[channel], func(b *mailbox.Box) bool { return b == box })
	if len(boxes) == 0 {
		delete(h.subs, channel)
	} else {
		h.subs[channel] = boxes
	}
	h.mu.Unlock()
	box.Close()
}

// send delivers m to channel's subscribers and returns how many were too
// slow to take it.
func (h *hub) send(m store.Message) (dropped int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, b := range h.subs[m.Channel] {
		if !b.Send(m) {
			dropped++
		}
	}
	return dropped
}

// close closes every subscription and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, boxes := range h.subs {
		for _, b := range boxes {
			b.Close()
		}
	}
	clear(h.subs)
}

// Publish delivers payload to the current subscribers of channel in this
// process. It never blocks on a slow subscriber: that one gets a Resync.
func (s *Store) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := s.check(ctx, "publish", channel); err != nil {
		return err
	}
	// Subscribers get their own copy: payload stays the caller's.
	m := store.Message{Channel: channel, Payload: slices.Clone(payload)}
	if dropped := s.hub.send(m); dropped > 0 {
		s.log.Warn("store subscriber too slow, sent resync",
			zap.String("channel", channel), zap.Int("subscribers", dropped))
	}
	return nil
}

// Subscribe delivers the messages published on channel in this process
// until ctx is done or the store is closed.
func (s *Store) Subscribe(ctx context.Context, channel string) (<-chan store.Message, error) {
	if err := s.check(ctx, "subscribe", channel); err != nil {
		return nil, err
	}
	box := mailbox.New(0)
	if !s.hub.add(channel, box) {
		return nil, opError("subscribe", channel, errClosed)
	}
	context.AfterFunc(ctx, func() { s.hub.remove(channel, box) })
	return box.C(), nil
}
