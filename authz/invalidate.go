package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// Invalidation: every replica caches verifications, and a change to a
// credential, a user or a strike count is published on eventsChannel so
// that every replica drops (or marks) what it cached.

// eventsChannel carries invalidations between replicas.
const eventsChannel = "authz"

// downTTLDivisor shortens the cache's effective TTL while the
// subscription to invalidations is lost: cache_ttl/downTTLDivisor, so that
// a revocation made on another replica still arrives within a tenth of
// cache_ttl (by a store read) instead of the whole of it.
const downTTLDivisor = 10

// listen applies invalidations published by any replica (this one too).
// A Down message marks the subscription lost until the next message.
func (s *Verifier) listen(events <-chan store.Message) {
	defer s.wg.Done()
	for m := range events {
		if s.subDown.Swap(m.Down) != m.Down {
			if m.Down {
				s.log.Warn("invalidations from other replicas are not arriving: cached credentials are re-checked after a tenth of auth.cache_ttl", zap.Duration("effective_cache_ttl", s.ttl/downTTLDivisor))
			}
		}
		if m.Down {
			continue
		}
		if m.Resync {
			s.log.Warn("invalidation messages may have been lost: re-checking every cached credential")
			s.invalidateAll()
			continue
		}
		origin, ev, ok := strings.Cut(string(m.Payload), " ")
		if !ok || origin == s.origin {
			continue // malformed, or our own (applied when published)
		}
		s.applyEvent(ev)
	}
}

// invalidateAll makes every cached entry stale: the next request asks
// the store again. Entries are kept (not dropped) so that while the store
// is down they can still stand in under stale_if_error.
func (s *Verifier) invalidateAll() {
	s.staleBefore.Store(s.now().UnixNano())
}

// fresh reports whether an entry fetched at fetched may be used without
// asking the store: younger than ttl (a tenth of it while invalidations
// are not arriving) and not older than the last invalidateAll.
func (s *Verifier) fresh(fetched time.Time, now time.Time, ttl time.Duration) bool {
	if s.subDown.Load() {
		ttl /= downTTLDivisor
	}
	return now.Sub(fetched) < ttl && fetched.UnixNano() > s.staleBefore.Load()
}

// lastUsedEvery is how often, at most, a replica records a credential's
// last use.
const lastUsedEvery = time.Minute

// markUsed queues a last-used update for a verified credential at most
// once a minute per replica, off the request path: the update is written
// by recordUse, and dropped (not waited for) when the queue is full.
func (s *Verifier) markUsed(e *entry, at time.Time) {
	now := at.UnixNano()
	last := e.lastUsed.Load()
	if now-last < int64(lastUsedEvery) || !e.lastUsed.CompareAndSwap(last, now) {
		return
	}
	select {
	case s.usedQueue <- e.rec.CredentialID:
	default:
	}
}

// recordUse writes queued last-used times into the credentials' records.
func (s *Verifier) recordUse(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.usedQueue:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			now := s.now().UTC().Truncate(time.Second)
			_, err := s.db.creds.update(wctx, id, func(c *Credential) error {
				if !now.After(c.LastUsed) {
					return errUnchanged
				}
				c.LastUsed = now
				return nil
			})
			cancel()
			if err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
				s.log.Debug("recording last use failed", zap.String("credential_id", id), zap.Error(err))
			}
		}
	}
}

// applyEvent handles one invalidation: "d:<record key>" drops the entry of
// one secret; "s:<record key>" marks it struck (an ApiKey strike was
// recorded: settle reads the strikes again before a right token) and
// "v:<record key>#<generation>" voided if it is of that token generation,
// both in place; "u:<user>" and "*" drop everything. (A replica that does
// not know "s" or "v" drops everything: more than needed, never less.)
func (s *Verifier) applyEvent(ev string) {
	kind, arg, _ := strings.Cut(ev, ":")
	arg, gen, _ := strings.Cut(arg, "#")
	switch kind {
	case "d", "s", "v":
		// "dig/<key id>/<hex digest>"
		rest, ok := strings.CutPrefix(arg, "dig/")
		if !ok {
			return
		}
		kid, hx, ok := strings.Cut(rest, "/")
		if !ok {
			return
		}
		var d [sha256.Size]byte
		if b, err := hex.DecodeString(hx); err != nil || len(b) != len(d) {
			return
		} else {
			copy(d[:], b)
		}
		for _, k := range s.keys {
			if k.id != kid {
				continue
			}
			ck := cacheKey{key: k.index, d: d}
			if kind == "d" {
				s.creds.Invalidate(ck)
			} else if e, ok := s.creds.GetIfPresent(ck); ok && e.rec != nil {
				e.struck.Store(true)
				if kind == "v" && strconv.FormatInt(e.rec.Generation, 10) == gen {
					e.voided.Store(true)
				}
			}
		}
	default:
		s.invalidateAll()
	}
}

// publish tells every replica to drop what an event names: this one at
// once, the others through the store. The message carries this replica's
// origin id so that its echo, arriving later, does not drop an entry
// fetched meanwhile. A failure is logged: the cache TTL still bounds
// staleness.
func (s *Verifier) publish(ctx context.Context, ev string) {
	s.applyEvent(ev)
	if err := s.st.Publish(ctx, eventsChannel, []byte(s.origin+" "+ev)); err != nil {
		s.log.Error("publishing invalidation failed; other replicas keep their cache up to auth.cache_ttl", zap.String("event", ev), zap.Error(err))
	}
}

// publish is the Verifier's publish, for the parts that change
// credentials and users.
func (c *core) publish(ctx context.Context, ev string) { c.verifier.publish(ctx, ev) }
