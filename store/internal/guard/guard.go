// Package guard holds the checks both store implementations run before a
// call touches anything, and the shape of the errors they return, so that
// the embedded and the Redis store refuse a call in the same words.
package guard

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/keygate/keygate/store"
)

// OpError gives err the call's context: "store <op> <key>: <err>", or
// without the key when there is none.
func OpError(op, key string, err error) error {
	if key == "" {
		return fmt.Errorf("store %s: %w", op, err)
	}
	return fmt.Errorf("store %s %q: %w", op, key, err)
}

// Ready fails when ctx is done or the store is closed (errClosed).
func Ready(ctx context.Context, closed *atomic.Bool, errClosed error, op, key string) error {
	if err := ctx.Err(); err != nil {
		return OpError(op, key, err)
	}
	if closed.Load() {
		return OpError(op, key, errClosed)
	}
	return nil
}

// Key is the prologue of every call taking a key: a done ctx, a closed
// store or a bad key fail before anything is touched.
func Key(ctx context.Context, closed *atomic.Bool, errClosed error, op, key string) error {
	if err := Ready(ctx, closed, errClosed, op, key); err != nil {
		return err
	}
	if err := store.CheckKey(key); err != nil {
		return OpError(op, key, err)
	}
	return nil
}

// Write is the prologue of Create, Put and Update: Key, then the value and
// the write options.
func Write(ctx context.Context, closed *atomic.Bool, errClosed error, op, key string, value []byte, opts store.WriteOptions) error {
	if err := Key(ctx, closed, errClosed, op, key); err != nil {
		return err
	}
	if err := store.CheckValue(value); err != nil {
		return OpError(op, key, err)
	}
	if err := opts.Check(); err != nil {
		return OpError(op, key, err)
	}
	return nil
}
