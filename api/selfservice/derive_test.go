package selfservice_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
)

// TestAccessTokenCreatesNothing: an OAuth access token (here one of 60
// seconds) may not create a named key, an OAuth client, a client secret
// or the ApiKey token, and the refused requests create nothing.
func TestAccessTokenCreatesNothing(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders", "billing"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		id, secret := e.createClient(t, alice, `{"accessTokenValiditySeconds": 60}`)
		tk := e.token(t, clientBasic(id, secret), url.Values{"grant_type": {"client_credentials"}})
		if tk.ExpiresIn != 60 {
			t.Fatalf("expires_in %d, want 60", tk.ExpiresIn)
		}
		bearer := "Bearer " + tk.AccessToken
		for _, c := range []struct{ name, path, body string }{
			{"named key", "/user/keys", `{"handle": "forever"}`},
			{"OAuth client", "/connect/register/createClientId", `{"accessTokenValiditySeconds": 43200}`},
			{"client secret", "/connect/register/clients/" + id + "/secret", ``},
			{"ApiKey token", "/user/apikey/token", ``},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.postJSON(t, c.path, bearer, c.body)
				if d := wantError(t, c.path, r, 403, "forbidden"); !strings.Contains(d, "access token cannot create") {
					t.Errorf("%s: description %q, want it to say an access token cannot create credentials", c.path, d)
				}
			})
		}
		creds, err := e.svc.Accounts.Credentials(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range creds {
			if c.ClientID != id {
				t.Errorf("alice has a %s (%s), want only the client's tokens", c.Kind, c.ID)
			}
		}
		if clients, _ := e.svc.OAuth.Clients(t.Context(), "alice"); len(clients) != 1 {
			t.Errorf("alice has %d clients, want 1", len(clients))
		}
		// The client's secret did not change.
		e.token(t, clientBasic(id, secret), url.Values{"grant_type": {"client_credentials"}})
	})
}

// keyAnswer is the part of POST /user/keys's answer these tests read.
type keyAnswer struct {
	Token     string    `json:"token"`
	APISets   []string  `json:"apiSets"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (e *env) createKeyAnswer(t *testing.T, authorization, body string) keyAnswer {
	t.Helper()
	r := e.postJSON(t, "/user/keys", authorization, body)
	want(t, "POST /user/keys "+body, r, 201)
	var k keyAnswer
	if err := json.Unmarshal(r.Body, &k); err != nil || k.Token == "" {
		t.Fatalf("POST /user/keys: %s", r.Body)
	}
	return k
}

// TestDerivedKeyIsBounded: a key made with a narrowed, expiring named key
// gets at most its API sets, scopes and expiry: by default exactly them,
// and asking for more is a 400 naming the field; an OAuth client made
// with it obtains no token that outlives it.
func TestDerivedKeyIsBounded(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders", "billing"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		parentExp := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second)
		parent := e.createKeyAnswer(t, alice, `{"handle": "parent", "apiSets": ["orders"], "expiresAt": "`+parentExp.Format(time.RFC3339)+`"}`)
		bearer := "Bearer " + parent.Token

		child := e.createKeyAnswer(t, bearer, `{"handle": "child"}`)
		if strings.Join(child.APISets, ",") != "orders" || strings.Join(child.Scopes, ",") != "read,write" {
			t.Errorf("child: apiSets %v scopes %v, want [orders] [read write]", child.APISets, child.Scopes)
		}
		if !child.ExpiresAt.Equal(parentExp) {
			t.Errorf("child: expiresAt %v, want the parent's %v", child.ExpiresAt, parentExp)
		}
		if r := e.call(t, "GET", "/billing/1", "Bearer "+child.Token, "", ""); r.Status != 403 {
			t.Errorf("child on billing: got %s, want 403", r)
		}

		for _, c := range []struct{ name, body, field string }{
			{"more API sets", `{"handle": "c2", "apiSets": ["billing"]}`, "apiSets[0]"},
			{"later expiry", `{"handle": "c3", "expiresAt": "` + parentExp.Add(time.Hour).Format(time.RFC3339) + `"}`, "expiresAt"},
			{"admin flag", `{"handle": "c4", "admin": true}`, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.postJSON(t, "/user/keys", bearer, c.body)
				if c.field == "" {
					wantError(t, c.body, r, 403, "forbidden")
					return
				}
				if d := wantError(t, c.body, r, 400, "invalid_request"); !strings.HasPrefix(d, c.field) {
					t.Errorf("%s: description %q, want it to name %s", c.body, d, c.field)
				}
			})
		}
		shorter := parentExp.Add(-5 * time.Minute)
		if k := e.createKeyAnswer(t, bearer, `{"handle": "c5", "expiresAt": "`+shorter.Format(time.RFC3339)+`"}`); !k.ExpiresAt.Equal(shorter) {
			t.Errorf("c5: expiresAt %v, want %v", k.ExpiresAt, shorter)
		}

		// An OAuth client made with the key: its 12-hour tokens end with it.
		id, secret := e.createClient(t, bearer, `{"accessTokenValiditySeconds": 43200}`)
		tk := e.token(t, clientBasic(id, secret), url.Values{"grant_type": {"client_credentials"}})
		if max := int64(time.Until(parentExp)/time.Second) + 1; tk.ExpiresIn > max {
			t.Errorf("client's token: expires_in %d, want at most %d (the key's remaining lifetime)", tk.ExpiresIn, max)
		}
		if r := e.call(t, "GET", "/billing/1", "Bearer "+tk.AccessToken, "", ""); r.Status != 403 {
			t.Errorf("client's token on billing: got %s, want 403", r)
		}
	})
}

// TestDeletingParentRevokesChildren: deleting a named key revokes what it
// made (a key, that key's key, an OAuth client and its token), through the
// proxy and GET /user; with redis, also on another replica that had the
// child's token cached.
func TestDeletingParentRevokesChildren(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders", "billing"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		parent := e.createKey(t, alice, `{"handle": "parent"}`)
		child := e.createKey(t, "Bearer "+parent, `{"handle": "child", "apiSets": ["orders"]}`)
		grandchild := e.createKey(t, "Bearer "+child, `{"handle": "grandchild"}`)
		id, secret := e.createClient(t, "Bearer "+parent, ``)
		tk := e.token(t, clientBasic(id, secret), url.Values{"grant_type": {"client_credentials"}})
		tokens := map[string]string{"child": child, "grandchild": grandchild, "client's access token": tk.AccessToken}
		for name, tok := range tokens {
			if r := e.call(t, "GET", "/orders/1", "Bearer "+tok, "", ""); r.Status != 200 {
				t.Fatalf("%s before: got %s, want 200", name, r)
			}
		}

		want(t, "DELETE /user/keys/parent", e.call(t, "DELETE", "/user/keys/parent", alice, "", ""), 204)

		for name, tok := range tokens {
			if r := e.call(t, "GET", "/orders/1", "Bearer "+tok, "", ""); r.Status != 401 {
				t.Errorf("%s through the proxy after the parent was deleted: got %s, want 401", name, r)
			}
			if r := e.call(t, "GET", "/user", "Bearer "+tok, "", ""); r.Status != 401 {
				t.Errorf("%s on GET /user after the parent was deleted: got %s, want 401", name, r)
			}
		}
		if r := e.postForm(t, "/oauth/token", clientBasic(id, secret), url.Values{"grant_type": {"client_credentials"}}); r.Status != 401 {
			t.Errorf("the client after the parent was deleted: got %s, want 401", r)
		}
	})
}

// TestParentRevokedOnAnotherReplica: two keygates on one redis; the
// second has a child key's token cached when the first deletes its
// parent: the cascade's invalidation reaches the second.
func TestParentRevokedOnAnotherReplica(t *testing.T) {
	addr := redistest.Addr(t)
	storeYAML := redisStore(t, addr)
	a := startEnv(t, storeYAML, "")
	b := startEnv(t, storeYAML, "")
	alice := a.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
	parent := a.createKey(t, alice, `{"handle": "parent"}`)
	child := a.createKey(t, "Bearer "+parent, `{"handle": "child"}`)
	if r := b.call(t, "GET", "/orders/1", "Bearer "+child, "", ""); r.Status != 200 {
		t.Fatalf("child on replica b: got %s, want 200", r)
	}
	want(t, "DELETE /user/keys/parent on a", a.call(t, "DELETE", "/user/keys/parent", alice, "", ""), 204)
	testkit.Eventually(t, 5*time.Second, "child on replica b answers 401 after its parent was deleted on a", func() bool {
		return b.call(t, "GET", "/orders/1", "Bearer "+child, "", "").Status == 401
	})
}

// TestAPIKeyPairAsParent: a key made with the ApiKey pair is its child:
// revoking the pair revokes the key. A key that expires cannot generate
// the ApiKey token, which does not.
func TestAPIKeyPairAsParent(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		r := e.postJSON(t, "/user/apikey/token", alice, ``)
		want(t, "ApiKey token", r, 200)
		pair := "ApiKey " + r.JSON(t)["key"].(string) + ":" + r.JSON(t)["token"].(string)
		child := e.createKey(t, pair, `{"handle": "child"}`)
		if r := e.call(t, "GET", "/orders/1", "Bearer "+child, "", ""); r.Status != 200 {
			t.Fatalf("child before: got %s", r)
		}
		_, cred, err := e.svc.Accounts.APIKey(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Accounts.Revoke(t.Context(), cred.ID); err != nil {
			t.Fatal(err)
		}
		if r := e.call(t, "GET", "/orders/1", "Bearer "+child, "", ""); r.Status != 401 {
			t.Errorf("child of a revoked ApiKey pair: got %s, want 401", r)
		}

		expiring := e.createKey(t, alice, `{"handle": "short", "expiresAt": "`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
		wantError(t, "ApiKey token by an expiring key", e.postJSON(t, "/user/apikey/token", "Bearer "+expiring, ``), 403, "forbidden")
	})
}
