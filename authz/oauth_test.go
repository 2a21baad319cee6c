package authz

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store"
)

func TestOAuthClientFlow(t *testing.T) {
	forEachService(t, func(t *testing.T, s *Service) {
		ctx := t.Context()
		mustUser(t, s, "olga", []string{"orders", "billing"}, []string{"read", "write"})

		secret, c, err := s.OAuth.CreateClient(ctx, "olga", ClientSpec{APISets: []string{"orders"}})
		if err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		if c.AccessTokenValidity != 12*time.Hour || c.RefreshTokenValidity != 720*time.Hour || len(c.Scopes) != 2 {
			t.Errorf("client defaults: %+v", c)
		}
		if got, err := s.OAuth.AuthenticateClient(ctx, c.ID, secret); err != nil || got.ID != c.ID {
			t.Fatalf("AuthenticateClient: %v", err)
		}
		for _, bad := range []string{"", "nope", NewToken(KindKeyToken), newSecret(prefixClientSecret)} {
			if _, err := s.OAuth.AuthenticateClient(ctx, c.ID, bad); !errors.Is(err, ErrInvalidClient) {
				t.Errorf("AuthenticateClient(%q): %v, want ErrInvalidClient", bad, err)
			}
		}
		if _, err := s.OAuth.AuthenticateClient(ctx, "unknown", secret); !errors.Is(err, ErrInvalidClient) {
			t.Errorf("unknown client: %v", err)
		}

		tr, err := s.OAuth.ClientCredentialsGrant(ctx, c, nil)
		if err != nil {
			t.Fatalf("ClientCredentialsGrant: %v", err)
		}
		if tr.RefreshToken == "" || tr.ExpiresIn != 43200 || tr.Narrowed {
			t.Errorf("token response: %+v", tr)
		}
		id, err := s.Verifier.Verify(ctx, bearer(tr.AccessToken), Need{APISet: "orders", Scope: "write"}, client)
		if err != nil || id.Kind != KindAccessToken || id.User != "olga" {
			t.Fatalf("Verify access token: %+v, %v", id, err)
		}
		var se *ScopeError
		if _, err := s.Verifier.Verify(ctx, bearer(tr.AccessToken), Need{APISet: "billing", Scope: "read"}, client); !errors.As(err, &se) {
			t.Errorf("access token on an API set the client lacks: %v", err)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(tr.RefreshToken), readOrders, client); !errors.Is(err, ErrInvalid) {
			t.Errorf("refresh token used as Bearer: %v, want ErrInvalid", err)
		}

		narrow, err := s.OAuth.ClientCredentialsGrant(ctx, c, []string{"read"})
		if err != nil || !narrow.Narrowed || len(narrow.Scope) != 1 {
			t.Fatalf("narrowed grant: %+v, %v", narrow, err)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(narrow.AccessToken), Need{APISet: "orders", Scope: "write"}, client); !errors.As(err, &se) {
			t.Errorf("read-only token used for write: %v", err)
		}
		if _, err := s.OAuth.ClientCredentialsGrant(ctx, c, []string{"admin"}); !errors.Is(err, ErrInvalidScope) {
			t.Errorf("scope the client lacks: %v, want ErrInvalidScope", err)
		}

		in, err := s.OAuth.Introspect(ctx, tr.AccessToken)
		if err != nil || !in.Active || in.ClientID != c.ID || in.Username != "olga" || in.Scope != "read write" || in.Exp == 0 {
			t.Errorf("Introspect: %+v, %v", in, err)
		}
		if in, _ := s.OAuth.Introspect(ctx, NewToken(KindAccessToken)); in.Active {
			t.Error("an unknown token introspects as active")
		}

		// Refresh rotates; presenting the old refresh token again revokes
		// the family.
		tr2, err := s.OAuth.RefreshGrant(ctx, c, tr.RefreshToken, nil)
		if err != nil {
			t.Fatalf("RefreshGrant: %v", err)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(tr2.AccessToken), readOrders, client); err != nil {
			t.Fatalf("refreshed access token: %v", err)
		}
		if _, err := s.OAuth.RefreshGrant(ctx, c, tr.RefreshToken, nil); !errors.Is(err, ErrInvalidGrant) {
			t.Fatalf("rotated refresh token again: %v, want ErrInvalidGrant", err)
		}
		for _, tok := range []string{tr.AccessToken, tr2.AccessToken} {
			if _, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client); !errors.Is(err, ErrInvalid) {
				t.Errorf("token of a family whose refresh token was replayed: %v, want ErrInvalid", err)
			}
		}
		if _, err := s.OAuth.RefreshGrant(ctx, c, tr2.RefreshToken, nil); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("newest refresh token of a revoked family: %v, want ErrInvalidGrant", err)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(narrow.AccessToken), readOrders, client); err != nil {
			t.Errorf("a token of another family was revoked too: %v", err)
		}

		// RFC 7009: revocation by the client; unknown tokens are fine.
		if err := s.OAuth.RevokeToken(ctx, c, narrow.AccessToken); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(narrow.AccessToken), readOrders, client); !errors.Is(err, ErrInvalid) {
			t.Errorf("revoked access token: %v", err)
		}
		if err := s.OAuth.RevokeToken(ctx, c, NewToken(KindAccessToken)); err != nil {
			t.Errorf("revoking an unknown token: %v, want nil", err)
		}

		// Deleting the client takes every token it obtained.
		tr3, err := s.OAuth.ClientCredentialsGrant(ctx, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.OAuth.DeleteClient(ctx, "olga", c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verifier.Verify(ctx, bearer(tr3.AccessToken), readOrders, client); !errors.Is(err, ErrInvalid) {
			t.Errorf("token of a deleted client: %v, want ErrInvalid", err)
		}
		if _, err := s.OAuth.AuthenticateClient(ctx, c.ID, secret); !errors.Is(err, ErrInvalidClient) {
			t.Errorf("deleted client: %v", err)
		}
	})
}

func TestClientSecretRotation(t *testing.T) {
	ctx := t.Context()
	clk := &stepClock{now: time.Now()}
	st := backends["embedded"](t)
	s, err := New(ctx, authConfig(), st, Options{Now: clk.Now, OAuth: config.OAuth{SecretGrace: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustUser(t, s, "pia", []string{"orders"}, []string{"read"})
	old, c, err := s.OAuth.CreateClient(ctx, "pia", ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.OAuth.NewClientSecret(ctx, "mallory", c.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another user's client: %v, want ErrNotFound", err)
	}
	fresh, _, err := s.OAuth.NewClientSecret(ctx, "pia", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, sec := range map[string]string{"new": fresh, "old within grace": old} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.OAuth.AuthenticateClient(ctx, c.ID, sec); err != nil {
				t.Errorf("%s secret: %v", name, err)
			}
		})
	}
	clk.add(time.Hour + time.Second)
	if _, err := s.OAuth.AuthenticateClient(ctx, c.ID, old); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("old secret after the grace period: %v", err)
	}
	if list, err := s.OAuth.Clients(ctx, "pia"); err != nil || len(list) != 1 {
		t.Errorf("Clients: %d, %v", len(list), err)
	}
}

func TestPasswords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		s, err := New(ctx, authConfig(), st, Options{SelfService: config.SelfService{MaxPasswordFailuresPerUser: 3, MaxPasswordFailuresPerAddress: 5}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		mustUser(t, s, "quinn", []string{"orders"}, []string{"read"})
		if err := s.Passwords.SetPassword(ctx, "quinn", "short"); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("short password: %v", err)
		}
		if err := s.Passwords.SetPassword(ctx, "quinn", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		a, b := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
		if u, err := s.Passwords.CheckPassword(ctx, "quinn", "correct horse battery", a); err != nil || u.Name != "quinn" {
			t.Fatalf("right password: %v", err)
		}
		for _, c := range []struct{ name, pw string }{{"quinn", "wrong password"}, {"nobody", "correct horse battery"}} {
			t.Run(c.name+" "+c.pw, func(t *testing.T) {
				if _, err := s.Passwords.CheckPassword(ctx, c.name, c.pw, a); !errors.Is(err, ErrInvalid) {
					t.Errorf("CheckPassword(%s, %s): %v, want ErrInvalid", c.name, c.pw, err)
				}
			})
		}
		// Per user: 3 failures, then even the right password is refused.
		s.Passwords.CheckPassword(ctx, "quinn", "wrong", b)
		s.Passwords.CheckPassword(ctx, "quinn", "wrong", b)
		if _, err := s.Passwords.CheckPassword(ctx, "quinn", "correct horse battery", b); !errors.Is(err, ErrTooManyAttempts) {
			t.Errorf("after 3 failures for the user: %v, want ErrTooManyAttempts", err)
		}
		// Per address: a's 2 failures + 3 more = 5, for any user.
		mustUser(t, s, "rita", []string{"orders"}, []string{"read"})
		for _, name := range []string{"n1", "n2", "n3"} {
			s.Passwords.CheckPassword(ctx, name, "x", a)
		}
		if _, err := s.Passwords.CheckPassword(ctx, "rita", "whatever1", a); !errors.Is(err, ErrTooManyAttempts) {
			t.Errorf("after 5 failures from one address: %v, want ErrTooManyAttempts", err)
		}
	})
}

func TestAPIKeyStatus(t *testing.T) {
	ctx := t.Context()
	s := newService(t, backends["embedded"](t), authConfig(), nil)
	mustUser(t, s, "sam", []string{"orders"}, []string{"read"})
	key, tok, err := s.Accounts.NewAPIKeyToken(ctx, "sam")
	if err != nil {
		t.Fatal(err)
	}
	s.Verifier.Verify(ctx, apiKey(key, newSecret(prefixAPITok)), readOrders, client)
	testkit.Eventually(t, 5*time.Second, "APIKeyStatus = active, 1", func() bool {
		status, n, err := s.Accounts.APIKeyStatus(ctx, "sam")
		if err != nil {
			t.Fatal(err)
		}
		return n == 1 && status == StatusActive
	})
	_ = tok
}

// TestLastUsed: a verified credential's last use is recorded off the
// request path, at most once a minute per replica.
func TestLastUsed(t *testing.T) {
	ctx := t.Context()
	t0 := time.Now().Truncate(time.Second)
	clk := &stepClock{now: t0}
	s, err := New(ctx, authConfig(), backends["embedded"](t), Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustUser(t, s, "tia", []string{"orders"}, []string{"read"})
	tok, cred := mustKey(ctx, t, s, "tia", KeySpec{Handle: "k"})
	waitLastUsed := func(want time.Time) {
		t.Helper()
		testkit.Eventually(t, 5*time.Second, "lastUsed = "+want.UTC().String(), func() bool {
			c, err := s.Accounts.Credential(ctx, cred.ID)
			if err != nil {
				t.Fatal(err)
			}
			return c.LastUsed.Equal(want.UTC())
		})
	}
	if _, err := s.Verifier.Verify(ctx, bearer(tok), readOrders, client); err != nil {
		t.Fatal(err)
	}
	waitLastUsed(t0)
	clk.add(30 * time.Second)
	s.Verifier.Verify(ctx, bearer(tok), readOrders, client)
	time.Sleep(50 * time.Millisecond)
	waitLastUsed(t0) // not again within a minute
	clk.add(31 * time.Second)
	s.Verifier.Verify(ctx, bearer(tok), readOrders, client)
	waitLastUsed(clk.Now())
}

func TestRetrievableSecrets(t *testing.T) {
	ctx := t.Context()
	st := backends["embedded"](t)
	plain := newService(t, st, authConfig(), nil)
	mustUser(t, plain, "uma", []string{"orders"}, []string{"read"})
	if _, _, err := plain.Accounts.CreateKey(ctx, "uma", KeySpec{Handle: "once"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := plain.Accounts.KeyToken(ctx, "uma", "once"); !errors.Is(err, ErrNotRetrievable) {
		t.Errorf("without encryption keys: %v, want ErrNotRetrievable", err)
	}
	plain.Close()

	cfg := authConfig()
	cfg.EncryptionKeys = []config.DigestKey{{ID: "e1", Secret: "an-encryption-key-of-at-least-32-bytes"}}
	s := newService(t, st, cfg, nil)
	tok, _ := mustKey(ctx, t, s, "uma", KeySpec{Handle: "kept"})
	if got, _, err := s.Accounts.KeyToken(ctx, "uma", "kept"); err != nil || got != tok {
		t.Errorf("KeyToken = %q, %v; want the token", got, err)
	}
	secret, c, err := s.OAuth.CreateClient(ctx, "uma", ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.OAuth.ClientSecret(ctx, "uma", c.ID); err != nil || got != secret {
		t.Errorf("ClientSecret = %q, %v", got, err)
	}
	// Rotated encryption keys: the old key still decrypts.
	s.Close()
	rotated := cfg
	rotated.EncryptionKeys = append([]config.DigestKey{{ID: "e2", Secret: "a-newer-encryption-key-of-32-bytes!!"}}, cfg.EncryptionKeys...)
	s2 := newService(t, st, rotated, nil)
	if got, _, err := s2.Accounts.KeyToken(ctx, "uma", "kept"); err != nil || got != tok {
		t.Errorf("after rotation: %q, %v", got, err)
	}
	// The stored record holds no plaintext.
	kc, err := s2.Accounts.KeyByHandle(ctx, "uma", "kept")
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.Get(ctx, credKey(kc.ID))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(r.Value), tok[4:20]) {
		t.Error("the credential record contains the token in clear")
	}
}
