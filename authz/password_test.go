package authz

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/store"
)

// passwordReplicas are the Services of one deployment on backend: one on
// the embedded store, two replicas (each with its own client) on Redis.
func passwordReplicas(t *testing.T, backend string, ss config.SelfService) []*Service {
	t.Helper()
	var stores []store.Store
	switch backend {
	case "embedded":
		stores = []store.Store{backends["embedded"](t)}
	case "redis":
		rc := redisConfig(t, redistest.Addr(t))
		stores = []store.Store{openRedis(t, rc), openRedis(t, rc)}
	}
	var out []*Service
	for _, st := range stores {
		s, err := New(t.Context(), authConfig(), st, Options{SelfService: ss})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		out = append(out, s)
	}
	return out
}

// hashes is how many passwords s has hashed.
func hashes(s *Service) int {
	return int(testutil.ToFloat64(s.Verifier.metrics.passwords[pwOK]) + testutil.ToFloat64(s.Verifier.metrics.passwords[pwInvalid]))
}

func addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }

// TestPasswordAttemptsReservedBeforeHashing: 40 wrong passwords for one
// user at once, spread over the replicas and 40 addresses, are hashed at
// most max_password_failures_per_user times in all; the right password
// afterwards is refused with the window as its wait.
func TestPasswordAttemptsReservedBeforeHashing(t *testing.T) {
	for _, backend := range []string{"embedded", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			const limit = 10
			ss := config.SelfService{MaxPasswordFailuresPerUser: limit, MaxPasswordFailuresPerAddress: 1000, PasswordCheckQueueTimeout: time.Minute}
			svcs := passwordReplicas(t, backend, ss)
			mustUser(t, svcs[0], "quinn", []string{"orders"}, []string{"read"})
			if err := svcs[0].Passwords.SetPassword(t.Context(), "quinn", "correct horse battery"); err != nil {
				t.Fatal(err)
			}

			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make([]error, 40)
			for i := range errs {
				wg.Go(func() {
					<-start
					_, errs[i] = svcs[i%len(svcs)].Passwords.CheckPassword(t.Context(), "quinn", fmt.Sprintf("wrong password %d", i), addr(i))
				})
			}
			close(start)
			wg.Wait()
			var invalid, refused int
			for i, err := range errs {
				switch {
				case errors.Is(err, ErrInvalid):
					invalid++
				case errors.Is(err, ErrTooManyAttempts):
					refused++
				default:
					t.Errorf("attempt %d: %v, want ErrInvalid or ErrTooManyAttempts", i, err)
				}
			}
			total := 0
			for _, s := range svcs {
				total += hashes(s)
			}
			if invalid > limit || total > limit || invalid+refused != 40 {
				t.Errorf("40 wrong passwords at once: %d wrong, %d refused, %d hashed; want at most %d wrong and hashed, the rest refused", invalid, refused, total, limit)
			}
			_, err := svcs[len(svcs)-1].Passwords.CheckPassword(t.Context(), "quinn", "correct horse battery", addr(99))
			var re *RetryError
			if !errors.As(err, &re) || !errors.Is(err, ErrTooManyAttempts) || re.Wait != config.DefaultPasswordFailureWindow {
				t.Errorf("right password afterwards: %v, want a RetryError wrapping ErrTooManyAttempts, wait %s", err, config.DefaultPasswordFailureWindow)
			}
			if n, _ := svcs[0].Verifier.st.Counter(t.Context(), failKey("u", "quinn")); n != int64(invalid) {
				t.Errorf("the user's count: got %d, want %d (the wrong passwords hashed; refused ones given back)", n, invalid)
			}
		})
	}
}

// TestPasswordChecksAtOnce: the process-wide and per-address bounds on
// password checks in progress refuse at once (per address) or after the
// queue timeout (process), hash nothing and count nothing.
func TestPasswordChecksAtOnce(t *testing.T) {
	ss := config.SelfService{MaxConcurrentPasswordChecks: 2, MaxConcurrentPasswordChecksPerAddress: 2, PasswordCheckQueueTimeout: 10 * time.Millisecond}
	for _, tc := range []struct {
		name string
		hold func(s *Service) (release func())
		from netip.Addr
		want error
	}{
		{"process at its limit", func(s *Service) func() {
			s.Passwords.hashing.all <- struct{}{}
			s.Passwords.hashing.all <- struct{}{}
			return func() { s.Passwords.hashing.release(); s.Passwords.hashing.release() }
		}, addr(1), ErrSignInBusy},
		{"address at its limit", func(s *Service) func() {
			s.Passwords.hashing.enter(addr(1))
			s.Passwords.hashing.enter(addr(1))
			return func() { s.Passwords.hashing.leave(addr(1)); s.Passwords.hashing.leave(addr(1)) }
		}, addr(1), ErrTooManyAttempts},
		{"another address at its limit", func(s *Service) func() {
			s.Passwords.hashing.enter(addr(2))
			s.Passwords.hashing.enter(addr(2))
			return func() { s.Passwords.hashing.leave(addr(2)); s.Passwords.hashing.leave(addr(2)) }
		}, addr(1), nil},
		{"one turn of the process left", func(s *Service) func() {
			s.Passwords.hashing.all <- struct{}{}
			return s.Passwords.hashing.release
		}, addr(1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := passwordReplicas(t, "embedded", ss)[0]
			mustUser(t, s, "quinn", []string{"orders"}, []string{"read"})
			if err := s.Passwords.SetPassword(t.Context(), "quinn", "correct horse battery"); err != nil {
				t.Fatal(err)
			}
			release := tc.hold(s)
			_, err := s.Passwords.CheckPassword(t.Context(), "quinn", "correct horse battery", tc.from)
			release()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("right password: %v, want signed in", err)
				}
				return
			}
			var re *RetryError
			if !errors.Is(err, tc.want) || !errors.As(err, &re) || re.Wait != time.Second {
				t.Errorf("right password: %v, want a RetryError wrapping %v, wait 1s", err, tc.want)
			}
			if h := hashes(s); h != 0 {
				t.Errorf("%d passwords hashed, want none", h)
			}
			for _, key := range []string{failKey("u", "quinn"), failKey("a", tc.from.String())} {
				if n, _ := s.Verifier.st.Counter(t.Context(), key); n != 0 {
					t.Errorf("counter %s: %d, want 0 (the attempt given back)", key, n)
				}
			}
			if _, err := s.Passwords.CheckPassword(t.Context(), "quinn", "correct horse battery", tc.from); err != nil {
				t.Errorf("right password once the checks are done: %v", err)
			}
		})
	}
}
