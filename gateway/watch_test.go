package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/testkit"
)

// kubeletDir lays out a ConfigMap volume the way the kubelet does:
// dir/gateway.yaml -> ..data/gateway.yaml, ..data -> ..<version>/, and
// swap replaces ..data atomically with a rename of a new symlink.
type kubeletDir struct {
	dir string
	n   int
}

func (k *kubeletDir) swap(t *testing.T, content string) {
	t.Helper()
	k.n++
	version := fmt.Sprintf("..2026_11_23_%02d", k.n)
	if err := os.Mkdir(filepath.Join(k.dir, version), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(k.dir, version, "gateway.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(k.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(k.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(k.dir, "gateway.yaml")
	if _, err := os.Lstat(link); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", "gateway.yaml"), link); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWatchConfigMapSwap: a ConfigMap update (the kubelet's symlink swap)
// is reloaded without a signal; an invalid one is refused and the running
// config stays.
func TestWatchConfigMapSwap(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("up")) }))
	defer up.Close()
	k := &kubeletDir{dir: t.TempDir()}
	db := filepath.Join(t.TempDir(), "k.db")
	yaml := func(routes string) string {
		return fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nstore: {embedded: {path: %q}}\nroutes:\n%s", db, routes)
	}
	route := func(name string) string {
		return fmt.Sprintf("  - {name: %s, path_prefix: /%s, upstream: %s, auth: none}\n", name, name, up.URL)
	}
	k.swap(t, yaml(route("a")))
	path := filepath.Join(k.dir, "gateway.yaml")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g, logs := startLogged(t, cfg, Options{ConfigFile: path})
	base := "http://" + g.Addr().String()

	k.swap(t, yaml(route("a")+route("b")))
	waitStatus(t, base+"/b", 200)

	k.swap(t, yaml("  - {name: a, path_prefix: /a, upstream: ftp://nope, auth: none}\n"))
	testkit.Eventually(t, 5*time.Second, "an invalid ConfigMap update noticed", func() bool {
		return logs.FilterMessage("config reload refused; keeping the running config").Len() > 0
	})
	if code, _ := getStatus(t, base+"/b"); code != 200 {
		t.Errorf("after an invalid update: /b %d, want 200 (old config kept)", code)
	}
}
