package selfservice_test

import (
	"testing"
)

// TestManageKeyAuthorityFor: self_service.manage_key_authority_for says
// which credentials a user without MANAGE_USER_API_KEY may not create;
// a user with it (or ADMIN) creates them all.
func TestManageKeyAuthorityFor(t *testing.T) {
	type outcome struct{ key, client, apikey int }
	for _, c := range []struct {
		name, setting string
		want          outcome
	}{
		{"default: named keys", "", outcome{403, 200, 200}},
		{"named keys", "[named_keys]", outcome{403, 200, 200}},
		{"none", "[]", outcome{201, 200, 200}},
		{"OAuth clients", "[oauth_clients]", outcome{201, 403, 200}},
		{"all", "[named_keys, oauth_clients, apikey]", outcome{403, 403, 403}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			extra := ""
			if c.setting != "" {
				extra = "self_service: {enabled: true, manage_key_authority_for: " + c.setting + "}"
			}
			e := newAPI(t, "embedded", extra)
			bob := e.user(t, "bob", []string{"orders"}, []string{"read", "write"})
			alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
			for _, u := range []struct {
				name, auth string
				want       outcome
			}{{"bob, without the authority", bob, c.want}, {"alice, with it", alice, outcome{201, 200, 200}}} {
				r := e.postJSON(t, "/user/keys", u.auth, `{"handle": "k", "apiSets": ["orders"]}`)
				if r.Status != u.want.key {
					t.Errorf("%s: named key: got %s, want %d", u.name, r, u.want.key)
				}
				r = e.postJSON(t, "/connect/register/createClientId", u.auth, ``)
				if r.Status != u.want.client {
					t.Errorf("%s: OAuth client: got %s, want %d", u.name, r, u.want.client)
				}
				r = e.postJSON(t, "/user/apikey/token", u.auth, ``)
				if r.Status != u.want.apikey {
					t.Errorf("%s: ApiKey token: got %s, want %d", u.name, r, u.want.apikey)
				}
			}
			// A refused request made nothing.
			creds, err := e.svc.Accounts.Credentials(t.Context(), "bob")
			if err != nil {
				t.Fatal(err)
			}
			clients, err := e.svc.OAuth.Clients(t.Context(), "bob")
			if err != nil {
				t.Fatal(err)
			}
			made := outcome{403, 403, 403}
			for _, cr := range creds {
				switch cr.Kind {
				case "key_token":
					made.key = 201
				case "apikey":
					made.apikey = 200
				}
			}
			if len(clients) > 0 {
				made.client = 200
			}
			if made != c.want {
				t.Errorf("bob's credentials (as statuses): %+v, want %+v", made, c.want)
			}
		})
	}
}

// TestAdminKeyByPassword: an administrator signed in with a password makes
// a key for the admin API; a user without ADMIN is told which field is
// wrong.
func TestAdminKeyByPassword(t *testing.T) {
	e := newAPI(t, "embedded", "")
	root := e.user(t, "root", []string{"orders"}, []string{"read", "write"}, "ADMIN")
	alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
	r := e.postJSON(t, "/user/keys", root, `{"handle": "ops", "admin": true}`)
	want(t, "admin key by root's password", r, 201)
	if r.JSON(t)["admin"] != true {
		t.Errorf("admin key: %s, want admin: true", r.Body)
	}
	r = e.postJSON(t, "/user/keys", alice, `{"handle": "ops", "admin": true}`)
	if d := wantError(t, "admin key for alice", r, 400, "invalid_request"); d != `admin: "alice" does not hold the ADMIN authority` {
		t.Errorf("admin key for alice: description %q", d)
	}
}
