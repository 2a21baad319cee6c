// Package store is keygate's persistence contract: everything keygate keeps
// (users, credential digests, sessions) or shares between replicas (failure
// counters, invalidation events) goes through the Store interface.
//
// Two implementations exist and behave the same, as the conformance suite in
// store/storetest proves: store/embedded (bbolt, one process, the default)
// and store/redis (go-redis UniversalClient, shared by replicas).
//
// The store knows nothing about credentials. It keeps opaque records under
// string keys, counters, failure strikes and events; the meaning belongs to
// the callers.
//
// # Keys
//
// A key is 1 to [MaxKeyLen] bytes of printable ASCII without spaces and
// without '{' or '}' (the Redis implementation uses braces for Cluster hash
// tags). By convention keys are written "kind/id", for example "user/alice".
// Records, counters and strikes live in separate key spaces: a record and a
// counter may share a key without touching each other.
//
// # Errors
//
// Expected outcomes are sentinels checked with errors.Is: [ErrNotFound],
// [ErrConflict]. A backend that cannot be reached or answers garbage gives an
// error wrapping [ErrUnavailable]; callers fail closed on it and never treat
// it as "not found". [ErrInvalidKey] wraps a key that breaks the rules above.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Sentinel errors; implementations wrap them with context.
var (
	// ErrNotFound: no live record (absent, deleted or expired).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: Create found an existing record, or Update/Delete found
	// a version other than the one expected.
	ErrConflict = errors.New("store: version conflict")
	// ErrUnavailable: the backend could not answer (network, timeout,
	// closed). Never cache it as a negative answer.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrInvalidKey: the key, index or channel name breaks the key rules.
	ErrInvalidKey = errors.New("store: invalid key")
	// ErrValueTooLarge: a record value is longer than [MaxValueLen].
	ErrValueTooLarge = errors.New("store: value too large")
)

// MaxKeyLen is the longest key or index name accepted.
const MaxKeyLen = 512

// MaxValueLen is the largest record value accepted (1 MiB).
const MaxValueLen = 1 << 20

// Record is one stored value with its version.
type Record struct {
	// Key the record is stored under.
	Key string
	// Value is the caller's opaque bytes.
	Value []byte
	// Version starts at 1 when the record is created and grows by one on
	// every write. It is the token for Update and Delete.
	Version int64
	// ExpiresAt is when the record stops existing; zero means never.
	ExpiresAt time.Time
}

// WriteOptions modify Create, Put and Update.
type WriteOptions struct {
	// TTL makes the record expire; zero means it never does, negative is
	// an error. An Update (or Put) replaces the TTL: a record written again
	// without one no longer expires. Expiry times have millisecond
	// precision.
	TTL time.Duration
	// Indexes are secondary index names the record is listed under (for
	// example "user-creds/alice"), replacing those of the previous version.
	// Index names follow the key rules.
	Indexes []string
}

// Records is the versioned key-value part of the contract.
type Records interface {
	// Get returns the live record at key, or ErrNotFound.
	Get(ctx context.Context, key string) (Record, error)
	// Create writes a record that must not exist yet (ErrConflict if a live
	// one does) and returns its version, 1.
	Create(ctx context.Context, key string, value []byte, opts WriteOptions) (int64, error)
	// Put writes a record whether or not it exists and returns its new
	// version.
	Put(ctx context.Context, key string, value []byte, opts WriteOptions) (int64, error)
	// Update writes a record only if its current version is version
	// (compare-and-set). ErrNotFound if there is no live record, ErrConflict
	// if the version differs. It returns the new version.
	Update(ctx context.Context, key string, value []byte, version int64, opts WriteOptions) (int64, error)
	// Delete removes the record. With version 0 it removes whatever is
	// there; otherwise only that version (ErrConflict if it differs).
	// ErrNotFound if there is no live record.
	Delete(ctx context.Context, key string, version int64) error
	// List returns the live records listed under the index, in key order.
	// It never scans the whole key space. Records deleted or expired, or
	// rewritten without that index, are not returned.
	List(ctx context.Context, index string) ([]Record, error)
}

// Strikes is the state of a failure counter with a sticky trip flag.
type Strikes struct {
	// Count of failures since the last Reset (or since creation).
	Count int64
	// Tripped is set, once and for good, by the failure that made Count
	// reach the limit. Only Clear removes it.
	Tripped bool
}

// Counters are atomic integer counters and strike counters shared by every
// client of the store.
type Counters interface {
	// Incr adds delta to the counter at key and returns the new value. A
	// counter that does not exist starts at 0; ttl (if positive) is set
	// when the counter is created and not extended by later increments.
	Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
	// Counter returns the counter's value, 0 if it does not exist.
	Counter(ctx context.Context, key string) (int64, error)
	// ResetCounter removes the counter.
	ResetCounter(ctx context.Context, key string) error

	// Strike atomically records one failure at key and sets Tripped when
	// the count reaches limit (a limit below 1 counts as 1). Exactly one call among any number of
	// concurrent ones, from any number of clients, observes the transition
	// (returned tripped == true); once tripped, later strikes return the
	// state with tripped == false.
	Strike(ctx context.Context, key string, limit int64) (s Strikes, tripped bool, err error)
	// Strikes reads the state without changing it (zero if absent).
	Strikes(ctx context.Context, key string) (Strikes, error)
	// ResetStrikes sets Count to 0 and leaves Tripped as it is: a success
	// racing a failure never un-trips.
	ResetStrikes(ctx context.Context, key string) error
	// ClearStrikes removes count and trip flag (an administrator's unvoid).
	ClearStrikes(ctx context.Context, key string) error
}

// Message is one event delivered to a subscriber.
type Message struct {
	// Channel the message was published on.
	Channel string
	// Payload as published. Empty when Resync is set.
	Payload []byte
	// Resync tells the subscriber that messages may have been lost (the
	// connection to the backend was re-established): anything derived from
	// earlier messages, such as a cache, must be dropped or re-checked.
	Resync bool
	// Down tells the subscriber that the subscription is lost: until the
	// next message (a Resync when it is back) nothing published arrives,
	// so anything derived from messages goes stale unseen. Empty Payload.
	Down bool
}

// Events is publish/subscribe between every client of the store. Channel
// names follow the key rules (ErrInvalidKey otherwise). Delivery is at most
// once: a message published while a subscriber is disconnected is lost, and
// the subscriber is told so with a Resync. The messages one client publishes
// on a channel arrive in the order it published them.
type Events interface {
	// Publish sends payload to every current subscriber of channel.
	Publish(ctx context.Context, channel string, payload []byte) error
	// Subscribe delivers the messages published on channel after it returns
	// until ctx is done or the store is closed, when the channel is closed.
	// It survives reconnections to the backend and reports each one with a
	// Resync message; a backend that can lose the subscription for a while
	// sends a Down message when it does. A subscriber that does not keep up loses messages and
	// is sent a Resync; it never blocks publishers.
	Subscribe(ctx context.Context, channel string) (<-chan Message, error)
}

// Store is the whole contract. Implementations are safe for concurrent use.
type Store interface {
	Records
	Counters
	Events
	// Ping reports whether the backend answers (ErrUnavailable if not).
	Ping(ctx context.Context) error
	// Close releases the backend. Subscriptions are closed; later calls
	// fail with an error wrapping ErrUnavailable. Closing again does
	// nothing and returns nil.
	Close() error
}

// CheckKey reports whether key follows the key rules, with an error wrapping
// ErrInvalidKey that says why.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c <= ' ' || c >= 0x7f || c == '{' || c == '}' {
			return fmt.Errorf("%w: byte %d (%#x) not allowed", ErrInvalidKey, i, c)
		}
	}
	return nil
}

// CheckValue reports whether a record value is within MaxValueLen, with an
// error wrapping ErrValueTooLarge if not.
func CheckValue(value []byte) error {
	if len(value) > MaxValueLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(value), MaxValueLen)
	}
	return nil
}

// Check reports whether opts are valid: TTL not negative and every index
// name following the key rules (an error wrapping ErrInvalidKey if not).
// SortedIndexes returns the index names sorted and without duplicates, the
// form both implementations store.
func (opts WriteOptions) SortedIndexes() []string {
	if len(opts.Indexes) == 0 {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(opts.Indexes)))
}

func (opts WriteOptions) Check() error {
	if opts.TTL < 0 {
		return fmt.Errorf("store: negative ttl %s", opts.TTL)
	}
	for _, idx := range opts.Indexes {
		if err := CheckKey(idx); err != nil {
			return fmt.Errorf("index %q: %w", idx, err)
		}
	}
	return nil
}
