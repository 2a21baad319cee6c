package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/testkit/browser"
)

// spaPage is a single-page app's page: call(url, token) fetches url with
// a Bearer token (none when token is empty) and reports what the page
// could read, or that the browser blocked it.
const spaPage = `<!doctype html><title>spa</title><script>
async function call(url, token) {
  const headers = token ? {Authorization: "Bearer " + token} : {};
  try {
    const r = await fetch(url, {headers});
    return r.status + " " + (r.headers.get("WWW-Authenticate") || "-") + " " + await r.text();
  } catch (e) {
    return "blocked: " + e.message;
  }
}
</script>`

// TestCORSInChromium: a page served from one origin fetches a protected
// route on keygate's origin with a Bearer token in headless Chromium and
// reads the answer (and a 401's challenge); the same page from an origin
// the policy does not list cannot, and its calls never reach the
// upstream.
func TestCORSInChromium(t *testing.T) {
	ctx := browser.Start(t)
	var hits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		echo.Handler{}.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, spaPage)
	})
	allowed := httptest.NewServer(page)
	t.Cleanup(allowed.Close)
	other := httptest.NewServer(page) // another port: another origin
	t.Cleanup(other.Close)

	// The CORS tests' gateway; the set orders allows only the page's origin.
	g, _ := start(t, parse(t, corsConfig(t.TempDir(), up.URL, fmt.Sprintf("%q", allowed.URL))))
	if _, err := g.Auth().Accounts.CreateUser(t.Context(), authz.User{Name: "alice", APISets: []string{"orders"}, Scopes: []string{"read", "write"}}); err != nil {
		t.Fatal(err)
	}
	token := namedKey(t, g, "alice", "spa")
	api := "http://" + g.Addr().String() + "/orders/42"

	call := func(t *testing.T, pageURL, token string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(cctx, chromedp.Navigate(pageURL)); err != nil {
			t.Fatalf("open %s: %v", pageURL, err)
		}
		got, err := chromedp.Run(cctx, chromedp.Evaluate[string](fmt.Sprintf(`call(%q, %q)`, api, token), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("fetch from %s: %v", pageURL, err)
		}
		return got
	}

	t.Run("allowed origin reads the answer", func(t *testing.T) {
		got := call(t, allowed.URL, token)
		if !strings.HasPrefix(got, "200 ") || !strings.Contains(got, `"X-Keygate-User": "alice"`) || !strings.Contains(got, `"path": "/orders/42"`) {
			t.Errorf("the page read %q, want 200 and the upstream's answer for alice", got)
		}
	})
	t.Run("allowed origin reads a 401 and its challenge", func(t *testing.T) {
		got := call(t, allowed.URL, "")
		if !strings.HasPrefix(got, `401 Bearer realm="keygate"`) || !strings.Contains(got, `{"error":`) {
			t.Errorf("the page read %q, want the 401 with its WWW-Authenticate and JSON body", got)
		}
	})
	t.Run("other origin is blocked", func(t *testing.T) {
		before := hits.Load()
		got := call(t, other.URL, token)
		if !strings.HasPrefix(got, "blocked: ") {
			t.Errorf("the page on another origin read %q, want the browser to block it", got)
		}
		if n := hits.Load() - before; n != 0 {
			t.Errorf("the blocked call reached the upstream %d times", n)
		}
	})
}
