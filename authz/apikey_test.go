package authz

import (
	"errors"
	"sync"
	"testing"
)

// TestRotateAPIKeyConcurrently: of rotations at once, each answers a new
// pair, exactly one of which works afterwards (the others' records were
// removed, none is left behind to verify), and the first key works no more.
func TestRotateAPIKeyConcurrently(t *testing.T) {
	forEachService(t, func(t *testing.T, s *Service) {
		ctx := t.Context()
		mustUser(t, s, "quinn", []string{"orders"}, []string{"read"})
		if _, _, err := s.Accounts.RotateAPIKey(ctx, "quinn"); !errors.Is(err, ErrNoAPIKey) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("RotateAPIKey before any key: %v, want ErrNoAPIKey (an ErrNotFound)", err)
		}
		if _, _, err := s.Accounts.ShowAPIKey(ctx, "quinn"); !errors.Is(err, ErrNoAPIKey) {
			t.Fatalf("ShowAPIKey before any key: %v, want ErrNoAPIKey", err)
		}
		first, tok, err := s.Accounts.NewAPIKeyToken(ctx, "quinn")
		if err != nil {
			t.Fatal(err)
		}
		const n = 6
		pairs := make([][2]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, tk, err := s.Accounts.RotateAPIKey(ctx, "quinn")
				if err != nil {
					t.Errorf("RotateAPIKey: %v", err)
				}
				pairs[i] = [2]string{k, tk}
			}()
		}
		wg.Wait()
		if _, err := s.Verifier.Verify(ctx, apiKey(first, tok), readOrders, client); !errors.Is(err, ErrInvalid) {
			t.Errorf("the first pair after rotations: %v, want ErrInvalid", err)
		}
		shown, _, err := s.Accounts.ShowAPIKey(ctx, "quinn")
		if err != nil {
			t.Fatal(err)
		}
		working := 0
		for _, p := range pairs {
			if _, err := s.Verifier.Verify(ctx, apiKey(p[0], p[1]), readOrders, client); err == nil {
				working++
				if p[0] != shown {
					t.Errorf("a working pair's key %q is not the key shown, %q", p[0], shown)
				}
			}
		}
		if working != 1 {
			t.Errorf("%d of %d rotated pairs work, want exactly 1", working, n)
		}
	})
}
