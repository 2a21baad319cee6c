package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/internal/mailbox"
)

// Publish sends payload to every current subscriber of channel, on every
// client of this Redis.
//
// PUBLISH names no key, so a Cluster client would send each one to any
// node, which forwards it to the others over the cluster bus: two messages
// published one after the other could reach a subscriber in the opposite
// order. Publish routes it by the channel's slot instead, to the node
// where go-redis subscribes (that slot's master), so the messages of one
// publisher arrive in the order they were sent.
func (s *Store) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := s.check(ctx, "publish", channel); err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	cmd := goredis.NewIntCmd(ctx, "publish", s.channelName(channel), payload)
	cmd.SetFirstKeyPos(1)
	_ = s.client.Process(ctx, cmd)
	if err := cmd.Err(); err != nil {
		return s.fail(ctx, "publish", channel, err)
	}
	return nil
}

// Subscribe delivers the messages published on channel after it returns,
// until ctx is done or the store is closed.
//
// Each subscription is a go-redis PubSub with its own connection. go-redis
// reconnects and subscribes again by itself after losing the connection (it
// also pings an idle connection every 3 seconds to notice a dead one); the
// server confirms every SUBSCRIBE, so a confirmation after the first one
// means a reconnection, during which messages may have been lost: the
// subscriber then gets a Resync, the event is logged at warn level and
// counted in keygate_store_pubsub_resubscribes_total, and the eviction
// policy is checked again (the new connection may reach another master).
func (s *Store) Subscribe(ctx context.Context, channel string) (<-chan store.Message, error) {
	if err := s.check(ctx, "subscribe", channel); err != nil {
		return nil, err
	}
	name := s.channelName(channel)
	octx, cancel := s.opContext(ctx)
	defer cancel()
	ps := s.client.Subscribe(octx, name)
	// Wait for the confirmation: from then on, every message published on
	// the channel is delivered.
	if _, err := ps.Receive(octx); err != nil {
		_ = ps.Close()
		return nil, s.fail(octx, "subscribe", channel, err)
	}
	box := mailbox.New(0)
	s.mu.Lock()
	if s.closed.Load() { // closed meanwhile: do not outlive Close
		s.mu.Unlock()
		_ = ps.Close()
		return nil, opError("subscribe", channel, errClosed)
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.pump(ctx, channel, ps, box)
	}()
	return box.C(), nil
}

// pump moves messages from ps to box until ctx is done or the store closes.
func (s *Store) pump(ctx context.Context, channel string, ps *goredis.PubSub, box *mailbox.Box) {
	defer box.Close()
	in := ps.ChannelWithSubscriptions(goredis.WithChannelSize(mailbox.DefaultSize))
	defer func() {
		_ = ps.Close()
		// go-redis closes in after Close; drain it so its goroutine ends.
		for range in {
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case m, ok := <-in:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *goredis.Subscription:
				if m.Kind != "subscribe" {
					continue
				}
				s.metrics.resubscribes.Inc()
				s.log.Warn("store pubsub resubscribed", zap.String("channel", channel))
				select { // the master may have changed: check its policy
				case s.recheck <- struct{}{}:
				default:
				}
				box.Send(store.Message{Channel: channel, Resync: true})
			case *goredis.Message:
				if !box.Send(store.Message{Channel: channel, Payload: []byte(m.Payload)}) {
					s.log.Warn("store subscriber too slow, sent resync", zap.String("channel", channel))
				}
			default:
				s.log.Debug("store pubsub unexpected message", zap.String("type", fmt.Sprintf("%T", m)))
			}
		}
	}
}
