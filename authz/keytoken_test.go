package authz

import (
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/config"
)

// TestKeyTokenShown: where secrets are retrievable, a named key's token
// is shown again only while the key works: not once it is revoked or has
// expired (seed 003), and another user's handle is not found.
// KeyTokenShown, the rule without I/O, agrees with KeyToken each time.
func TestKeyTokenShown(t *testing.T) {
	ctx := t.Context()
	t0 := time.Now()
	clk := &stepClock{now: t0}
	cfg := authConfig()
	cfg.EncryptionKeys = []config.DigestKey{{ID: "e1", Secret: "an-encryption-key-of-at-least-32-bytes"}}
	s, err := New(ctx, cfg, backends["embedded"](t), Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustUser(t, s, "uma", []string{"orders"}, []string{"read"})
	mustUser(t, s, "vic", []string{"orders"}, []string{"read"})
	kept, _ := mustKey(ctx, t, s, "uma", KeySpec{Handle: "kept"})
	brief, _ := mustKey(ctx, t, s, "uma", KeySpec{Handle: "brief", Expires: t0.Add(time.Hour)})
	check := func(label, owner, handle, token string, want error) {
		t.Helper()
		got, c, err := s.Accounts.KeyToken(ctx, owner, handle)
		if !errors.Is(err, want) || got != token || (err == nil) != (c != nil) {
			t.Errorf("%s: KeyToken = %q, %v, %v; want %q, %v", label, got, c != nil, err, token, want)
		}
		if c, cerr := s.Accounts.KeyByHandle(ctx, owner, handle); cerr == nil {
			if shown := s.Accounts.KeyTokenShown(c); !errors.Is(shown, want) {
				t.Errorf("%s: KeyTokenShown = %v, want %v", label, shown, want)
			}
		}
	}
	check("an active key", "uma", "kept", kept, nil)
	check("a key before its expiry", "uma", "brief", brief, nil)
	check("another user's handle", "vic", "kept", "", ErrNotFound)

	clk.add(time.Hour)
	check("a key at its expiry", "uma", "brief", "", ErrKeyInactive)
	check("a key without expiry, later", "uma", "kept", kept, nil)

	kc, err := s.Accounts.KeyByHandle(ctx, "uma", "kept")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Accounts.Revoke(ctx, kc.ID); err != nil {
		t.Fatal(err)
	}
	check("a revoked key", "uma", "kept", "", ErrKeyInactive)
}
