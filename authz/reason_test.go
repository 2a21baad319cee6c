package authz

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/store/embedded"
)

// TestReason: every refusal of a real Verifier names its check in
// keygate_auth_decisions_total's words, and the error is still the
// sentinel the callers test with errors.Is.
func TestReason(t *testing.T) {
	ctx := t.Context()
	st, err := embedded.Open(ctx, config.Embedded{Path: filepath.Join(t.TempDir(), "k.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &stepClock{now: time.Now()}
	s, err := New(ctx, authConfig(), st, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	mustUser(t, s, "rita", []string{"orders"}, []string{"read"})
	tok, _ := mustKey(ctx, t, s, "rita", KeySpec{Handle: "k"})
	mustUser(t, s, "gone", []string{"orders"}, []string{"read"})
	gone, _ := mustKey(ctx, t, s, "gone", KeySpec{Handle: "k"})
	if _, err := s.Accounts.UpdateUser(ctx, "gone", func(u *User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	access, _, err := s.OAuth.IssueAccessToken(ctx, "rita", nil, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	key, apiTok, err := s.Accounts.NewAPIKeyToken(ctx, "rita")
	if err != nil {
		t.Fatal(err)
	}
	wrong := newSecret(prefixAPITok)
	v := s.Verifier
	verify := func(auth []string, need Need) error { _, err := v.Verify(ctx, auth, need, client); return err }

	steps := []struct {
		name   string
		call   func() error
		reason string
		is     error
	}{
		{"no header", func() error { return verify(nil, readOrders) }, "missing", ErrNoCredential},
		{"bad grammar", func() error { return verify([]string{"Bearer a b"}, readOrders) }, "malformed", ErrMalformed},
		{"unknown token", func() error { return verify(bearer(newSecret(prefixKey)), readOrders) }, "unknown", ErrInvalid},
		{"disabled owner", func() error { return verify(bearer(gone), readOrders) }, "revoked", ErrInvalid},
		{"other API set", func() error { return verify(bearer(tok), Need{APISet: "billing", Scope: "read"}) }, "scope_denied", nil},
		{"wrong ApiKey token 1", func() error { return verify(apiKey(key, wrong), readOrders) }, "bad_token", ErrInvalid},
		{"wrong ApiKey token 2", func() error { return verify(apiKey(key, wrong), readOrders) }, "bad_token", ErrInvalid},
		{"wrong ApiKey token 3", func() error { return verify(apiKey(key, wrong), readOrders) }, "bad_token", ErrInvalid},
		{"voided ApiKey", func() error { return verify(apiKey(key, apiTok), readOrders) }, "voided", ErrInvalid},
		{"expired access token", func() error {
			clk.add(2 * time.Minute)
			return verify(bearer(access), readOrders)
		}, "expired", ErrInvalid},
		{"password sign-in", func() error { return ErrInvalid }, "invalid", ErrInvalid},
		{"store down", func() error { return fmt.Errorf("%w: %w", ErrUnavailable, errors.New("dial tcp: refused")) }, "store_error", ErrUnavailable},
		{"none", func() error { return nil }, "", nil},
	}
	for _, st := range steps {
		err := st.call()
		if got := Reason(err); got != st.reason {
			t.Errorf("%s: Reason(%v) = %q, want %q", st.name, err, got, st.reason)
		}
		if st.is != nil && !errors.Is(err, st.is) {
			t.Errorf("%s: %v is not %v", st.name, err, st.is)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Reason(refused(resultVoided)) }); n != 0 {
		t.Errorf("Reason allocates %v times, want 0", n)
	}
}
