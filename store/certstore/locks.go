package certstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// Lock takes the named lock, waiting (polling every PollInterval) while
// another holder has it, until ctx is done. The lock is a record created
// only if absent, with a TTL of LockTTL that this Storage renews every
// LockTTL/3 until Unlock: a holder that crashes frees it within LockTTL.
//
// As with CertMagic's FileStorage, exclusion rests on the renewals: a
// holder cut off from the store for longer than LockTTL loses the lock
// without knowing it at once (it stops renewing when it sees another's
// token), so CertMagic's work under a lock must tolerate a rare overlap,
// which it does (it checks again for a certificate after locking).
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for lock %s: %w", name, ctx.Err())
		case <-time.After(s.opts.PollInterval):
		}
	}
}

// TryLock takes the named lock if no one holds it, without waiting.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	l := &lease{token: newToken(), stop: make(chan struct{}), done: make(chan struct{})}
	_, err := s.st.Create(ctx, lockKey(name), []byte(l.token), store.WriteOptions{TTL: s.opts.LockTTL})
	if errors.Is(err, store.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("taking lock %s: %w", name, err)
	}
	s.mu.Lock()
	s.held[name] = l
	s.mu.Unlock()
	go s.renew(name, l)
	return true, nil
}

// Unlock releases a lock this Storage holds: it stops renewing it and
// deletes the record if it still carries this holder's token (a lock that
// expired and was taken by another holder is left to that holder).
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	l := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if l == nil {
		return fmt.Errorf("unlocking %s: not held by this storage", name)
	}
	close(l.stop)
	<-l.done
	r, err := s.st.Get(ctx, lockKey(name))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("unlocking %s: %w", name, err)
	case string(r.Value) != l.token:
		return nil
	}
	if err := s.st.Delete(ctx, lockKey(name), r.Version); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("unlocking %s: %w", name, err)
	}
	return nil
}

// RenewLockLease extends a held lock to expire leaseDuration from now
// (CertMagic calls it during long operations); the renewals that follow
// go back to LockTTL.
func (s *Storage) RenewLockLease(ctx context.Context, name string, leaseDuration time.Duration) error {
	s.mu.Lock()
	l := s.held[name]
	s.mu.Unlock()
	if l == nil {
		return fmt.Errorf("renewing lock %s: not held by this storage", name)
	}
	return s.extend(ctx, name, l, leaseDuration)
}

// renew keeps a held lock alive until Unlock, or until it finds that the
// lock is no longer its own.
func (s *Storage) renew(name string, l *lease) {
	defer close(l.done)
	t := time.NewTicker(s.opts.LockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.LockTTL/3)
		err := s.extend(ctx, name, l, s.opts.LockTTL)
		cancel()
		if errors.Is(err, errLost) {
			s.opts.Logger.Warn("TLS storage lock lost to another holder", zap.String("lock", name))
			return
		}
		if err != nil {
			s.opts.Logger.Warn("renewing TLS storage lock", zap.String("lock", name), zap.Error(err))
		}
	}
}

var errLost = errors.New("lock held by another holder")

// extend rewrites the lock record with a new TTL if it is still ours.
func (s *Storage) extend(ctx context.Context, name string, l *lease, ttl time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, err := s.st.Get(ctx, lockKey(name))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("renewing lock %s: %w", name, errLost)
	case err != nil:
		return fmt.Errorf("renewing lock %s: %w", name, err)
	case string(r.Value) != l.token:
		return fmt.Errorf("renewing lock %s: %w", name, errLost)
	}
	_, err = s.st.Update(ctx, lockKey(name), r.Value, r.Version, store.WriteOptions{TTL: ttl})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("renewing lock %s: %w", name, errLost)
	}
	if err != nil {
		return fmt.Errorf("renewing lock %s: %w", name, err)
	}
	return nil
}

func lockKey(name string) string { return lockPrefix + escape(name) }
