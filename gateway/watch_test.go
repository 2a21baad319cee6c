package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/config"
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
		return fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nstore: {embedded: {path: %q}}\nroutes:\n%s", db, routes)
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
	core, logs := observer.New(zapcore.InfoLevel)
	g, err := New(context.Background(), cfg, Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	if err := g.WatchConfig(ctx, path); err != nil {
		t.Fatal(err)
	}
	base := "http://" + g.Addr().String()

	k.swap(t, yaml(route("a")+route("b")))
	waitStatus(t, base+"/b", 200)

	k.swap(t, yaml("  - {name: a, path_prefix: /a, upstream: ftp://nope, auth: none}\n"))
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterMessage("config reload refused; keeping the running config").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("an invalid ConfigMap update was not noticed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := getStatus(t, base+"/b"); code != 200 {
		t.Errorf("after an invalid update: /b %d, want 200 (old config kept)", code)
	}
}
