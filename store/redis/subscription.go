package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/internal/mailbox"
)

// The subscription pump. go-redis's PubSub reconnects by itself, but when
// the SUBSCRIBE of a reconnection is refused (an ACL change withdrew the
// channel) it keeps the connection, unsubscribed, and says nothing: the
// subscriber would never hear another message. So each subscription owns
// its connection here: it pings it, and on any loss it closes it, tells
// the subscriber (a Down message), logs, and subscribes again on a new
// connection with backoff, forever.
const (
	// subscriptionPing is how long the connection may be silent before it
	// is pinged; a ping unanswered for as long again means it is lost.
	subscriptionPing = 3 * time.Second
	// subscriptionRetryMin and subscriptionRetryMax bound the backoff
	// between attempts to subscribe again (doubling from min to max).
	subscriptionRetryMin = 100 * time.Millisecond
	subscriptionRetryMax = time.Second
	// subscriptionStillLost is how often a subscription that stays lost
	// is logged again.
	subscriptionStillLost = 30 * time.Second
)

// Subscribe delivers the messages published on channel after it returns,
// until ctx is done or the store is closed.
//
// Each subscription is a go-redis PubSub with its own connection, owned by
// one goroutine (pump). The first SUBSCRIBE must be confirmed before
// Subscribe returns; after that a lost subscription (closed connection,
// unanswered ping, refused SUBSCRIBE) sends the subscriber a Down message,
// is logged at warn level (again every 30 s while it lasts) and sets
// keygate_store_subscription_up{channel} to 0; the pump subscribes again
// with backoff (100 ms doubling to 1 s) until it succeeds, then sends a
// Resync (messages may have been lost meanwhile), counts it in
// keygate_store_pubsub_resubscribes_total and checks the eviction policy
// again (the new connection may reach another master).
func (s *Store) Subscribe(ctx context.Context, channel string) (<-chan store.Message, error) {
	if err := s.check(ctx, "subscribe", channel); err != nil {
		return nil, err
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	ps, err := s.subscribe(octx, channel)
	if err != nil {
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
	s.metrics.subscriptionUp.WithLabelValues(channel).Set(1)
	go func() {
		defer s.wg.Done()
		s.pump(ctx, channel, ps, box)
	}()
	return box.C(), nil
}

// subscribe opens a PubSub on channel and waits for the server's
// confirmation: from then on every message published is delivered.
func (s *Store) subscribe(ctx context.Context, channel string) (*goredis.PubSub, error) {
	ps := s.client.Subscribe(ctx, s.channelName(channel))
	m, err := ps.Receive(ctx)
	if err == nil {
		if sub, ok := m.(*goredis.Subscription); !ok || sub.Kind != "subscribe" {
			err = fmt.Errorf("unexpected answer to SUBSCRIBE: %T", m)
		}
	}
	if err != nil {
		_ = ps.Close()
		return nil, err
	}
	return ps, nil
}

// pump delivers messages from ps to box, and replaces ps when it is lost,
// until ctx is done or the store closes.
func (s *Store) pump(ctx context.Context, channel string, ps *goredis.PubSub, box *mailbox.Box) {
	defer box.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // Close ends the pump, even in the middle of a read
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	up := s.metrics.subscriptionUp.WithLabelValues(channel)
	for {
		err := s.receive(ctx, channel, ps, box)
		_ = ps.Close()
		if ctx.Err() != nil {
			return
		}
		lost := time.Now()
		// The gauge, the breaker and the log line come before the Down
		// message, so whoever reads Down sees them already.
		up.Set(0)
		// A dead subscription connection counts toward the circuit
		// breaker like a failed command (one of its three); a refusal
		// Redis answered (an ACL change) does not.
		s.breaker.observe(ctx, err)
		s.log.Warn("store subscription lost", zap.String("channel", channel), zap.Error(err))
		box.Send(store.Message{Channel: channel, Down: true})
		if ps = s.resubscribe(ctx, channel, lost, err); ps == nil {
			return
		}
		up.Set(1)
		s.metrics.resubscribes.Inc()
		s.log.Info("store subscription restored", zap.String("channel", channel), zap.Duration("lost_for", time.Since(lost)))
		select { // the master may have changed: check its policy
		case s.recheck <- struct{}{}:
		default:
		}
		box.Send(store.Message{Channel: channel, Resync: true})
	}
}

// resubscribe tries to subscribe again with backoff until it succeeds
// (the new PubSub) or ctx is done (nil). A failure that lasts is logged
// every subscriptionStillLost.
func (s *Store) resubscribe(ctx context.Context, channel string, lost time.Time, err error) *goredis.PubSub {
	wait := subscriptionRetryMin
	logged := lost
	attempts := 0
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, subscriptionRetryMax)
		attempts++
		octx, cancel := s.opContext(ctx)
		ps, serr := s.subscribe(octx, channel)
		cancel()
		if serr == nil {
			return ps
		}
		if ctx.Err() != nil {
			return nil
		}
		s.metrics.errors.WithLabelValues("subscribe").Inc()
		err = serr
		if now := time.Now(); now.Sub(logged) >= subscriptionStillLost {
			logged = now
			s.log.Warn("store subscription still lost", zap.String("channel", channel),
				zap.Duration("lost_for", now.Sub(lost)), zap.Int("attempts", attempts), zap.Error(err))
		}
	}
}

// receive moves messages from ps to box until the subscription is lost
// (the error says how) or ctx is done. A connection silent for
// subscriptionPing is pinged; silent for as long again, it is lost.
func (s *Store) receive(ctx context.Context, channel string, ps *goredis.PubSub, box *mailbox.Box) error {
	pinged := false
	for {
		m, err := ps.ReceiveTimeout(ctx, subscriptionPing)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
			if pinged {
				return fmt.Errorf("no answer to PING within %s", subscriptionPing)
			}
			if err := ps.Ping(ctx); err != nil {
				return fmt.Errorf("PING: %w", err)
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := m.(type) {
		case *goredis.Message:
			if !box.Send(store.Message{Channel: channel, Payload: []byte(m.Payload)}) {
				s.log.Warn("store subscriber too slow, sent resync", zap.String("channel", channel))
			}
		case *goredis.Subscription:
			if m.Kind != "subscribe" {
				return fmt.Errorf("server ended the subscription (%s)", m.Kind)
			}
		case *goredis.Pong:
		default:
			s.log.Debug("store pubsub unexpected message", zap.String("type", fmt.Sprintf("%T", m)))
		}
	}
}
