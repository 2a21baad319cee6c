package gateway

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/testkit"
)

// TestAuditLines (issue 19.4): every change made through the admin API,
// the self-service API (and its OAuth endpoints) and the account pages,
// on one keygate's real listeners, writes exactly one audit line, with
// the actor, the front end, the action and the target; so do a void
// (three wrong ApiKey tokens) and a family revocation (a refresh token
// presented again). Refused requests and token issuance write none, and
// no line holds a secret. The CLI's lines: cmd/keygate's
// TestCLIAuditLines.
func TestAuditLines(t *testing.T) {
	const adminToken = "a-bootstrap-admin-token-of-the-audit-test-01234"
	dir := t.TempDir()
	up := echoUpstream(t)
	y := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {embedded: {path: %q}}
auth: {lockout_threshold: 3}
oauth: {issue_refresh_tokens: true}
self_service: {enabled: true}
account: {enabled: true}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
`, filepath.Join(dir, "k.db"), up.URL)
	g, logs := startLogged(t, parse(t, y), Options{AdminToken: adminToken})
	base := "http://" + g.Addr().String()
	const alicePW, rootPW, alicePW2 = "pw-alice-secret-1", "pw-root-secret-1", "pw-alice-secret-2"
	secrets := []string{adminToken, alicePW, rootPW, alicePW2}
	keep := func(s string) string { secrets = append(secrets, s); return s }

	admin := func(method, path, body string, want int) map[string]any {
		t.Helper()
		code, _, b := adminCall(t, g, method, path, "Bearer "+adminToken, body)
		return expect(t, method+" "+path, code, want, b)
	}
	alice := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+alicePW))
	self := func(method, path, body string, want int) map[string]any {
		t.Helper()
		code, _, b := send(t, method, base+path, alice, body)
		return expect(t, method+" "+path, code, want, b)
	}
	var clientID, clientSecret string
	oauth := func(path string, form url.Values, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.SetBasicAuth(clientID, clientSecret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return expect(t, "POST "+path, resp.StatusCode, want, string(b))
	}
	aliceB, rootB := newBrowser(t, base), newBrowser(t, base)

	// The ids the targets are, learnt as the steps go.
	var keyID, key2ID, apiKeyID, accessID, refreshID, webKeyID string
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	credID := func(user, handle string) string {
		t.Helper()
		c, err := g.Auth().Accounts.KeyByHandle(t.Context(), user, handle)
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	apiKeyCred := func() string {
		t.Helper()
		_, c, err := g.Auth().Accounts.ShowAPIKey(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}

	type line struct{ action, actor, auth, via, kind, target string }
	adm := func(action, kind string, target *string) func() []line {
		return func() []line { return []line{{action, "<admin token>", "admin_token", "admin_api", kind, *target}} }
	}
	ss := func(action, kind string, target *string) func() []line {
		return func() []line { return []line{{action, "alice", "password", "self_service", kind, *target}} }
	}
	cl := func(action string, target *string) func() []line {
		return func() []line {
			return []line{{action, "alice", "client_secret", "self_service", "credential", *target}}
		}
	}
	acct := func(actor, action, kind string, target *string) func() []line {
		return func() []line { return []line{{action, actor, "session", "account", kind, *target}} }
	}
	none := func() []line { return nil }
	alc := "alice"
	var sessionKey, accessTok, pageClient, adminClient string

	steps := []struct {
		name string
		do   func()
		want func() []line
	}{
		// The admin API.
		{"admin: create a user", func() {
			admin("POST", "/admin/users", `{"name": "alice", "apiSets": ["orders"], "authorities": ["MANAGE_USER_API_KEY"]}`, 201)
		}, adm("create_user", "user", &alc)},
		{"admin: set a password", func() { admin("PUT", "/admin/users/alice/password", `{"password": "`+alicePW+`"}`, 204) }, adm("set_password", "user", &alc)},
		{"admin: change a user", func() { admin("PATCH", "/admin/users/alice", `{"rateLimit": {"rate": 100, "per": "1s"}}`, 200) }, adm("update_user", "user", &alc)},
		{"admin: disable a user", func() { admin("PATCH", "/admin/users/alice", `{"disabled": true}`, 200) }, adm("disable_user", "user", &alc)},
		{"admin: enable a user", func() { admin("PATCH", "/admin/users/alice", `{"disabled": false}`, 200) }, adm("enable_user", "user", &alc)},
		{"admin: create an administrator with a password", func() {
			admin("POST", "/admin/users", `{"name": "root", "apiSets": ["orders"], "authorities": ["ADMIN"], "password": "`+rootPW+`"}`, 201)
		}, func() []line {
			return []line{{"create_user", "<admin token>", "admin_token", "admin_api", "user", "root"},
				{"set_password", "<admin token>", "admin_token", "admin_api", "user", "root"}}
		}},

		// The self-service API.
		{"self-service: create a key", func() {
			keep(str(self("POST", "/user/keys", `{"handle": "ci"}`, 201), "token"))
			keyID = credID("alice", "ci")
		}, ss("create_key", "credential", &keyID)},
		{"self-service: delete a key", func() { self("DELETE", "/user/keys/ci", "", 204) }, ss("delete_key", "credential", &keyID)},
		{"self-service: create another key", func() {
			keep(str(self("POST", "/user/keys", `{"handle": "k2"}`, 201), "token"))
			key2ID = credID("alice", "k2")
		}, ss("create_key", "credential", &key2ID)},
		{"self-service: generate the ApiKey token", func() {
			m := self("POST", "/user/apikey/token", "{}", 200)
			keep(str(m, "key"))
			keep(str(m, "token"))
			apiKeyID = apiKeyCred()
		}, ss("new_apikey_token", "credential", &apiKeyID)},
		{"self-service: rotate the ApiKey key", func() {
			m := self("POST", "/user/apikey/rotate", "{}", 200)
			keep(str(m, "key"))
			keep(str(m, "token"))
		}, ss("rotate_apikey", "credential", &apiKeyID)},
		{"self-service: create a client", func() {
			m := self("POST", "/connect/register/createClientId", `{"description": "audit"}`, 200)
			clientID, clientSecret = str(m, "clientId"), keep(str(m, "clientSecret"))
		}, ss("create_client", "client", &clientID)},
		{"self-service: a new client secret", func() {
			clientSecret = keep(str(self("POST", "/connect/register/clients/"+clientID+"/secret", "{}", 200), "clientSecret"))
		}, ss("rotate_client_secret", "client", &clientID)},

		// OAuth: issuing is no change of the credential model's shape; a
		// revocation and a family revocation are.
		{"oauth: client credentials (no line)", func() {
			m := oauth("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, 200)
			accessTok = keep(str(m, "access_token"))
			keep(str(m, "refresh_token"))
			accessID = lastCred(t, g, "alice", "access_token")
		}, none},
		{"oauth: revoke the access token", func() { oauth("/oauth/revoke", url.Values{"token": {accessTok}}, 200) }, cl("revoke_token", &accessID)},
		{"oauth: a refresh token presented twice revokes its family", func() {
			m := oauth("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, 200)
			keep(str(m, "access_token"))
			rt := keep(str(m, "refresh_token"))
			refreshID = lastCred(t, g, "alice", "refresh_token")
			keep(str(oauth("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, 200), "refresh_token"))
			oauth("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, 400)
		}, cl("revoke_family", &refreshID)},
		{"self-service: delete the client", func() { self("DELETE", "/connect/register/clients/"+clientID, "", 204) }, ss("delete_client", "client", &clientID)},

		// The admin API on credentials.
		{"admin: a credential's rate limit", func() {
			admin("PATCH", "/admin/credentials/"+key2ID, `{"rateLimit": {"rate": 5, "per": "1s"}}`, 200)
		}, adm("set_rate_limit", "credential", &key2ID)},
		{"admin: a credential's quota", func() { admin("PATCH", "/admin/credentials/"+key2ID, `{"quota": {"requests": 10}}`, 200) }, adm("set_quota", "credential", &key2ID)},
		{"admin: revoke a credential", func() { admin("DELETE", "/admin/credentials/"+key2ID, "", 204) }, adm("revoke", "credential", &key2ID)},

		// A void: three wrong ApiKey tokens on a proxied route.
		{"gateway: three wrong tokens void the ApiKey token", func() {
			// Two tokens, a line each (taken below): the first is then a
			// wrong one, well-formed.
			k, first := apiKeyToken(t, g, "alice")
			keep(k)
			keep(first)
			keep(apiKeyTokenOnly(t, g, "alice"))
			for range 3 {
				if code, _, _ := do(t, "GET", base+"/orders/1", "ApiKey "+k+":"+first); code != 401 {
					t.Fatalf("a wrong ApiKey token: %d, want 401", code)
				}
			}
			testkit.Eventually(t, 10*time.Second, "the void's audit line", func() bool {
				return logs.FilterField(zap.String("audit", "void")).Len() == 1
			})
		}, func() []line {
			return []line{{"new_apikey_token", "system", "system", "system", "credential", apiKeyID},
				{"new_apikey_token", "system", "system", "system", "credential", apiKeyID},
				{"void", "system", "system", "system", "credential", apiKeyID}}
		}},
		{"admin: unvoid", func() { admin("POST", "/admin/users/alice/apikey/unvoid", "{}", 204) }, adm("unvoid", "credential", &apiKeyID)},

		// The account pages.
		{"account: sign in (no line)", func() { aliceB.signIn("alice", alicePW) }, none},
		{"account: create a key", func() {
			aliceB.get("/account/keys/new")
			p := aliceB.post("/account/keys", url.Values{"handle": {"web"}, "apiSets": {"orders"}})
			if p.status != http.StatusCreated {
				t.Fatalf("create a key on the pages: %d %s", p.status, p.body)
			}
			webKeyID = credID("alice", "web")
		}, acct("alice", "create_key", "credential", &webKeyID)},
		{"account: delete a key", func() { aliceB.mustPost("/account/keys/web/delete", nil) }, acct("alice", "delete_key", "credential", &webKeyID)},
		{"account: change one's password", func() {
			aliceB.get("/account/password")
			aliceB.mustPost("/account/password", url.Values{"current": {alicePW}, "new": {alicePW2}, "confirm": {alicePW2}})
		}, acct("alice", "set_password", "user", &alc)},
		{"account: create a client", func() {
			aliceB.get("/account/profile")
			if p := aliceB.post("/account/clients", url.Values{"description": {"pages"}}); p.status >= 400 {
				t.Fatalf("create a client on the pages: %d %s", p.status, p.body)
			}
			cs, err := g.Auth().OAuth.Clients(t.Context(), "alice")
			if err != nil || len(cs) != 1 {
				t.Fatalf("alice's clients: %v %v", cs, err)
			}
			pageClient = cs[0].ID
		}, acct("alice", "create_client", "client", &pageClient)},
		{"account: a new client secret", func() {
			aliceB.get("/account/clients/" + pageClient)
			if p := aliceB.post("/account/clients/"+pageClient+"/secret", nil); p.status >= 400 {
				t.Fatalf("a new client secret on the pages: %d %s", p.status, p.body)
			}
		}, acct("alice", "rotate_client_secret", "client", &pageClient)},
		{"account: delete a client", func() {
			aliceB.get("/account/clients/" + pageClient)
			aliceB.mustPost("/account/clients/"+pageClient+"/delete", nil)
		}, acct("alice", "delete_client", "client", &pageClient)},
		{"admin: delete a client", func() {
			_, c, err := g.Auth().OAuth.CreateClient(t.Context(), "alice", authz.ClientSpec{}) // a line of its own
			if err != nil {
				t.Fatal(err)
			}
			adminClient = c.ID
			admin("DELETE", "/admin/clients/"+adminClient, "", 204)
		}, func() []line {
			return []line{{"create_client", "system", "system", "system", "client", adminClient},
				{"delete_client", "<admin token>", "admin_token", "admin_api", "client", adminClient}}
		}},
		{"account: an administrator revokes a credential", func() {
			rootB.signIn("root", rootPW)
			keep(namedKey(t, g, "alice", "r1")) // a line of its own, taken below
			sessionKey = credID("alice", "r1")
			rootB.get("/account/admin/users/alice")
			rootB.mustPost("/account/admin/credentials/"+sessionKey+"/revoke", nil)
		}, func() []line {
			return []line{{"create_key", "system", "system", "system", "credential", sessionKey},
				{"revoke", "root", "session", "account", "credential", sessionKey}}
		}},
		{"account: an administrator unvoids", func() {
			rootB.get("/account/admin/users/alice")
			rootB.mustPost("/account/admin/users/alice/unvoid", nil)
		}, acct("root", "unvoid", "credential", &apiKeyID)},

		// Refused requests change nothing and write nothing.
		{"refused: a wrong admin token", func() {
			code, _, _ := adminCall(t, g, "POST", "/admin/users", "Bearer not-the-admin-token-not-the-admin-token", `{"name": "mallory"}`)
			if code != 401 {
				t.Fatalf("wrong admin token: %d", code)
			}
		}, none},
		{"refused: an invalid change", func() { admin("PATCH", "/admin/users/alice", `{"authorities": ["ROOT"]}`, 400) }, none},
		{"refused: a key that is not there", func() {
			code, _, _ := send(t, "DELETE", base+"/user/keys/nope", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:"+alicePW2)), "")
			if code != 404 {
				t.Fatalf("delete a missing key: %d", code)
			}
		}, none},
		{"refused: a wrong password", func() {
			code, _, _ := send(t, "POST", base+"/user/keys", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:wrong-password")), `{"handle": "x"}`)
			if code != 401 {
				t.Fatalf("wrong password: %d", code)
			}
		}, none},
		{"refused: a form without its CSRF token", func() {
			p := aliceB.do("POST", "/account/keys", url.Values{"handle": {"nocsrf"}, "csrf": {"forged"}})
			if p.status != 403 {
				t.Fatalf("form without CSRF: %d", p.status)
			}
		}, none},
		{"refused: a revocation without a client", func() {
			code := postForm(t, base+"/oauth/revoke", url.Values{"token": {"x"}})
			if code != 401 {
				t.Fatalf("revoke with no client: %d", code)
			}
		}, none},
	}

	audit := func() []observer.LoggedEntry { return logs.FilterLoggerName("audit").All() }
	seen := 0
	for _, st := range steps {
		st.do()
		all := audit()
		got := all[seen:]
		seen = len(all)
		want := st.want()
		if len(got) != len(want) {
			t.Errorf("%s: %d audit lines, want %d:\n%s", st.name, len(got), len(want), dumpLines(got))
			continue
		}
		for i, w := range want {
			m := got[i].ContextMap()
			for k, v := range map[string]string{"audit": w.action, "actor": w.actor, "actor_auth": w.auth, "via": w.via, "target_kind": w.kind, "target": w.target} {
				if m[k] != v {
					t.Errorf("%s: line %d: %s = %v, want %q (%v)", st.name, i, k, m[k], v, m)
				}
			}
			if w.via == "admin_api" || w.via == "self_service" {
				if id, _ := m["request_id"].(string); id == "" || m["client"] != "127.0.0.1" {
					t.Errorf("%s: line %d without the request id and client address: %v", st.name, i, m)
				}
			}
			if w.auth == "system" && w.action == "void" && m["client"] != "127.0.0.1" {
				t.Errorf("%s: the void names no client address: %v", st.name, m)
			}
		}
	}
	for _, l := range audit() {
		line := l.Message + fmt.Sprint(l.ContextMap())
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("an audit line holds a secret (%.8s...): %s", s, line)
			}
		}
	}
}

// apiKeyTokenOnly is apiKeyToken's token.
func apiKeyTokenOnly(t *testing.T, g *Gateway, user string) string {
	t.Helper()
	_, tok := apiKeyToken(t, g, user)
	return tok
}

// expect fails the test unless code is want, and returns the JSON body
// (nil if not an object).
func expect(t *testing.T, what string, code, want int, body string) map[string]any {
	t.Helper()
	if code != want {
		t.Fatalf("%s: %d, want %d: %s", what, code, want, body)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	return m
}

func postForm(t *testing.T, u string, form url.Values) int {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// lastCred is the id of user's newest credential of kind.
func lastCred(t *testing.T, g *Gateway, user, kind string) string {
	t.Helper()
	creds, err := g.Auth().Accounts.Credentials(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	var at time.Time
	for _, c := range creds {
		if string(c.Kind) == kind && !c.Created.Before(at) {
			id, at = c.ID, c.Created
		}
	}
	if id == "" {
		t.Fatalf("%s has no %s", user, kind)
	}
	return id
}

func dumpLines(ls []observer.LoggedEntry) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "  %s %v\n", l.Message, l.ContextMap())
	}
	return b.String()
}

// pages is a browser on the account pages: a cookie jar, no redirects
// followed, and the last page's CSRF token.
type pages struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, base string) *pages {
	jar, _ := cookiejar.New(nil)
	return &pages{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	body   string
}

func (b *pages) do(method, path string, form url.Values) page {
	b.t.Helper()
	var p page
	p.status, _, p.body = testkit.SendForm(b.t, b.c, method, b.base+path, form)
	b.csrf = testkit.CSRF(p.body, b.csrf)
	return p
}

func (b *pages) get(path string) page { return b.do("GET", path, nil) }

func (b *pages) post(path string, form url.Values) page {
	return b.do("POST", path, testkit.WithCSRF(form, b.csrf))
}

// mustPost posts a form and fails the test unless the page redirects
// (Post/Redirect/Get: the change was made).
func (b *pages) mustPost(path string, form url.Values) {
	b.t.Helper()
	if p := b.post(path, form); p.status != http.StatusSeeOther {
		b.t.Fatalf("POST %s: %d, want 303: %s", path, p.status, p.body)
	}
}

func (b *pages) signIn(name, password string) {
	b.t.Helper()
	b.get("/account/signin")
	if p := b.post("/account/signin", url.Values{"username": {name}, "password": {password}}); p.status != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d %s", name, p.status, p.body)
	}
	b.get("/account/profile")
}
