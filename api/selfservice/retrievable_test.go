package selfservice_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/httpkit/httpkittest"
)

// encryptionKeys turns retrievable secrets on (issue 5 point 4).
const encryptionKeys = `  encryption_keys: [{id: e1, secret: "an-encryption-key-of-at-least-32-bytes"}]`

// shown is what a show endpoint answered about a secret.
type shown struct {
	Token        *string `json:"token"`
	Usage        *string `json:"usage"`
	ClientSecret *string `json:"clientSecret"`
}

func (e *env) show(t *testing.T, path, authorization string) shown {
	t.Helper()
	r := e.call(t, "GET", path, authorization, "", "")
	want(t, "GET "+path, r, 200)
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("GET %s: Cache-Control %q, want no-store", path, cc)
	}
	var s shown
	if err := json.Unmarshal(r.Body, &s); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, r.Body)
	}
	return s
}

// TestRetrievableSecrets: with auth.encryption_keys, the show endpoints
// give a named key's token (seed 003) and a client's secret (seed 001's
// "Get existing keys") again; the lists never do, a narrower credential
// gets none, and a revoked key's token is not shown.
func TestRetrievableSecrets(t *testing.T) {
	forEachBackend(t, encryptionKeys, func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders", "billing"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		token := e.createKey(t, alice, `{"handle": "ci", "apiSets": ["orders"]}`)
		narrow := "Bearer " + e.createKey(t, alice, `{"handle": "narrow", "apiSets": ["billing"], "scopes": ["read"]}`)
		id, secret := e.createClient(t, alice, `{"resourceIds": ["orders"]}`)

		s := e.show(t, "/user/keys/ci", alice)
		if s.Token == nil || *s.Token != token || s.Usage == nil || *s.Usage != "Bearer "+token {
			t.Errorf("show key with encryption keys: token %v usage %v; want the token made at create", s.Token, s.Usage)
		}
		if s := e.show(t, "/connect/register/clients/"+id, alice); s.ClientSecret == nil || *s.ClientSecret != secret {
			t.Errorf("show client with encryption keys: clientSecret %v, want the secret made at create", s.ClientSecret)
		}
		// What is shown again works.
		if r := e.call(t, "GET", "/orders/1", "Bearer "+*e.show(t, "/user/keys/ci", alice).Token, "", ""); r.Status != 200 {
			t.Errorf("the shown token on its route: %s", r)
		}
		e.token(t, clientBasic(id, *e.show(t, "/connect/register/clients/"+id, alice).ClientSecret), url.Values{"grant_type": {"client_credentials"}})

		// The lists never hold secrets.
		for _, path := range []string{"/user/keys", "/connect/register/clients"} {
			if r := e.call(t, "GET", path, alice, "", ""); strings.Contains(string(r.Body), token) || strings.Contains(string(r.Body), secret) ||
				strings.Contains(string(r.Body), `"token"`) || strings.Contains(string(r.Body), `"clientSecret"`) {
				t.Errorf("GET %s shows a secret: %s", path, r.Body)
			}
		}

		// A credential narrower than the key or client gets no secret of
		// it; its own, yes.
		if s := e.show(t, "/user/keys/ci", narrow); s.Token != nil || s.Usage != nil {
			t.Errorf("a billing/read key showing the orders/read,write key: token present")
		}
		if s := e.show(t, "/connect/register/clients/"+id, narrow); s.ClientSecret != nil {
			t.Errorf("a billing/read key showing an orders client: clientSecret present")
		}
		if s := e.show(t, "/user/keys/narrow", narrow); s.Token == nil || "Bearer "+*s.Token != narrow {
			t.Errorf("a key showing itself: token %v", s.Token)
		}

		// A new client secret is what is shown from then on.
		r := e.call(t, "POST", "/connect/register/clients/"+id+"/secret", alice, "application/json", "")
		want(t, "new secret", r, 200)
		newSecret := r.JSON(t)["clientSecret"].(string)
		if s := e.show(t, "/connect/register/clients/"+id, alice); s.ClientSecret == nil || *s.ClientSecret != newSecret {
			t.Errorf("show client after a new secret: %v, want the new one", s.ClientSecret)
		}

		// A revoked key keeps its handle but shows no token.
		httpkittest.RevokeKey(t, e.svc, "alice", "ci")
		if s := e.show(t, "/user/keys/ci", alice); s.Token != nil || s.Usage != nil {
			t.Errorf("a revoked key shows its token")
		}
	})
}

// TestSecretsShownOnce: without auth.encryption_keys the show endpoints
// answer without the secret (the field is absent, not empty).
func TestSecretsShownOnce(t *testing.T) {
	e := newEnv(t, "embedded", "")
	alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
	e.createKey(t, alice, `{"handle": "ci"}`)
	id, _ := e.createClient(t, alice, "")
	if s := e.show(t, "/user/keys/ci", alice); s.Token != nil || s.Usage != nil {
		t.Errorf("show key without encryption keys: token present")
	}
	if s := e.show(t, "/connect/register/clients/"+id, alice); s.ClientSecret != nil {
		t.Errorf("show client without encryption keys: clientSecret present")
	}
}

// TestRetrievedSecretsStayWithinTheCaller: a stored secret is shown again
// only to a caller that could have made its credential. An OAuth access
// token (short-lived) never gets a key's token or a client's secret, nor
// does a key that expires before the secret's credential does; a key that
// carries as much and lives as long does.
func TestRetrievedSecretsStayWithinTheCaller(t *testing.T) {
	forEachBackend(t, encryptionKeys, func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		token := e.createKey(t, alice, `{"handle": "ci"}`)
		id, secret := e.createClient(t, alice, `{"resourceIds": ["orders"]}`)
		access := "Bearer " + e.token(t, clientBasic(id, secret), url.Values{"grant_type": {"client_credentials"}}).AccessToken
		soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		expiring := "Bearer " + e.createKey(t, alice, `{"handle": "expiring", "expiresAt": "`+soon+`"}`)
		lasting := "Bearer " + e.createKey(t, alice, `{"handle": "lasting"}`)

		for _, tc := range []struct {
			name, auth string
			shown      bool
		}{
			{"OAuth access token", access, false},
			{"key that expires first", expiring, false},
			{"key that lasts as long", lasting, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := e.show(t, "/user/keys/ci", tc.auth)
				if got := s.Token != nil && *s.Token == token; got != tc.shown {
					t.Errorf("GET /user/keys/ci: token shown %v, want %v", got, tc.shown)
				}
				c := e.show(t, "/connect/register/clients/"+id, tc.auth)
				if got := c.ClientSecret != nil && *c.ClientSecret == secret; got != tc.shown {
					t.Errorf("GET /connect/register/clients/{id}: secret shown %v, want %v", got, tc.shown)
				}
			})
		}
	})
}
