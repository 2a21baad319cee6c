package authz

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/argon2"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/store"
)

// ErrTooManyAttempts: password sign-in is refused for a while after too
// many failures for the user or from the address, or while the address
// has too many sign-ins running at once (429). CheckPassword returns it
// as a *RetryError.
var ErrTooManyAttempts = errors.New("too many failed attempts")

// ErrSignInBusy: this process is hashing as many passwords as
// self_service.max_concurrent_password_checks allows and none finished
// within password_check_queue_timeout (503). CheckPassword returns it as
// a *RetryError.
var ErrSignInBusy = errors.New("too many password checks at once")

// RetryError is ErrTooManyAttempts or ErrSignInBusy with how long the
// caller should wait before trying again (Retry-After).
type RetryError struct {
	Err  error
	Wait time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// Seconds is Wait in whole seconds, rounded up, at least 1: the value of
// a Retry-After header.
func (e *RetryError) Seconds() int { return max(int((e.Wait+time.Second-1)/time.Second), 1) }

// argon2id parameters (OWASP's second recommended set: 19 MiB, 2 passes,
// 1 lane), written into each hash so they can be raised later.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

func passwordKey(name string) string { return "password/" + name }

// Passwords sets users' passwords and signs users in with them, within
// the self-service limits on failures and on hashes running at once. It
// is safe for concurrent use.
type Passwords struct {
	*core
	// accounts holds the users: read before a hash, given a new
	// SessionEpoch after a password is set.
	accounts *Accounts
	selfSvc  config.SelfService
	// hashing bounds password checks running at once (self_service).
	hashing *hashSlots
}

// SetPassword sets a user's password, stored as an argon2id hash in a
// record of its own, and ends the user's account-page sessions: the hash
// is written first, then a new SessionEpoch, so that a sign-in that
// checked the old password (CheckPassword reads the user before the hash)
// holds the old epoch. If the second write fails, the error says so and
// setting the password again ends the sessions.
func (s *Passwords) SetPassword(ctx context.Context, name, password string) error {
	if len(password) < 8 || len(password) > 256 {
		return invalid("password", "must be 8 to 256 bytes")
	}
	if _, err := s.accounts.GetUser(ctx, name); err != nil {
		return err
	}
	hash := hashPassword(password)
	if err := s.db.refs.put(ctx, passwordKey(name), &hash); err != nil {
		return err
	}
	_, err := s.accounts.updateUser(ctx, name, func(u *User) error {
		u.SessionEpoch = newID()
		return nil
	})
	// The password is set whatever follows.
	s.audit(ctx, audit.SetPassword, audit.User(name), zap.Bool("sessions_ended", err == nil))
	if err != nil {
		return fmt.Errorf("password set, but the user's sessions were not ended: %w", err)
	}
	return s.st.ResetCounter(ctx, failKey("u", name))
}

func hashPassword(password string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	h := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(h))
}

// passwordMatches checks a password against an argon2id hash in constant
// time; a malformed hash matches nothing.
func passwordMatches(password, encoded string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when the user does not exist, so that an
// unknown name costs what a wrong password costs.
var dummyHash = hashPassword("keygate-dummy-password")

func failKey(kind, who string) string { return "pwfail/" + kind + "/" + who }

// CheckPassword signs a user in with their password. Unknown user, wrong
// password and disabled user are all ErrInvalid.
//
// Before any hash is computed, the attempt takes its place under every
// limit, so that concurrent attempts cannot overrun them:
//
//  1. one of self_service.max_concurrent_password_checks_per_address
//     running for the client address, or a *RetryError wrapping
//     ErrTooManyAttempts (429) at once;
//  2. one attempt counted, atomically in the store (so across replicas),
//     against max_password_failures_per_address and _per_user within
//     password_failure_window; past either limit a *RetryError wrapping
//     ErrTooManyAttempts, right password or wrong, and nothing is hashed;
//  3. one of max_concurrent_password_checks in this process, waited for
//     up to password_check_queue_timeout, or a *RetryError wrapping
//     ErrSignInBusy (503).
//
// A wrong password keeps its counted attempts; the right one resets the
// user's count and gives the address's back. Attempts refused before the
// hash are given back too: the counters hold failures and attempts in
// progress, nothing else.
func (s *Passwords) CheckPassword(ctx context.Context, name, password string, client netip.Addr) (*User, error) {
	if !nameRe.MatchString(name) {
		name = "_invalid" // still counted and timed like any other name
	}
	if !s.hashing.enter(client) {
		s.metrics.passwords[pwTooManyAtOnce].Inc()
		return nil, &RetryError{Err: ErrTooManyAttempts, Wait: time.Second}
	}
	defer s.hashing.leave(client)

	userKey, addrKey := failKey("u", name), failKey("a", client.String())
	if err := s.reserveAttempt(ctx, addrKey, userKey); err != nil {
		return nil, err
	}
	u, ok, err := s.checkPassword(ctx, name, password)
	switch {
	case err != nil:
		s.giveBack(ctx, addrKey, userKey)
		return nil, err
	case !ok:
		s.metrics.passwords[pwInvalid].Inc()
		return nil, ErrInvalid
	}
	s.metrics.passwords[pwOK].Inc()
	ctx = context.WithoutCancel(ctx)
	if err := s.st.ResetCounter(ctx, userKey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.giveBack(ctx, addrKey)
	return u, nil
}

// reserveAttempt counts one attempt on the address's counter, then the
// user's: a count past its limit is given back (with those taken before)
// and the attempt refused.
func (s *Passwords) reserveAttempt(ctx context.Context, addrKey, userKey string) error {
	ss := s.selfSvc
	limits := [2]int64{int64(ss.MaxPasswordFailuresPerAddress), int64(ss.MaxPasswordFailuresPerUser)}
	for i, key := range [2]string{addrKey, userKey} {
		n, err := s.st.Incr(ctx, key, 1, ss.PasswordFailureWindow)
		if err != nil {
			s.metrics.passwords[pwStoreError].Inc()
			if i > 0 {
				s.giveBack(ctx, addrKey)
			}
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if n > limits[i] {
			s.metrics.passwords[pwTooManyFailures].Inc()
			s.giveBack(ctx, []string{addrKey, userKey}[:i+1]...)
			return &RetryError{Err: ErrTooManyAttempts, Wait: ss.PasswordFailureWindow}
		}
	}
	return nil
}

// giveBack takes back one counted attempt from each key. It runs even
// when the request was cancelled; a failure leaves a count too high until
// the window ends, which errs on the side of refusing.
func (s *Passwords) giveBack(ctx context.Context, keys ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, key := range keys {
		if _, err := s.st.Incr(ctx, key, -1, s.selfSvc.PasswordFailureWindow); err != nil {
			s.log.Warn("giving back a password attempt", zap.Error(err))
		}
	}
}

// checkPassword reads the user, then their password hash, then waits for
// a turn to hash (store reads hold no turn). The user is read first so
// that a sign-in racing a password change (SetPassword writes the hash,
// then the user's SessionEpoch) never pairs the old password with the new
// epoch. ok is false for an unknown user, a wrong password or a disabled
// user, who all cost one hash.
func (s *Passwords) checkPassword(ctx context.Context, name, password string) (u *User, ok bool, err error) {
	u, err = s.accounts.GetUser(ctx, name)
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		s.metrics.passwords[pwStoreError].Inc()
		return nil, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	hash, stored := dummyHash, false
	h, _, err := s.db.refs.get(ctx, passwordKey(name))
	switch {
	case err == nil:
		hash, stored = *h, true
	case !errors.Is(err, store.ErrNotFound):
		s.metrics.passwords[pwStoreError].Inc()
		return nil, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !s.hashing.acquire(ctx) {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		s.metrics.passwords[pwBusy].Inc()
		return nil, false, &RetryError{Err: ErrSignInBusy, Wait: time.Second}
	}
	matches := passwordMatches(password, hash)
	s.hashing.release()
	ok = matches && stored && u != nil && !u.Disabled
	return u, ok, nil
}

// hashSlots bound password hashing, which costs argon2Memory of memory
// and a core for tens of milliseconds: all is the process's turns (a
// semaphore, waited for up to wait); perAddr bounds the checks running or
// waiting for one client address (never waited for).
type hashSlots struct {
	all     chan struct{}
	wait    time.Duration
	perAddr int

	mu     sync.Mutex
	active map[netip.Addr]int
}

func newHashSlots(ss config.SelfService) *hashSlots {
	return &hashSlots{
		all:     make(chan struct{}, ss.MaxConcurrentPasswordChecks),
		wait:    ss.PasswordCheckQueueTimeout,
		perAddr: ss.MaxConcurrentPasswordChecksPerAddress,
		active:  make(map[netip.Addr]int),
	}
}

// enter counts a check for a, or reports false when a has perAddr already.
func (h *hashSlots) enter(a netip.Addr) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active[a] >= h.perAddr {
		return false
	}
	h.active[a]++
	return true
}

func (h *hashSlots) leave(a netip.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active[a] <= 1 {
		delete(h.active, a)
		return
	}
	h.active[a]--
}

// acquire waits for one of the process's turns, up to wait or until ctx
// is done.
func (h *hashSlots) acquire(ctx context.Context) bool {
	select {
	case h.all <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.all <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (h *hashSlots) release() { <-h.all }
