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
	e.user(t, "alice", []string{"orders"})
	b := e.browser(t)
	b.signIn("alice")
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
