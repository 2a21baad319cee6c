package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate/store"
)

// failing wraps a real store and fails one chosen write: the n-th Create
// or Update (op) of a key starting with prefix after arm. Every other call
// reaches the real store.
type failing struct {
	store.Store
	mu         sync.Mutex
	op, prefix string
	n          int
	fired      bool
	// beforeCreate, if set, runs before every Create (outside the lock).
	beforeCreate func(key string)
}

func (f *failing) arm(op, prefix string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.op, f.prefix, f.n, f.fired = op, prefix, n, false
}

// hit reports whether this call is the one to fail.
func (f *failing) hit(op, key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.op != op || !strings.HasPrefix(key, f.prefix) {
		return false
	}
	if f.n--; f.n > 0 {
		return false
	}
	f.op, f.fired = "", true
	return true
}

func (f *failing) didFire() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

func (f *failing) Create(ctx context.Context, key string, value []byte, opts store.WriteOptions) (int64, error) {
	f.mu.Lock()
	before := f.beforeCreate
	f.mu.Unlock()
	if before != nil {
		before(key)
	}
	if f.hit("Create", key) {
		return 0, fmt.Errorf("%w: injected failure creating %s", store.ErrUnavailable, key)
	}
	return f.Store.Create(ctx, key, value, opts)
}

func (f *failing) Update(ctx context.Context, key string, value []byte, version int64, opts store.WriteOptions) (int64, error) {
	if f.hit("Update", key) {
		return 0, fmt.Errorf("%w: injected failure updating %s", store.ErrUnavailable, key)
	}
	return f.Store.Update(ctx, key, value, version, opts)
}

// TestFailedRefreshChangesNothing: a refresh that fails, whether the
// request is refused or the store fails at any step, leaves the presented
// refresh token usable and its family alive (RFC 6749 §5.2), and leaves
// no new token behind: the retry with the same refresh token succeeds.
func TestFailedRefreshChangesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, real store.Store) {
		ctx := t.Context()
		st := &failing{Store: real}
		s := newService(t, st, authConfig(), nil)
		mustUser(t, s, "rhea", []string{"orders"}, []string{"read", "write"})
		setDisabled := func(d bool) {
			t.Helper()
			if _, err := s.Accounts.UpdateUser(ctx, "rhea", func(u *User) error { u.Disabled = d; return nil }); err != nil {
				t.Fatalf("UpdateUser: %v", err)
			}
		}

		for _, tc := range []struct {
			name    string
			scope   []string
			before  func() // breaks something just before the refresh
			after   func() // mends it
			wantErr error
		}{
			{name: "scope the token lacks", scope: []string{"admin"}, wantErr: ErrInvalidScope},
			{name: "owner disabled", before: func() { setDisabled(true) }, after: func() { setDisabled(false) }, wantErr: ErrInvalidClient},
			{name: "store fails writing the new access token", before: func() { st.arm("Create", "dig/", 1) }, wantErr: store.ErrUnavailable},
			{name: "store fails writing the new access token's record", before: func() { st.arm("Create", "cred/", 1) }, wantErr: store.ErrUnavailable},
			{name: "store fails writing the new refresh token", before: func() { st.arm("Create", "dig/", 2) }, wantErr: store.ErrUnavailable},
			{name: "store fails writing the new refresh token's record", before: func() { st.arm("Create", "cred/", 2) }, wantErr: store.ErrUnavailable},
			{name: "store fails rotating the presented token", before: func() { st.arm("Update", "dig/", 1) }, wantErr: store.ErrUnavailable},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, first := granted(t, s, "rhea")
				if tc.before != nil {
					tc.before()
				}
				_, err := s.OAuth.RefreshGrant(ctx, c, first.RefreshToken, tc.scope)
				if tc.after != nil {
					tc.after()
				}
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("failed refresh: %v, want %v", err, tc.wantErr)
				}
				if strings.HasPrefix(tc.name, "store") && !st.didFire() {
					t.Fatal("the injected store failure never happened: the test no longer tests the step it names")
				}

				// Nothing new works, nothing old stopped working.
				if got := activeOf(t, s, "rhea", c.ID); got != 2 {
					t.Errorf("active tokens of the client after the failed refresh = %d, want 2 (the first grant's)", got)
				}
				if _, err := s.Verifier.Verify(ctx, bearer(first.AccessToken), readOrders, client); err != nil {
					t.Errorf("access token of the family after a failed refresh: %v, want valid (no family revocation)", err)
				}
				again, err := s.OAuth.RefreshGrant(ctx, c, first.RefreshToken, nil)
				if err != nil {
					t.Fatalf("refresh with the same token after the failed one: %v, want success", err)
				}
				if _, err := s.Verifier.Verify(ctx, bearer(again.AccessToken), readOrders, client); err != nil {
					t.Errorf("access token of the retried refresh: %v", err)
				}
				if _, err := s.Verifier.Verify(ctx, bearer(first.AccessToken), readOrders, client); err != nil {
					t.Errorf("first access token after the retried refresh: %v, want still valid", err)
				}
				if got := activeOf(t, s, "rhea", c.ID); got != 3 {
					t.Errorf("active tokens after the retried refresh = %d, want 3 (first access token, new access and refresh tokens)", got)
				}
			})
		}

		// After the rotation itself, nothing can fail the refresh: a store
		// error marking the old token's management record is logged, the
		// new tokens are handed out, and the old token is spent.
		t.Run("store fails after the rotation", func(t *testing.T) {
			c, first := granted(t, s, "rhea")
			st.arm("Update", "cred/", 1)
			second, err := s.OAuth.RefreshGrant(ctx, c, first.RefreshToken, nil)
			if err != nil {
				t.Fatalf("refresh whose bookkeeping write fails: %v, want success", err)
			}
			if !st.didFire() {
				t.Fatal("the injected store failure never happened")
			}
			if _, err := s.Verifier.Verify(ctx, bearer(second.AccessToken), readOrders, client); err != nil {
				t.Errorf("new access token: %v", err)
			}
			if _, err := s.OAuth.RefreshGrant(ctx, c, second.RefreshToken, nil); err != nil {
				t.Errorf("new refresh token: %v", err)
			}
		})
	})
}

// activeOf counts the owner's active credentials obtained by a client.
// granted makes an OAuth client of owner's and returns it with the
// tokens of its first client-credentials grant.
func granted(t *testing.T, s *Service, owner string) (*Client, *TokenResponse) {
	t.Helper()
	_, c, err := s.OAuth.CreateClient(t.Context(), owner, ClientSpec{})
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	first, err := s.OAuth.ClientCredentialsGrant(t.Context(), c, nil)
	if err != nil {
		t.Fatalf("ClientCredentialsGrant: %v", err)
	}
	return c, first
}

func activeOf(t *testing.T, s *Service, owner, clientID string) int {
	t.Helper()
	creds, err := s.Accounts.Credentials(t.Context(), owner)
	if err != nil {
		t.Fatalf("Credentials: %v", err)
	}
	n := 0
	for _, c := range creds {
		if c.ClientID == clientID && c.Status == StatusActive {
			n++
		}
	}
	return n
}

// TestRefreshKeepsScope: a refresh that narrows the scope narrows the new
// access token only; the new refresh token keeps the grant's scope (RFC
// 6749 §6: "identical to that of the refresh token included by the
// client in the request"), so a later refresh can ask for it all again.
func TestRefreshKeepsScope(t *testing.T) {
	forEachService(t, func(t *testing.T, s *Service) {
		ctx := t.Context()
		mustUser(t, s, "sven", []string{"orders"}, []string{"read", "write"})
		c, first := granted(t, s, "sven")
		narrowed, err := s.OAuth.RefreshGrant(ctx, c, first.RefreshToken, []string{"read"})
		if err != nil {
			t.Fatalf("narrowing refresh: %v", err)
		}
		if got := strings.Join(narrowed.Scope, " "); got != "read" || !narrowed.Narrowed {
			t.Errorf("narrowing refresh: scope %q (narrowed %v), want \"read\" (true)", got, narrowed.Narrowed)
		}
		writeOrders := Need{APISet: "orders", Scope: "write"}
		var se *ScopeError
		if _, err := s.Verifier.Verify(ctx, bearer(narrowed.AccessToken), writeOrders, client); !errors.As(err, &se) {
			t.Errorf("narrowed access token used to write: %v, want a scope error", err)
		}
		in, err := s.OAuth.Introspect(ctx, narrowed.RefreshToken)
		if err != nil || !in.Active || in.Scope != "read write" {
			t.Errorf("Introspect(new refresh token) = %+v, %v; want active with scope \"read write\"", in, err)
		}
		full, err := s.OAuth.RefreshGrant(ctx, c, narrowed.RefreshToken, nil)
		if err != nil {
			t.Fatalf("refresh after a narrowing one: %v", err)
		}
		if got := strings.Join(full.Scope, " "); got != "read write" || full.Narrowed {
			t.Errorf("refresh after a narrowing one: scope %q (narrowed %v), want \"read write\" (false)", got, full.Narrowed)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(full.AccessToken), writeOrders, client); err != nil {
			t.Errorf("full access token used to write: %v", err)
		}
		if _, err := s.OAuth.RefreshGrant(ctx, c, full.RefreshToken, []string{"write"}); err != nil {
			t.Errorf("narrowing to the other scope later: %v, want success", err)
		}
	})
}

// TestGrantRacingClientDeletion: a client deleted while a grant writes its
// tokens leaves no token working; the grant answers invalid_client.
func TestGrantRacingClientDeletion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, real store.Store) {
		ctx := t.Context()
		st := &failing{Store: real}
		s := newService(t, st, authConfig(), nil)
		mustUser(t, s, "tove", []string{"orders"}, []string{"read"})
		for _, tc := range []struct {
			name  string
			grant func(c *Client, rt string) (*TokenResponse, error)
		}{
			{"client_credentials", func(c *Client, _ string) (*TokenResponse, error) { return s.OAuth.ClientCredentialsGrant(ctx, c, nil) }},
			{"refresh_token", func(c *Client, rt string) (*TokenResponse, error) { return s.OAuth.RefreshGrant(ctx, c, rt, nil) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, first := granted(t, s, "tove")
				var once sync.Once
				st.mu.Lock()
				st.beforeCreate = func(key string) {
					// The client goes just after the grant wrote its new
					// access token's verification record.
					if strings.HasPrefix(key, "cred/") {
						once.Do(func() {
							if err := s.OAuth.DeleteClient(context.WithoutCancel(ctx), "tove", c.ID); err != nil {
								t.Errorf("DeleteClient: %v", err)
							}
						})
					}
				}
				st.mu.Unlock()
				defer func() { st.mu.Lock(); st.beforeCreate = nil; st.mu.Unlock() }()

				tr, err := tc.grant(c, first.RefreshToken)
				if !errors.Is(err, ErrInvalidClient) {
					t.Errorf("grant racing the client's deletion: %+v, %v; want ErrInvalidClient", tr, err)
				}
				if tr != nil {
					if _, err := s.Verifier.Verify(ctx, bearer(tr.AccessToken), readOrders, client); !errors.Is(err, ErrInvalid) {
						t.Errorf("access token of a deleted client: %v, want ErrInvalid", err)
					}
				}
				if got := activeOf(t, s, "tove", c.ID); got != 0 {
					t.Errorf("active tokens of the deleted client = %d, want 0", got)
				}
			})
		}
	})
}

// TestConcurrentRefreshesSpendOnce: of concurrent refreshes with one
// refresh token, exactly one gets tokens (the compare-and-set that rotates
// the token admits one); the others are invalid_grant, as a replay.
func TestConcurrentRefreshesSpendOnce(t *testing.T) {
	forEachService(t, func(t *testing.T, s *Service) {
		ctx := t.Context()
		mustUser(t, s, "ugo", []string{"orders"}, []string{"read"})
		c, first := granted(t, s, "ugo")
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = s.OAuth.RefreshGrant(ctx, c, first.RefreshToken, nil)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrInvalidGrant):
				t.Errorf("refresh %d: %v, want success or ErrInvalidGrant", i, err)
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent refreshes with one token succeeded, want exactly 1", ok, n)
		}
	})
}
