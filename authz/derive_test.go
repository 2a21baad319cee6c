package authz

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestDerive: what a credential makes is bounded by it and defaults to
// it (API sets, scopes, expiry), for named keys and OAuth clients alike;
// OAuth tokens make nothing; a revoked or expired creator makes nothing.
func TestDerive(t *testing.T) {
	forEachService(t, func(t *testing.T, s *Service) {
		ctx := t.Context()
		mustUser(t, s, "alice", []string{"orders", "billing"}, []string{"read", "write"})
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
		_, parent := mustKey(ctx, t, s, "alice", KeySpec{Handle: "parent", APISets: []string{"orders"}, Scopes: []string{"read"}, Expires: exp})

		_, k := mustKey(ctx, t, s, "alice", KeySpec{Handle: "child", CreatedBy: parent.ID})
		if !slices.Equal(k.APISets, []string{"orders"}) || !slices.Equal(k.Scopes, []string{"read"}) || !k.Expires.Equal(exp) || k.Parent != parent.ID {
			t.Errorf("child key: sets %v scopes %v expires %v parent %q; want the parent's and its id", k.APISets, k.Scopes, k.Expires, k.Parent)
		}
		_, c, err := s.OAuth.CreateClient(ctx, "alice", ClientSpec{CreatedBy: parent.ID})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.APISets, []string{"orders"}) || !slices.Equal(c.Scopes, []string{"read"}) || !c.Expires.Equal(exp) || c.Parent != parent.ID {
			t.Errorf("child client: sets %v scopes %v expires %v parent %q; want the parent's and its id", c.APISets, c.Scopes, c.Expires, c.Parent)
		}
		tr, err := s.OAuth.ClientCredentialsGrant(ctx, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if limit := int64(time.Until(exp)/time.Second) + 1; tr.ExpiresIn > limit {
			t.Errorf("client's token: expires_in %d, want at most %d", tr.ExpiresIn, limit)
		}

		for _, tc := range []struct {
			name string
			spec KeySpec
			want error
		}{
			{"more API sets", KeySpec{Handle: "x1", APISets: []string{"billing"}, CreatedBy: parent.ID}, ErrInvalidInput},
			{"more scopes", KeySpec{Handle: "x2", Scopes: []string{"write"}, CreatedBy: parent.ID}, ErrInvalidInput},
			{"later expiry", KeySpec{Handle: "x3", Expires: exp.Add(time.Second), CreatedBy: parent.ID}, ErrInvalidInput},
			{"admin", KeySpec{Handle: "x4", Admin: true, CreatedBy: parent.ID}, ErrForbidden},
			{"another user's credential", KeySpec{Handle: "x5", CreatedBy: "cred_nope"}, ErrForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, _, err := s.Accounts.CreateKey(ctx, "alice", tc.spec); !errors.Is(err, tc.want) {
					t.Errorf("CreateKey: got %v, want %v", err, tc.want)
				}
				if _, err := s.Accounts.KeyByHandle(ctx, "alice", tc.spec.Handle); !errors.Is(err, ErrNotFound) {
					t.Errorf("the refused key exists: %v", err)
				}
			})
		}

		_, at, err := s.OAuth.IssueAccessToken(ctx, "alice", nil, nil, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Accounts.CreateKey(ctx, "alice", KeySpec{Handle: "y", CreatedBy: at.ID}); !errors.Is(err, ErrTokenCannotCreate) {
			t.Errorf("key made by an access token: got %v, want ErrTokenCannotCreate", err)
		}
		if _, _, err := s.OAuth.CreateClient(ctx, "alice", ClientSpec{CreatedBy: at.ID}); !errors.Is(err, ErrTokenCannotCreate) {
			t.Errorf("client made by an access token: got %v, want ErrTokenCannotCreate", err)
		}

		if err := s.Accounts.DeleteKey(ctx, "alice", "parent"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Accounts.Credential(ctx, k.ID); err != nil || got.Status != StatusRevoked {
			t.Errorf("child key after its parent was deleted: %+v, %v; want revoked", got, err)
		}
		if _, err := s.OAuth.ClientByID(ctx, c.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("child client after its parent was deleted: %v, want ErrNotFound", err)
		}
		if _, _, err := s.Accounts.CreateKey(ctx, "alice", KeySpec{Handle: "z", CreatedBy: parent.ID}); !errors.Is(err, ErrForbidden) {
			t.Errorf("key made by a deleted key: got %v, want ErrForbidden", err)
		}
	})
}

// TestDeriveFromClient: an access token of a client made with
// CreatesCredentials creates keys and clients whose parent is the client
// (not the token), bounded by the token's API sets and scopes and without
// the token's expiry; a refresh token, or a token of any other client,
// creates nothing; no client made by a credential gets the flag; deleting
// the client revokes and deletes what its tokens made, and a credential
// stored after its client parent was deleted is taken back.
func TestDeriveFromClient(t *testing.T) {
	forEachService(t, func(t *testing.T, s *Service) {
		ctx := t.Context()
		mustUser(t, s, "alice", []string{"orders", "billing"}, []string{"read", "write"})
		_, prov, err := s.OAuth.CreateClient(ctx, "alice", ClientSpec{CreatesCredentials: true})
		if err != nil {
			t.Fatal(err)
		}
		_, plain, err := s.OAuth.CreateClient(ctx, "alice", ClientSpec{})
		if err != nil {
			t.Fatal(err)
		}
		tokenOf := func(c *Client, scope []string, kind Kind) string {
			t.Helper()
			if _, err := s.OAuth.ClientCredentialsGrant(ctx, c, scope); err != nil {
				t.Fatal(err)
			}
			creds, err := s.Accounts.Credentials(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			var id string
			var newest time.Time
			for _, cr := range creds {
				if cr.ClientID == c.ID && cr.Kind == kind && !cr.Created.Before(newest) {
					id, newest = cr.ID, cr.Created
				}
			}
			return id
		}
		readOnly := tokenOf(prov, []string{"read"}, KindAccessToken)

		p, err := s.Accounts.Creator(ctx, "alice", readOnly)
		if err != nil || p == nil || p.ID != prov.ID || !p.Client || !p.Expires.IsZero() || !slices.Equal(p.Scopes, []string{"read"}) {
			t.Fatalf("Creator of the read-only token: %+v, %v; want the client %q, no expiry, scopes [read]", p, err, prov.ID)
		}
		_, k := mustKey(ctx, t, s, "alice", KeySpec{Handle: "made", CreatedBy: readOnly})
		if k.Parent != prov.ID || !k.Expires.IsZero() || !slices.Equal(k.Scopes, []string{"read"}) || !slices.Equal(k.APISets, []string{"orders", "billing"}) {
			t.Errorf("key: parent %q expires %v scopes %v sets %v; want the client, none, [read], [orders billing]", k.Parent, k.Expires, k.Scopes, k.APISets)
		}
		_, c, err := s.OAuth.CreateClient(ctx, "alice", ClientSpec{CreatedBy: readOnly})
		if err != nil {
			t.Fatal(err)
		}
		if c.Parent != prov.ID || c.CreatesCredentials || !slices.Equal(c.Scopes, []string{"read"}) {
			t.Errorf("client: parent %q createsCredentials %v scopes %v; want the client, false, [read]", c.Parent, c.CreatesCredentials, c.Scopes)
		}

		for _, tc := range []struct {
			name string
			spec ClientSpec
			want error
		}{
			{"more scopes", ClientSpec{Scopes: []string{"write"}, CreatedBy: readOnly}, ErrInvalidInput},
			{"createsCredentials by a token", ClientSpec{CreatesCredentials: true, CreatedBy: readOnly}, ErrForbidden},
			{"createsCredentials by a key", ClientSpec{CreatesCredentials: true, CreatedBy: k.ID}, ErrForbidden},
			{"a refresh token", ClientSpec{CreatedBy: tokenOf(prov, nil, KindRefreshToken)}, ErrTokenCannotCreate},
			{"a token of a client not made for it", ClientSpec{CreatedBy: tokenOf(plain, nil, KindAccessToken)}, ErrTokenCannotCreate},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, _ := s.OAuth.Clients(ctx, "alice")
				if _, _, err := s.OAuth.CreateClient(ctx, "alice", tc.spec); !errors.Is(err, tc.want) {
					t.Errorf("CreateClient: got %v, want %v", err, tc.want)
				}
				if after, _ := s.OAuth.Clients(ctx, "alice"); len(after) != len(before) {
					t.Errorf("a refused CreateClient made a client: %d before, %d after", len(before), len(after))
				}
			})
		}

		if err := s.OAuth.DeleteClient(ctx, "alice", prov.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Accounts.Credential(ctx, k.ID); err != nil || got.Status != StatusRevoked {
			t.Errorf("key after its client was deleted: %v, %v; want revoked", got.Status, err)
		}
		if _, err := s.OAuth.ClientByID(ctx, c.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("client after its parent client was deleted: %v, want ErrNotFound", err)
		}
		undone := false
		if err := s.Accounts.stillActive(ctx, &Parent{ID: prov.ID, Client: true}, func(context.Context) error { undone = true; return nil }); !errors.Is(err, ErrForbidden) || !undone {
			t.Errorf("stillActive with a deleted client parent: %v, undone %v; want ErrForbidden and undone", err, undone)
		}
	})
}
