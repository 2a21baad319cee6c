package account_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/httpkit/httpkittest"
	"github.com/keygate/keygate/internal/httpkit/httpkittest/gatewaytest"
	"github.com/keygate/keygate/internal/testkit"
	kgbrowser "github.com/keygate/keygate/internal/testkit/browser"
)

// screens is where the screenshots go: $KEYGATE_SCREENSHOT_DIR, or a new
// temporary directory that is kept (and printed) as the test's artifact.
func screens(t *testing.T) string {
	dir := os.Getenv("KEYGATE_SCREENSHOT_DIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "keygate-screens-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// site is a keygate (gateway.Gateway on loopback) with the account pages
// on, in front of an echo upstream on routes orders and billing.
type site struct {
	base string
	svc  *authz.Service
}

func startSite(t *testing.T) *site {
	t.Helper()
	up := gatewaytest.Upstream(t)
	g, _ := gatewaytest.Gateway(t, fmt.Sprintf(`
%s
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
account: {enabled: true}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
  - {name: billing, path_prefix: /billing, upstream: %s, api_set: billing}
`, httpkittest.StoreYAML(t, "embedded"), up, up), nil)
	return &site{base: "http://" + g.Addr().String(), svc: g.Auth()}
}

func (s *site) user(t *testing.T, name string, sets []string, authorities ...string) {
	t.Helper()
	httpkittest.User(t, s.svc, name, sets, []string{"read", "write"}, authorities...)
}

// call sends a request through keygate's proxy with an Authorization
// header and returns the status.
func (s *site) call(t *testing.T, path, authorization string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// tab is one browser tab with the test's helpers; every failure is fatal.
type tab struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	shot int
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// load runs steps that make the page navigate, and waits for the new page.
func (b *tab) load(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return resp.Status
}

func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshot saves the whole page as NN-name.png.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	b.shot++
	png := run(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shot, name)), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// confirm clicks a button (a CSS selector) whose form asks first: the page's confirmation
// dialog must open (saved as a screenshot when shot is set) and its
// confirming button, named as the action, must be name; OK then sends the
// form and the new page's status is returned.
func (b *tab) confirm(what, button, name, shot string) int64 {
	b.t.Helper()
	b.do(what, chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS(`dialog#confirm[open] #confirm-ok`)))
	if got := run(b, "confirming button", chromedp.Text(chromedp.ID("confirm-ok"))); got != name {
		b.t.Errorf("%s: the dialog's button says %q, want %q", what, got, name)
	}
	if shot != "" {
		b.screenshot(shot)
	}
	return b.load(what+": "+name, chromedp.Click(chromedp.ID("confirm-ok")))
}

// cancel clicks a button (a CSS selector) whose form asks first and cancels the dialog:
// nothing may be sent.
func (b *tab) cancel(what, button string) {
	b.t.Helper()
	before := run(b, "location", chromedp.Location())
	b.do(what, chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS(`dialog#confirm[open] #confirm-cancel`)),
		chromedp.Click(chromedp.ID("confirm-cancel")), chromedp.WaitNotPresent(chromedp.CSS(`dialog#confirm[open]`)))
	if after := run(b, "location", chromedp.Location()); after != before {
		b.t.Errorf("%s, then Cancel: the page went from %s to %s", what, before, after)
	}
}

// resend posts a form of the page again as a reload of its answer would:
// the fields it had before it was sent (fields), from the page with its
// cookies. It returns the answer's status; the tab shows the answer.
func (b *tab) resend(action string, fields map[string]string) int64 {
	b.t.Helper()
	var add []string
	for k, v := range fields {
		add = append(add, fmt.Sprintf(`i = document.createElement("input"); i.type = "hidden"; i.name = %q; i.value = %q; f.appendChild(i);`, k, v))
	}
	js := fmt.Sprintf(`(() => { const f = document.createElement("form"); f.method = "post"; f.action = %q; let i; %s document.body.appendChild(f); f.submit(); })()`,
		action, strings.Join(add, " "))
	return b.load("send the form again", chromedp.Evaluate[chromedp.Void](js))
}

// formFields are the fields of the form that holds button.
func (b *tab) formFields(button string) map[string]string {
	b.t.Helper()
	js := fmt.Sprintf(`Object.fromEntries(new FormData(document.querySelector(%q).form))`, button)
	return run(b, "form fields", chromedp.Evaluate[map[string]string](js))
}

// contrast is the WCAG contrast ratio of the element's text on its
// background, as the browser computes both.
func (b *tab) contrast(sel string) float64 {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
  const s = getComputedStyle(document.querySelector(%q));
  const lum = c => {
    const [r, g, b] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map(v => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const a = lum(s.color), c = lum(s.backgroundColor);
  return (Math.max(a, c) + 0.05) / (Math.min(a, c) + 0.05);
})()`, sel)
	return run(b, "contrast of "+sel, chromedp.Evaluate[float64](js))
}

func (b *tab) html() string { return run(b, "page HTML", chromedp.OuterHTML(chromedp.CSS("html"))) }

func (b *tab) signIn(base, name string) {
	b.t.Helper()
	b.load("open sign-in", chromedp.Navigate(base+"/account/signin"))
	b.do("fill sign-in", chromedp.SendKeys(chromedp.ID("username"), name), chromedp.SendKeys(chromedp.ID("password"), "pw-"+name+"-secret"))
	if st := b.load("sign in", chromedp.Click(chromedp.CSS(`form[action$="/signin"] button[type=submit]`))); st != 200 {
		b.t.Fatalf("sign in as %s: status %d", name, st)
	}
	b.do("profile shown", chromedp.WaitVisible(chromedp.ID("keys")))
}

func (b *tab) signOut(base string) {
	b.t.Helper()
	b.load("sign out", chromedp.Click(chromedp.CSS(`form.signout button`)))
	b.do("sign-in page after sign-out", chromedp.WaitVisible(chromedp.ID("username")))
	b.load("profile after sign-out", chromedp.Navigate(base+"/account/profile"))
	if loc := run(b, "location", chromedp.Location()); !strings.HasSuffix(loc, "/account/signin") {
		b.t.Fatalf("profile after sign-out went to %s, want the sign-in page", loc)
	}
}

// TestBrowser drives Debian's chromium, headless, through the account
// pages against a real keygate: the seeds' flows as a person clicks them.
// One browser serves every subtest.
func TestBrowser(t *testing.T) {
	s := startSite(t)
	s.user(t, "alice", []string{"orders", "billing"}, authz.AuthorityManageUserAPIKey)
	s.user(t, "bob", []string{"orders"})
	s.user(t, "root", []string{"orders"}, authz.AuthorityAdmin)
	dir := screens(t)
	downloads := t.TempDir()

	ctx := kgbrowser.Start(t, chromedp.Flag("hide-scrollbars", true), chromedp.WindowSize(1000, 760))
	b := &tab{t: t, ctx: ctx, dir: dir}
	b.do("browser settings", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
		}); err != nil {
			return err
		}
		// What a person grants when the page first asks to write the
		// clipboard; the test also reads it back.
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
				Setting:    browser.PermissionSettingGranted, Origin: s.base,
			}); err != nil {
				return err
			}
		}
		return nil
	}))

	t.Run("named key, copy, download, close, use", func(t *testing.T) {
		b.t = t
		b.load("open sign-in", chromedp.Navigate(s.base+"/account/signin"))
		// The pages have an icon of their own (the browser would otherwise
		// ask the upstream for /favicon.ico).
		href := run(b, "favicon link", chromedp.Evaluate[string](`(document.querySelector('link[rel="icon"]') || {}).href || ""`))
		if href == "" {
			t.Errorf("the pages name no icon (link rel=icon)")
		} else if resp, err := http.Get(href); err != nil {
			t.Errorf("favicon: %v", err)
		} else {
			resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "image/svg+xml" {
				t.Errorf("favicon %s: %d %s, want 200 image/svg+xml", href, resp.StatusCode, ct)
			}
		}
		b.screenshot("signin")
		b.signIn(s.base, "alice")
		b.screenshot("profile")

		b.load("Generate key", chromedp.Click(chromedp.ID("generate-key")))
		b.do("New API Key window",
			chromedp.WaitVisible(chromedp.ID("handle")),
		)
		// The window's words are the named-key flow's: Name* and Finish.
		if label := run(b, "Name label", chromedp.Evaluate[string](`document.querySelector('label[for="handle"]').innerText.split("\n")[0]`)); label != "Name*" {
			t.Errorf("the name's label reads %q, want Name*", label)
		}
		if button := run(b, "submit button", chromedp.Text(chromedp.CSS(`#new-key button[type=submit]`))); button != "Finish" {
			t.Errorf("the window's button reads %q, want Finish", button)
		}
		b.do("fill the New API Key window",
			chromedp.SendKeys(chromedp.ID("handle"), "reporting"),
			chromedp.SendKeys(chromedp.ID("description"), "Monthly billing reports"),
			// Choose billing in Available API and move it with the arrow.
			chromedp.Click(chromedp.CSS(`#available option[value="billing"]`)),
			chromedp.Click(chromedp.ID("add-api")),
		)
		selected := run(b, "Selected API", chromedp.Evaluate[[]string](`Array.from(document.getElementById("selected").options).map(o => o.value)`))
		available := run(b, "Available API", chromedp.Evaluate[[]string](`Array.from(document.getElementById("available").options).map(o => o.value)`))
		if strings.Join(selected, ",") != "billing" || strings.Join(available, ",") != "orders" {
			t.Fatalf("after the arrow: Selected %v, Available %v; want [billing], [orders]", selected, available)
		}
		b.screenshot("new-key")
		if st := b.load("Finish", chromedp.Click(chromedp.CSS(`#new-key button[type=submit]`))); st != http.StatusCreated {
			t.Fatalf("Finish: status %d, want 201", st)
		}
		token := run(b, "the key", chromedp.Value(chromedp.ID("token")))
		if !strings.HasPrefix(token, "kgl_") {
			t.Fatalf("Save generated key shows %q, want a kgl_ token", token)
		}
		b.screenshot("save-key")

		// Copy to clipboard: the button writes the clipboard (read back
		// here) and says so.
		b.do("Copy to clipboard", chromedp.Click(chromedp.ID("copy-token")))
		b.do("copied message", chromedp.WaitVisible(chromedp.CSS(`#copy-token.done`)))
		if msg := run(b, "status", chromedp.Text(chromedp.CSS(".copied"))); msg != "Copied to clipboard." {
			t.Errorf("after Copy: status %q", msg)
		}
		// The copied button stays readable (WCAG AA for its text: 4.5).
		if c := b.contrast("#copy-token"); c < 4.5 {
			t.Errorf("Copy to clipboard after the click: text contrast %.2f, want at least 4.5", c)
		}
		b.screenshot("save-key-copied")
		clip := run(b, "read the clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if clip != token {
			t.Errorf("clipboard holds %q, want the key %q", clip, token)
		}

		// Download: the .APIKEY file, as POST /user/keys?download=1 has it.
		b.do("Download", chromedp.Click(chromedp.ID("download")))
		file := filepath.Join(downloads, "reporting.APIKEY")
		var got []byte
		testkit.Eventually(t, 15*time.Second, "a non-empty "+file+" after Download", func() bool {
			got, _ = os.ReadFile(file)
			return len(got) > 0
		})
		if string(got) != token+"\n" {
			t.Errorf("reporting.APIKEY holds %q, want the key and a newline", got)
		}

		// Close: the key is listed, and never shown again.
		b.load("Close", chromedp.Click(chromedp.ID("close")))
		b.do("profile", chromedp.WaitVisible(chromedp.ID("keys")))
		page := b.html()
		if !strings.Contains(page, ">reporting<") || !strings.Contains(page, "Monthly billing reports") {
			t.Errorf("profile does not list the key reporting with its description")
		}
		if strings.Contains(page, token) {
			t.Errorf("profile shows the key after the Save window was closed")
		}
		b.screenshot("profile-with-key")
		// Back does not bring the Save window again: it was the answer to a
		// POST and no-store, so Chromium neither keeps nor resends it
		// (net::ERR_CACHE_MISS, "Confirm Form Resubmission").
		bctx, bcancel := context.WithTimeout(b.ctx, 20*time.Second)
		err := chromedp.Do(bctx, chromedp.NavigateBack())
		bcancel()
		if err != nil && !strings.Contains(err.Error(), "ERR_CACHE_MISS") {
			t.Fatalf("Back: %v", err)
		}
		if strings.Contains(b.html(), token) {
			t.Errorf("going Back shows the key again")
		}

		// The key works on a route of its API set, and only there.
		if st := s.call(t, "/billing/1", "Bearer "+token); st != 200 {
			t.Errorf("GET /billing/1 with the key: %d, want 200", st)
		}
		if st := s.call(t, "/orders/1", "Bearer "+token); st != http.StatusForbidden {
			t.Errorf("GET /orders/1 with a billing key: %d, want 403", st)
		}
	})

	t.Run("ApiKey Generate Token and Usage", func(t *testing.T) {
		b.t = t
		// A key without a token yet (GET /user/apikey of the API makes
		// one): its status is not the green "active".
		if _, _, err := s.svc.Accounts.APIKey(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		b.load("API screen", chromedp.Navigate(s.base+"/account/apikey"))
		if class := run(b, "token status", chromedp.Evaluate[string](`document.getElementById("token-status").className`)); class != "status none" {
			t.Errorf("a key without a token: its status wears %q, want status none", class)
		}
		b.screenshot("apikey-no-token")
		// The first token replaces none: no question.
		b.load("Generate Token", chromedp.Click(chromedp.ID("generate-token")))
		key := run(b, "key", chromedp.Value(chromedp.ID("key")))
		usage := run(b, "Usage", chromedp.Value(chromedp.ID("usage")))
		if !strings.HasPrefix(usage, "ApiKey "+key+":kgt_") {
			t.Fatalf("Usage %q, want ApiKey %s:kgt_...", usage, key)
		}
		b.screenshot("apikey")
		if st := s.call(t, "/orders/1", usage); st != 200 {
			t.Errorf("GET /orders/1 with the Usage value: %d, want 200", st)
		}
		// The key never changes; a new token replaces the old one, after
		// a question (Cancel sends nothing).
		b.cancel("Generate Token, then Cancel", "#generate-token")
		if st := s.call(t, "/orders/1", usage); st != 200 {
			t.Errorf("the token after a cancelled Generate Token: %d, want 200", st)
		}
		before := b.formFields("#generate-token")
		b.confirm("Generate Token again", "#generate-token", "Generate Token", "confirm-generate")
		if again := run(b, "key", chromedp.Value(chromedp.ID("key"))); again != key {
			t.Errorf("key changed from %s to %s", key, again)
		}
		if st := s.call(t, "/orders/1", usage); st != http.StatusUnauthorized {
			t.Errorf("the earlier token after a new one: %d, want 401", st)
		}
		current := run(b, "Usage", chromedp.Value(chromedp.ID("usage")))
		// Reloading the answer sends the form again: it makes nothing, and
		// the token just shown keeps working.
		if st := b.resend(s.base+"/account/apikey/token", before); st != http.StatusConflict {
			t.Errorf("Generate Token sent again: status %d, want 409", st)
		}
		rctx, rcancel := context.WithTimeout(b.ctx, 20*time.Second)
		err := chromedp.Do(rctx, chromedp.Reload())
		rcancel()
		t.Logf("reloading the Generate Token answer in Chromium: %v", err)
		if st := s.call(t, "/orders/1", current); st != 200 {
			t.Errorf("the token shown after the form was sent again: %d, want 200", st)
		}
		// Rotate Key gives a new key and token.
		b.load("API screen", chromedp.Navigate(s.base+"/account/apikey"))
		b.confirm("Rotate Key", "#rotate-key", "Rotate Key", "")
		if rotated := run(b, "key", chromedp.Value(chromedp.ID("key"))); rotated == key {
			t.Errorf("Rotate Key kept the key %s", key)
		}
		if st := s.call(t, "/orders/1", current); st != http.StatusUnauthorized {
			t.Errorf("the pair before Rotate Key: %d, want 401", st)
		}
		if st := s.call(t, "/orders/1", run(b, "Usage", chromedp.Value(chromedp.ID("usage")))); st != 200 {
			t.Errorf("the rotated pair: %d, want 200", st)
		}
	})

	t.Run("OAuth client ID and secret", func(t *testing.T) {
		b.t = t
		b.load("profile", chromedp.Navigate(s.base+"/account/profile"))
		b.do("description", chromedp.SendKeys(chromedp.ID("client-description"), "layar"))
		if st := b.load("Generate New API Access Keys", chromedp.Click(chromedp.CSS(`form[action$="/clients"] button`))); st != http.StatusCreated {
			t.Fatalf("Generate New API Access Keys: status %d, want 201", st)
		}
		id := run(b, "client ID", chromedp.Value(chromedp.ID("client-id")))
		secret := run(b, "client secret", chromedp.Value(chromedp.ID("client-secret")))
		b.do("copy the secret", chromedp.Click(chromedp.CSS(`button[data-copy="client-secret"]`)))
		b.do("copied", chromedp.WaitVisible(chromedp.CSS(`button[data-copy="client-secret"].done`)))
		if clip := run(b, "clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); clip != secret {
			t.Errorf("clipboard holds %q, want the client secret", clip)
		}
		b.screenshot("client")
		if _, err := s.svc.OAuth.AuthenticateClient(t.Context(), id, secret); err != nil {
			t.Errorf("the client ID and secret shown: %v", err)
		}
		b.load("Close", chromedp.Click(chromedp.CSS(`a[href$="/profile#clients"]`)))
		// Without retrievable secrets the link says what it shows.
		if label := run(b, "client link", chromedp.Text(chromedp.CSS(`a[href$="/clients/`+id+`"]`))); label != "Show client ID" {
			t.Errorf("the client's link reads %q without retrievable secrets, want Show client ID", label)
		}
		b.load("Show client ID", chromedp.Click(chromedp.CSS(`a[href$="/clients/`+id+`"]`)))
		if page := b.html(); !strings.Contains(page, id) || strings.Contains(page, secret) {
			t.Errorf("Show client ID: want the client ID and not the secret")
		}
		// New secret asks first; sending its form again makes nothing.
		b.cancel("New secret, then Cancel", `form[action$="/secret"] button`)
		before := b.formFields(`form[action$="/secret"] button`)
		if st := b.confirm("New secret", `form[action$="/secret"] button`, "New secret", "confirm-new-secret"); st != 200 {
			t.Errorf("New secret: status %d, want 200", st)
		}
		fresh := run(b, "new secret", chromedp.Value(chromedp.ID("client-secret")))
		if st := b.resend(s.base+"/account/clients/"+id+"/secret", before); st != http.StatusConflict {
			t.Errorf("New secret sent again: status %d, want 409", st)
		}
		if _, err := s.svc.OAuth.AuthenticateClient(t.Context(), id, fresh); err != nil {
			t.Errorf("the new secret after its form was sent again: %v", err)
		}
		// Delete client asks first.
		b.cancel("Delete client, then Cancel", `form[action$="/delete"] button`)
		if _, err := s.svc.OAuth.GetClient(t.Context(), "alice", id); err != nil {
			t.Errorf("the client after a cancelled Delete client: %v", err)
		}
		b.confirm("Delete client", `form[action$="/delete"] button`, "Delete client", "")
		if _, err := s.svc.OAuth.GetClient(t.Context(), "alice", id); err == nil {
			t.Errorf("the client is still there after Delete client")
		}
		b.load("profile", chromedp.Navigate(s.base+"/account/profile"))
		b.screenshot("profile-full")
		// Delete asks first.
		del := `form[action$="/keys/reporting/delete"] button`
		b.cancel("Delete, then Cancel", del)
		if _, err := s.svc.Accounts.KeyByHandle(t.Context(), "alice", "reporting"); err != nil {
			t.Errorf("the key after a cancelled Delete: %v", err)
		}
		b.confirm("Delete", del, "Delete", "confirm-delete")
		if _, err := s.svc.Accounts.KeyByHandle(t.Context(), "alice", "reporting"); err == nil {
			t.Errorf("the key reporting is still there after Delete")
		}
	})

	t.Run("a form from elsewhere without the CSRF token is refused", func(t *testing.T) {
		b.t = t
		// Another port of 127.0.0.1 is the same site, so the SameSite
		// cookie goes along: only the CSRF token stops this.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<form id="f" method="post" action="%s/account/keys"><input name="handle" value="planted"><button id="go">go</button></form>`, s.base)
		}))
		defer evil.Close()
		b.load("attacker page", chromedp.Navigate(evil.URL))
		if st := b.load("submit", chromedp.Click(chromedp.ID("go"))); st != http.StatusForbidden {
			t.Errorf("forged form: status %d, want 403", st)
		}
		b.screenshot("csrf-refused")
		if _, err := s.svc.Accounts.KeyByHandle(t.Context(), "alice", "planted"); err == nil {
			t.Errorf("the forged form created a key")
		}
		b.signOut(s.base)
	})

	t.Run("no Generate key button without the authority", func(t *testing.T) {
		b.t = t
		b.signIn(s.base, "bob")
		if n := run(b, "button", chromedp.Evaluate[int](`document.querySelectorAll("#generate-key").length`)); n != 0 {
			t.Errorf("bob sees %d Generate key buttons, want none", n)
		}
		if !strings.Contains(b.html(), "needs the MANAGE_USER_API_KEY authority") {
			t.Errorf("bob's profile does not say why there is no button")
		}
		b.do("phone width", chromedp.EmulateViewport(390, 844))
		b.load("reload", chromedp.Reload())
		b.screenshot("profile-phone")
		b.do("desktop width", chromedp.EmulateViewport(1000, 760))
		b.signOut(s.base)
	})

	t.Run("administrator revokes a key", func(t *testing.T) {
		b.t = t
		_, cred, err := s.svc.Accounts.CreateKey(t.Context(), "bob", authz.KeySpec{Handle: "laptop", Description: "bob's laptop"})
		if err != nil {
			t.Fatal(err)
		}
		b.signIn(s.base, "root")
		b.load("Users", chromedp.Click(chromedp.CSS(`nav a[href$="/admin/users"]`)))
		b.screenshot("users")
		b.load("bob", chromedp.Click(chromedp.CSS(`a[href$="/admin/users/bob"]`)))
		b.screenshot("user-details")
		b.confirm("Revoke", `form[action$="/credentials/`+cred.ID+`/revoke"] button`, "Revoke", "confirm-revoke")
		if c, err := s.svc.Accounts.Credential(t.Context(), cred.ID); err != nil || c.Status != authz.StatusRevoked {
			t.Errorf("after Revoke: %v %v", c, err)
		}
		if !strings.Contains(b.html(), `<span class="status revoked">revoked</span>`) {
			t.Errorf("the details do not show the key revoked")
		}
		b.signOut(s.base)
	})
}
