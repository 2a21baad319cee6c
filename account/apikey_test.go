package account

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/authz"
)

// TestApiKeyRotateButton: Rotate Key (with the session's CSRF token)
// replaces the key and the token; the old pair stops working and the
// page shows the new pair once. Without the CSRF token nothing changes.
func TestApiKeyRotateButton(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders"})
	keyRe := regexp.MustCompile(`id="key" readonly value="(kgk_[^"]+)"`)
	usageRe := regexp.MustCompile(`id="usage" readonly value="([^"]+)"`)
	b.get("/account/apikey")
	gen := b.post("/account/apikey/token", nil)
	old := usageRe.FindStringSubmatch(gen.body)
	if old == nil || !strings.Contains(gen.body, `action="/account/apikey/rotate"`) || !strings.Contains(gen.body, `id="rotate-key"`) {
		t.Fatalf("API screen after Generate Token: want the Usage and a Rotate Key form")
	}
	if err := e.verify(t, old[1], "orders"); err != nil {
		t.Fatalf("the first pair: %v", err)
	}

	if p := b.do("POST", "/account/apikey/rotate", url.Values{"csrf": {"forged"}}); p.status != http.StatusForbidden {
		t.Errorf("Rotate Key without the CSRF token: %d, want 403", p.status)
	}
	if err := e.verify(t, old[1], "orders"); err != nil {
		t.Fatalf("the pair after a refused rotation: %v, want it still working", err)
	}

	b.get("/account/apikey")
	rot := b.post("/account/apikey/rotate", nil)
	key := keyRe.FindStringSubmatch(rot.body)
	usage := usageRe.FindStringSubmatch(rot.body)
	if rot.status != http.StatusOK || key == nil || usage == nil || !strings.HasPrefix(usage[1], "ApiKey "+key[1]+":kgt_") {
		t.Fatalf("Rotate Key: %d, key %v, Usage %v", rot.status, key, usage)
	}
	if strings.HasPrefix(old[1], "ApiKey "+key[1]+":") {
		t.Errorf("Rotate Key kept the key %s", key[1])
	}
	if err := e.verify(t, old[1], "orders"); !errors.Is(err, authz.ErrInvalid) {
		t.Errorf("the old pair after Rotate Key: %v, want ErrInvalid", err)
	}
	if err := e.verify(t, usage[1], "orders"); err != nil {
		t.Errorf("the new pair: %v", err)
	}
	if again := b.get("/account/apikey"); !strings.Contains(again.body, key[1]) || strings.Contains(again.body, usage[1]) {
		t.Errorf("API screen after Rotate Key: want the new key and no token")
	}
}

// TestFormsSentAgainMakeNothing: Generate Token, Rotate Key and New secret
// carry the state the page showed; the same form sent again (a reload of
// its answer, or a stale second tab) answers 409 with the screen as it is
// and makes nothing, so the token or secret just shown keeps working.
func TestFormsSentAgainMakeNothing(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders"}, authz.AuthorityManageUserAPIKey)
	usageRe := regexp.MustCompile(`id="usage" readonly value="([^"]+)"`)
	genRe := regexp.MustCompile(`name="generation" value="(\d+)"`)

	for _, action := range []string{"/account/apikey/token", "/account/apikey/rotate"} {
		t.Run(action, func(t *testing.T) {
			page := b.get("/account/apikey")
			m := genRe.FindStringSubmatch(page.body)
			if m != nil && action == "/account/apikey/rotate" && !strings.Contains(page.body, `action="/account/apikey/rotate"`) {
				b.post("/account/apikey/token", url.Values{"generation": {m[1]}})
				m = genRe.FindStringSubmatch(b.get("/account/apikey").body)
			}
			if m == nil {
				t.Fatalf("the API screen's forms carry no generation")
			}
			form := url.Values{"csrf": {b.csrf}, "generation": {m[1]}}
			first := b.do("POST", action, form)
			usage := usageRe.FindStringSubmatch(first.body)
			if first.status != http.StatusOK || usage == nil {
				t.Fatalf("%s: %d, Usage %v", action, first.status, usage)
			}
			again := b.do("POST", action, form)
			if again.status != http.StatusConflict || !strings.Contains(again.body, "already sent") || usageRe.MatchString(again.body) {
				t.Errorf("%s sent again: %d, want 409 saying it was already sent, with no new token", action, again.status)
			}
			if err := e.verify(t, usage[1], "orders"); err != nil {
				t.Errorf("the pair shown after %s was sent again: %v, want it still working", action, err)
			}
		})
	}

	t.Run("/account/clients/{id}/secret", func(t *testing.T) {
		b.get("/account/profile")
		made := b.post("/account/clients", nil)
		id := regexp.MustCompile(`id="client-id" readonly value="([^"]+)"`).FindStringSubmatch(made.body)
		set := regexp.MustCompile(`name="secretSet" value="(\d+)"`).FindStringSubmatch(made.body)
		if id == nil || set == nil {
			t.Fatalf("the new client's window: no client ID or no secretSet field")
		}
		secretRe := regexp.MustCompile(`id="client-secret" readonly value="([^"]+)"`)
		form := url.Values{"csrf": {b.csrf}, "secretSet": {set[1]}}
		first := b.do("POST", "/account/clients/"+id[1]+"/secret", form)
		secret := secretRe.FindStringSubmatch(first.body)
		if first.status != http.StatusOK || secret == nil {
			t.Fatalf("New secret: %d, secret %v", first.status, secret)
		}
		again := b.do("POST", "/account/clients/"+id[1]+"/secret", form)
		if again.status != http.StatusConflict || secretRe.MatchString(again.body) {
			t.Errorf("New secret sent again: %d, want 409 with no new secret", again.status)
		}
		if _, err := e.svc.OAuth.AuthenticateClient(t.Context(), id[1], secret[1]); err != nil {
			t.Errorf("the secret shown after New secret was sent again: %v, want it still working", err)
		}
	})
}
