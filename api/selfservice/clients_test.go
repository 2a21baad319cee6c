package selfservice_test

import (
	"encoding/json"
	"maps"
	"math"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"
)

// seed001Fields are the keys of seed 001's expected createClientId
// response, all of them and no others.
var seed001Fields = []string{
	"accessTokenValiditySeconds", "additionalInformation", "authorities", "authorizedGrantTypes",
	"autoApproveScopes", "clientId", "clientSecret", "refreshTokenValiditySeconds",
	"registeredRedirectUri", "resourceIds", "scope", "scoped", "secretRequired",
}

// wantCreateClientFields fails the test unless the createClientId
// answer m has exactly seed001Fields.
func wantCreateClientFields(t *testing.T, m map[string]any) {
	t.Helper()
	if keys := slices.Sorted(maps.Keys(m)); !slices.Equal(keys, seed001Fields) {
		t.Errorf("fields %v,\nwant exactly seed 001's %v", keys, seed001Fields)
	}
}

// wantValues fails the test for each field of want whose value in the
// decoded JSON object m differs from it, types included: a JSON number is
// a float64, an array an []any, an object a map[string]any, null nil.
func wantValues(t *testing.T, m, want map[string]any) {
	t.Helper()
	for _, f := range slices.Sorted(maps.Keys(want)) {
		if !reflect.DeepEqual(m[f], want[f]) {
			t.Errorf("%s = %#v, want %#v", f, m[f], want[f])
		}
	}
}

// integer fails unless v is a JSON number with an integral value, and
// returns it.
func integer(t *testing.T, field string, v any) int64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) {
		t.Errorf("%s = %#v (%T), want an integer", field, v, v)
		return 0
	}
	return int64(f)
}

// TestCreateClientIdSeed001 checks createClientId's answer against seed
// 001's example field by field, types included, with a password caller
// and with seed 001's own caller, a Bearer token.
func TestCreateClientIdSeed001(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"cortex", "orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		before := time.Now().UnixMilli()
		// Seed 001 sends Content-Type: application/json and no body.
		r := e.postJSON(t, "/connect/register/createClientId", alice, "")
		after := time.Now().UnixMilli()
		want(t, "createClientId", r, 200)
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store (the answer holds a secret)", cc)
		}
		m := r.JSON(t)
		wantCreateClientFields(t, m)
		wantValues(t, m, map[string]any{
			"accessTokenValiditySeconds":  43200.0,
			"refreshTokenValiditySeconds": 2592000.0,
			"authorities":                 []any{map[string]any{"authority": "ROLE_CLIENT"}},
			"authorizedGrantTypes":        []any{"refresh_token", "client_credentials"},
			"autoApproveScopes":           nil,
			"registeredRedirectUri":       nil,
			"resourceIds":                 []any{"cortex", "orders"}, // the user's API sets
			"scope":                       []any{"read", "write"},
			"scoped":                      true,
			"secretRequired":              true,
		})
		info, ok := m["additionalInformation"].(map[string]any)
		if !ok {
			t.Fatalf("additionalInformation = %#v, want an object", m["additionalInformation"])
		}
		if len(info) != 3 {
			t.Errorf("additionalInformation has %d fields, want createdByUser, dateCreated, description: %v", len(info), info)
		}
		if got, ok := info["createdByUser"].(string); !ok || got != "alice" {
			t.Errorf("additionalInformation.createdByUser = %#v, want \"alice\"", info["createdByUser"])
		}
		if got := integer(t, "additionalInformation.dateCreated", info["dateCreated"]); got < before-1 || got > after+1 {
			t.Errorf("additionalInformation.dateCreated = %d, want epoch milliseconds in [%d, %d]", got, before, after)
		}
		if d, present := info["description"]; !present || d != nil {
			t.Errorf("additionalInformation.description = %#v (present %v), want null", d, present)
		}
		for _, f := range []string{"clientId", "clientSecret"} {
			if s, ok := m[f].(string); !ok || s == "" {
				t.Errorf("%s = %#v, want a non-empty string", f, m[f])
			}
		}

		// Seed 001's own call: a Bearer token as the caller, here a named
		// key's, with a body choosing the description, API sets and scope.
		token := e.createKey(t, alice, `{"handle": "seed001", "apiSets": ["cortex"]}`)
		r = e.postJSON(t, "/connect/register/createClientId", "Bearer "+token,
			`{"description": "layar", "scope": ["read"], "accessTokenValiditySeconds": 600}`)
		want(t, "createClientId with a Bearer key token", r, 200)
		m = r.JSON(t)
		if d := m["additionalInformation"].(map[string]any)["description"]; d != "layar" {
			t.Errorf("description = %#v, want \"layar\"", d)
		}
		wantValues(t, m, map[string]any{
			"resourceIds":                []any{"cortex"}, // the key's API sets only
			"scope":                      []any{"read"},
			"accessTokenValiditySeconds": 600.0,
		})
		// The key carries cortex only: it cannot make a client for orders.
		r = e.postJSON(t, "/connect/register/createClientId", "Bearer "+token, `{"resourceIds": ["orders"]}`)
		if d := wantError(t, "client broader than the calling key", r, 400, "invalid_request"); d != `resourceIds[0]: "orders" is not carried by the credential you authenticated with` {
			t.Errorf("error_description %q", d)
		}
		r = e.postJSON(t, "/connect/register/createClientId", alice, `{"accessTokenValiditySeconds": 999999999}`)
		if d := wantError(t, "validity above the maximum", r, 400, "invalid_request"); d != "accessTokenValiditySeconds: must be from 1 to 86400" {
			t.Errorf("error_description %q", d)
		}
	})
}

// TestRefreshTokensOff: with oauth.issue_refresh_tokens false, clients are
// registered for client_credentials only and get no refresh token.
func TestRefreshTokensOff(t *testing.T) {
	e := newEnv(t, "embedded", "oauth: {issue_refresh_tokens: false}")
	alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})
	r := e.postJSON(t, "/connect/register/createClientId", alice, "")
	want(t, "createClientId", r, 200)
	var reg struct {
		ClientID, ClientSecret string
		AuthorizedGrantTypes   []string
	}
	if err := json.Unmarshal(r.Body, &reg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reg.AuthorizedGrantTypes, []string{"client_credentials"}) {
		t.Errorf("authorizedGrantTypes = %v, want [client_credentials]", reg.AuthorizedGrantTypes)
	}
	tk := e.token(t, clientBasic(reg.ClientID, reg.ClientSecret), url.Values{"grant_type": {"client_credentials"}})
	if tk.RefreshToken != "" {
		t.Errorf("refresh token issued while issue_refresh_tokens is false")
	}
	r = e.postForm(t, "/oauth/token", clientBasic(reg.ClientID, reg.ClientSecret), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"kgr_x"}})
	wantError(t, "refresh grant while refresh tokens are off", r, 400, "unauthorized_client")
}

// TestClientManagement: "Get existing keys" lists and shows clients without
// secrets, "Generate new keys" replaces the secret, and deleting a client
// stops it and every token it obtained.
func TestClientManagement(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alicePassword := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})
		e.user(t, "bob", []string{"orders"}, []string{"read", "write"})
		// Passwords are slow on purpose (argon2id): one call with it, the
		// others with keys.
		alice, bob := "Bearer "+mustKey(t, e, "alice", "k"), "Bearer "+mustKey(t, e, "bob", "k")
		id, secret := e.createClient(t, alicePassword, `{"description": "first"}`)
		id2, _ := e.createClient(t, alice, "")

		r := e.call(t, "GET", "/connect/register/clients", alice, "", "")
		want(t, "list clients", r, 200)
		var list struct {
			Clients []map[string]any `json:"clients"`
		}
		if err := json.Unmarshal(r.Body, &list); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range list.Clients {
			ids = append(ids, c["clientId"].(string))
		}
		if sort.Strings(ids); len(ids) != 2 || !slices.Contains(ids, id) || !slices.Contains(ids, id2) {
			t.Fatalf("clients: %s", r.Body)
		}
		for _, c := range list.Clients {
			if _, has := c["clientSecret"]; has {
				t.Errorf("listed client shows its secret: %v", c)
			}
		}
		r = e.call(t, "GET", "/connect/register/clients/"+id, alice, "", "")
		want(t, "show client", r, 200)
		if m := r.JSON(t); m["clientId"] != id || m["clientSecret"] != nil {
			t.Errorf("show client: %s", r.Body)
		}
		wantError(t, "someone else's client", e.call(t, "GET", "/connect/register/clients/"+id, bob, "", ""), 404, "not_found")
		wantError(t, "unknown client", e.call(t, "GET", "/connect/register/clients/nope", alice, "", ""), 404, "not_found")

		tk := e.token(t, clientBasic(id, secret), url.Values{"grant_type": {"client_credentials"}})
		if r := e.call(t, "GET", "/orders/1", "Bearer "+tk.AccessToken, "", ""); r.Status != 200 {
			t.Fatalf("access token on its route: %s", r)
		}

		r = e.call(t, "POST", "/connect/register/clients/"+id+"/secret", alice, "application/json", "")
		want(t, "new secret", r, 200)
		var reg struct{ ClientSecret string }
		if err := json.Unmarshal(r.Body, &reg); err != nil || reg.ClientSecret == "" || reg.ClientSecret == secret {
			t.Fatalf("new secret: %s", r.Body)
		}
		r = e.postForm(t, "/oauth/token", clientBasic(id, secret), url.Values{"grant_type": {"client_credentials"}})
		wantError(t, "old secret after a new one (no grace)", r, 401, "invalid_client")
		e.token(t, clientBasic(id, reg.ClientSecret), url.Values{"grant_type": {"client_credentials"}})

		wantError(t, "delete someone else's client", e.call(t, "DELETE", "/connect/register/clients/"+id, bob, "", ""), 404, "not_found")
		want(t, "delete client", e.call(t, "DELETE", "/connect/register/clients/"+id, alice, "", ""), 204)
		if r := e.call(t, "GET", "/orders/1", "Bearer "+tk.AccessToken, "", ""); r.Status != 401 {
			t.Errorf("access token of a deleted client: %s, want 401", r)
		}
		r = e.postForm(t, "/oauth/token", clientBasic(id, reg.ClientSecret), url.Values{"grant_type": {"client_credentials"}})
		wantError(t, "deleted client", r, 401, "invalid_client")
		wantError(t, "deleted client shown", e.call(t, "GET", "/connect/register/clients/"+id, alice, "", ""), 404, "not_found")
	})
}
