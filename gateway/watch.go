package gateway

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watchDebounce lets a burst of file events (an editor's save, the
// kubelet's swap of a ConfigMap's files) settle before reloading.
const watchDebounce = 200 * time.Millisecond

// configWatch watches the config file: its directory rather than the
// file, so that it also sees a Kubernetes ConfigMap update, where the
// kubelet swaps a "..data" symlink to a new directory and the file itself
// is never written.
type configWatch struct {
	*fsnotify.Watcher
	path string
	last [sha256.Size]byte // the content in force
}

// watchConfigFile starts watching path; the events wait for run.
func watchConfigFile(path string) (*configWatch, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching config: %w", err)
	}
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watching config directory %s: %w", dir, err)
	}
	return &configWatch{Watcher: w, path: path, last: fileDigest(path)}, nil
}

// run reloads the file (like SIGHUP: validate, then swap; an invalid file
// is logged and the running config stays) whenever its content changes,
// until ctx is done. Closing the watcher is one of the gateway's closers.
func (w *configWatch) run(ctx context.Context, g *Gateway) {
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			settle = time.After(watchDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			g.log.Warn("config watch error", zap.Error(err))
		case <-settle:
			settle = nil
			d := fileDigest(w.path)
			if d == w.last || d == ([sha256.Size]byte{}) || ctx.Err() != nil {
				continue // unchanged, gone for a moment mid-swap, or shutting down
			}
			w.last = d
			g.log.Info("config file changed: reloading", zap.String("file", w.path))
			_ = g.ReloadFile(w.path) // an invalid file is logged; the running config stays
		}
	}
}

// fileDigest is the SHA-256 of the file's content through any symlinks,
// zero if it cannot be read.
func fileDigest(path string) [sha256.Size]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}
	}
	return sha256.Sum256(b)
}
