package selfservice_test

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// clientToken obtains an access token for the client with
// golang.org/x/oauth2's client credentials flow, as a real client would.
func (e *env) clientToken(t *testing.T, id, secret string) string {
	t.Helper()
	cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.base + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatalf("x/oauth2 client credentials for %s: %v", id, err)
	}
	return tok.AccessToken
}

// TestCreatesCredentialsClient: the createClientId call made with an
// OAuth access token, as the OAuth2 client credentials flow documents it,
// works when the token's client was made to create credentials (after a
// password, with createsCredentials): the answer has exactly the usual
// fields, the new client's id and secret obtain tokens, a named key made
// with the token works, and both carry at most the token's API sets and
// scopes. The new client may not be made to create credentials itself,
// nor may the token make an admin key or the ApiKey token.
func TestCreatesCredentialsClient(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"cortex", "orders", "billing"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		id, secret := e.createClient(t, alice, `{"resourceIds": ["cortex", "orders"], "createsCredentials": true}`)
		bearer := "Bearer " + e.clientToken(t, id, secret)

		// The call exactly as documented: Content-Type JSON, no body.
		r := e.postJSON(t, "/connect/register/createClientId", bearer, "")
		want(t, "createClientId with an access token of a client made to create credentials", r, 200)
		m := r.JSON(t)
		wantCreateClientFields(t, m)
		wantValues(t, m, map[string]any{
			"accessTokenValiditySeconds": 43200.0,
			"resourceIds":                []any{"cortex", "orders"}, // the token's
			"scope":                      []any{"read", "write"},
		})
		childID, childSecret := m["clientId"].(string), m["clientSecret"].(string)
		childToken := e.clientToken(t, childID, childSecret)
		if r := e.call(t, "GET", "/orders/1", "Bearer "+childToken, "", ""); r.Status != 200 {
			t.Errorf("the new client's token on orders: got %s, want 200", r)
		}
		if r := e.call(t, "GET", "/billing/1", "Bearer "+childToken, "", ""); r.Status != 403 {
			t.Errorf("the new client's token on billing: got %s, want 403", r)
		}
		c, err := e.svc.OAuth.GetClient(t.Context(), "alice", childID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Parent != id || c.CreatesCredentials || !c.Expires.IsZero() {
			t.Errorf("new client: parent %q, createsCredentials %v, expires %v; want parent %q, false, none", c.Parent, c.CreatesCredentials, c.Expires, id)
		}

		// A named key: the token's API sets, the client as its parent,
		// no expiry (the client has none), not the token's 12 hours.
		k := e.createKeyAnswer(t, bearer, `{"handle": "from-token"}`)
		if !slices.Equal(k.APISets, []string{"cortex", "orders"}) || !k.ExpiresAt.IsZero() {
			t.Errorf("key: apiSets %v, expiresAt %v; want [cortex orders] and none", k.APISets, k.ExpiresAt)
		}
		if r := e.call(t, "GET", "/orders/1", "Bearer "+k.Token, "", ""); r.Status != 200 {
			t.Errorf("the key on orders: got %s, want 200", r)
		}

		other := e.mustClient(t, alice)
		for _, c := range []struct {
			name, path, body string
			status           int
		}{
			{"more API sets", "/connect/register/createClientId", `{"resourceIds": ["billing"]}`, 400},
			{"a client that creates credentials", "/connect/register/createClientId", `{"createsCredentials": true}`, 403},
			{"a key with more API sets", "/user/keys", `{"handle": "billing", "apiSets": ["billing"]}`, 400},
			{"an admin key", "/user/keys", `{"handle": "adm", "admin": true}`, 403},
			{"the ApiKey token", "/user/apikey/token", ``, 403},
			{"a new secret for another client", "/connect/register/clients/" + other + "/secret", ``, 403},
		} {
			t.Run(c.name, func(t *testing.T) {
				if r := e.postJSON(t, c.path, bearer, c.body); r.Status != c.status {
					t.Errorf("%s %s: got %s, want %d", c.path, c.body, r, c.status)
				}
			})
		}
		if clients, _ := e.svc.OAuth.Clients(t.Context(), "alice"); len(clients) != 3 {
			t.Errorf("alice has %d clients, want 3 (the refused requests made none)", len(clients))
		}
		want(t, "a new secret for the client it made", e.postJSON(t, "/connect/register/clients/"+childID+"/secret", bearer, ``), 200)
	})
}

// mustClient makes a client after a password and returns its id.
func (e *env) mustClient(t *testing.T, authorization string) string {
	t.Helper()
	id, _ := e.createClient(t, authorization, ``)
	return id
}

// TestCreatesCredentialsOnlyAfterPassword: a client made to create
// credentials is asked for after a password sign-in; a named key token,
// the ApiKey pair or an access token asking for one is refused with a 403
// naming the field, and nothing is made. A token of a client made without
// it still creates nothing.
func TestCreatesCredentialsOnlyAfterPassword(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		key := e.createKey(t, alice, `{"handle": "k"}`)
		id, secret := e.createClient(t, alice, ``)
		r := e.postJSON(t, "/user/apikey/token", alice, ``)
		want(t, "ApiKey token", r, 200)
		pair := "ApiKey " + r.JSON(t)["key"].(string) + ":" + r.JSON(t)["token"].(string)
		plain := "Bearer " + e.clientToken(t, id, secret)
		for _, c := range []struct{ name, authorization string }{
			{"named key", "Bearer " + key},
			{"ApiKey pair", pair},
			{"access token", plain},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.postJSON(t, "/connect/register/createClientId", c.authorization, `{"createsCredentials": true}`)
				if d := wantError(t, c.name, r, 403, "forbidden"); !strings.HasPrefix(d, "createsCredentials") {
					t.Errorf("%s: description %q, want it to name createsCredentials", c.name, d)
				}
			})
		}
		r = e.postJSON(t, "/connect/register/createClientId", plain, ``)
		if d := wantError(t, "createClientId with a token of a client not made to create credentials", r, 403, "forbidden"); !strings.Contains(d, "access token cannot create") {
			t.Errorf("description %q, want it to say an access token cannot create credentials", d)
		}
		if clients, _ := e.svc.OAuth.Clients(t.Context(), "alice"); len(clients) != 1 {
			t.Errorf("alice has %d clients, want 1", len(clients))
		}
	})
}

// TestDeletingCreatesCredentialsClient: deleting a client made to create
// credentials deletes the client and revokes the key its token made: the
// new client's grant then fails with invalid_client, and the key and the
// new client's token are refused.
func TestDeletingCreatesCredentialsClient(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		id, secret := e.createClient(t, alice, `{"createsCredentials": true}`)
		bearer := "Bearer " + e.clientToken(t, id, secret)
		childID, childSecret := e.createClient(t, bearer, ``)
		childToken := e.clientToken(t, childID, childSecret)
		key := e.createKey(t, bearer, `{"handle": "from-token"}`)
		for name, tok := range map[string]string{"the new client's token": childToken, "the key": key} {
			if r := e.call(t, "GET", "/orders/1", "Bearer "+tok, "", ""); r.Status != 200 {
				t.Fatalf("%s before: got %s, want 200", name, r)
			}
		}

		want(t, "DELETE the client made to create credentials", e.call(t, "DELETE", "/connect/register/clients/"+id, alice, "", ""), 204)

		cc := &clientcredentials.Config{ClientID: childID, ClientSecret: childSecret, TokenURL: e.base + "/oauth/token"}
		_, err := cc.Token(t.Context())
		var re *oauth2.RetrieveError
		if !asRetrieveError(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("the new client's grant after its parent was deleted: %v, want invalid_client", err)
		}
		for name, tok := range map[string]string{"the new client's token": childToken, "the key": key} {
			if r := e.call(t, "GET", "/orders/1", "Bearer "+tok, "", ""); r.Status != 401 {
				t.Errorf("%s after the client was deleted: got %s, want 401", name, r)
			}
		}
		if clients, _ := e.svc.OAuth.Clients(t.Context(), "alice"); len(clients) != 0 {
			t.Errorf("alice has %d clients, want 0", len(clients))
		}

	})
}
