package account_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/httpkit/httpkittest"
	"github.com/keygate/keygate/internal/httpkit/httpkittest/gatewaytest"
	kgbrowser "github.com/keygate/keygate/internal/testkit/browser"
	"github.com/keygate/keygate/internal/testkit/oidctest"
)

// TestBrowserOIDC drives Chromium through sign-in with an OpenID Connect
// provider (mockoidc in the test process, at localhost: another site than
// keygate's 127.0.0.1, so the way back is a cross-site navigation as in
// production): Sign in with Acme SSO, the profile, Generate key, and the
// key through a proxied route.
func TestBrowserOIDC(t *testing.T) {
	p := oidctest.Start(t)
	up := gatewaytest.Upstream(t)
	g, _ := gatewaytest.Gateway(t, fmt.Sprintf(`
%s
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
account:
  enabled: true
  oidc: {name: Acme SSO, issuer: %s, client_id: %s, client_secret: %s}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
  - {name: billing, path_prefix: /billing, upstream: %s, api_set: billing}
`, httpkittest.StoreYAML(t, "embedded"), p.Issuer(), p.ClientID, p.ClientSecret, up, up), nil)
	s := &site{base: "http://" + g.Addr().String(), svc: g.Auth()}
	if _, err := s.svc.Accounts.CreateUser(t.Context(), authz.User{Name: "jane@example.com", APISets: []string{"orders", "billing"}, Scopes: []string{"read", "write"}, Authorities: []string{authz.AuthorityManageUserAPIKey}}); err != nil {
		t.Fatal(err)
	}
	p.User(&mockoidc.MockUser{Subject: "u-1", Email: "jane@example.com", EmailVerified: true, PreferredUsername: "jane"})

	ctx := kgbrowser.Start(t, chromedp.Flag("hide-scrollbars", true), chromedp.WindowSize(1000, 760))
	b := &tab{t: t, ctx: ctx, dir: screens(t)}
	b.load("open sign-in", chromedp.Navigate(s.base+"/account/signin"))
	if label := run(b, "provider button", chromedp.Text(chromedp.ID("oidc-signin"))); label != "Sign in with Acme SSO" {
		t.Errorf("the provider's button reads %q", label)
	}
	b.screenshot("signin-oidc")
	b.load("Sign in with Acme SSO", chromedp.Click(chromedp.ID("oidc-signin")))
	b.do("profile shown", chromedp.WaitVisible(chromedp.ID("keys")))
	if loc := run(b, "location", chromedp.Location()); loc != s.base+"/account/profile" {
		t.Errorf("after the provider the browser is at %s, want the profile", loc)
	}
	if who := run(b, "user", chromedp.Text(chromedp.CSS(".who"))); who != "jane@example.com" {
		t.Errorf("signed in as %q", who)
	}
	b.screenshot("profile-oidc")

	b.load("Generate key", chromedp.Click(chromedp.ID("generate-key")))
	b.do("fill the New API Key window",
		chromedp.WaitVisible(chromedp.ID("handle")),
		chromedp.SendKeys(chromedp.ID("handle"), "sso-key"),
		chromedp.Click(chromedp.CSS(`#available option[value="orders"]`)),
		chromedp.Click(chromedp.ID("add-api")),
	)
	if st := b.load("Finish", chromedp.Click(chromedp.CSS(`#new-key button[type=submit]`))); st != http.StatusCreated {
		t.Fatalf("Finish: status %d, want 201", st)
	}
	token := run(b, "the key", chromedp.Value(chromedp.ID("token")))
	if !strings.HasPrefix(token, "kgl_") {
		t.Fatalf("Save generated key shows %q, want a kgl_ token", token)
	}
	if st := s.call(t, "/orders/1", "Bearer "+token); st != http.StatusOK {
		t.Errorf("GET /orders/1 with the key made after signing in with the provider: %d, want 200", st)
	}
	if st := s.call(t, "/billing/1", "Bearer "+token); st != http.StatusForbidden {
		t.Errorf("GET /billing/1 with an orders key: %d, want 403", st)
	}
	b.load("Close", chromedp.Click(chromedp.ID("close")))
	b.signOut(s.base)
}
