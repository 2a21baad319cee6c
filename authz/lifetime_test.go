package authz

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestLifetimeBounds: every way of giving a credential a lifetime refuses,
// as ErrInvalidInput naming the field, an expiry in the past or more than
// MaxLifetime away, instead of overflowing the store's expiry.
func TestLifetimeBounds(t *testing.T) {
	forEachService(t, func(t *testing.T, s *Service) {
		ctx := t.Context()
		mustUser(t, s, "lena", []string{"orders"}, []string{"read"})
		now := time.Now()
		for _, tc := range []struct {
			name  string
			call  func() error
			field string // "" means the call must succeed
		}{
			{"key expiring in year 9999", func() error {
				_, _, err := s.Accounts.CreateKey(ctx, "lena", KeySpec{Handle: "y9999", Expires: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)})
				return err
			}, "expiresAt"},
			{"key expiring just past the cap", func() error {
				_, _, err := s.Accounts.CreateKey(ctx, "lena", KeySpec{Handle: "cap", Expires: now.Add(MaxLifetime + time.Minute)})
				return err
			}, "expiresAt"},
			{"key expired", func() error {
				_, _, err := s.Accounts.CreateKey(ctx, "lena", KeySpec{Handle: "past", Expires: now.Add(-time.Second)})
				return err
			}, "expiresAt"},
			{"access token for the longest Duration", func() error {
				_, _, err := s.OAuth.IssueAccessToken(ctx, "lena", nil, nil, math.MaxInt64)
				return err
			}, "ttl"},
			{"access token for a negative ttl", func() error {
				_, _, err := s.OAuth.IssueAccessToken(ctx, "lena", nil, nil, -time.Hour)
				return err
			}, "ttl"},
			{"key expiring within the cap", func() error {
				_, _, err := s.Accounts.CreateKey(ctx, "lena", KeySpec{Handle: "ok", Expires: now.Add(MaxLifetime - time.Hour)})
				return err
			}, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				if tc.field == "" {
					if err != nil {
						t.Fatalf("got %v, want success", err)
					}
					return
				}
				if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tc.field+":") {
					t.Errorf("got %v, want ErrInvalidInput naming %s", err, tc.field)
				}
			})
		}
	})
}
