// Package certstore is CertMagic's Storage on keygate's store, so that
// replicas on the same Redis share their TLS certificates, keys, ACME
// accounts and challenge tokens, and take CertMagic's locks in one place:
// one replica orders a certificate and the others load it.
//
// # Layout
//
// A CertMagic key ("certificates/<ca>/<name>/<name>.crt") is one record
// under "tls/f/<key>", listed under an index for each of its directories
// ("tls/d/", "tls/d/certificates/", ...), so List and Delete of a directory
// are one index look-up, never a scan. Bytes the store's keys do not allow
// (space, braces, '%' itself, non-ASCII) are written %XX. The record value
// is the 8-byte big-endian modification time (Unix nanoseconds) followed by
// the file's bytes. A lock is a record under "tls/lock/<name>" created only
// if absent, with a TTL its holder renews.
//
// Values are limited by the store to [store.MaxValueLen] (1 MiB); CertMagic
// writes a few KiB per file. Keys are limited to [store.MaxKeyLen] bytes
// with the prefix and escapes: CertMagic's keys for names of ordinary length
// are far shorter, and a longer one fails with an error wrapping
// store.ErrInvalidKey rather than being cut.
package certstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// Key spaces in the store.
const (
	filePrefix = "tls/f/"
	dirPrefix  = "tls/d/"
	lockPrefix = "tls/lock/"
)

// Defaults of Options.
const (
	DefaultLockTTL      = time.Minute
	DefaultPollInterval = time.Second
)

// Options tune a Storage; the zero value is the defaults.
type Options struct {
	// LockTTL is how long a lock outlives a holder that stopped renewing
	// it (a replica that crashed mid-order). The holder renews it every
	// LockTTL/3. Default 1m.
	LockTTL time.Duration
	// PollInterval is how often Lock tries again while another holds the
	// lock. Default 1s.
	PollInterval time.Duration
	// Logger, if nil, discards.
	Logger *zap.Logger
}

// Storage is certmagic.Storage on a store.Store. It is safe for concurrent
// use. Give every CertMagic config of a cluster a Storage on the same
// store (the same Redis and key prefix).
type Storage struct {
	st   store.Store
	opts Options

	mu   sync.Mutex
	held map[string]*lease // locks this Storage holds, by lock name
}

// lease is a held lock: the unique token written as its value and the
// renewing goroutine.
type lease struct {
	token string
	mu    sync.Mutex // one renewal at a time
	stop  chan struct{}
	done  chan struct{}
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
)

// New returns a Storage on st.
func New(st store.Store, opts Options) *Storage {
	if opts.LockTTL <= 0 {
		opts.LockTTL = DefaultLockTTL
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Storage{st: st, opts: opts, held: map[string]*lease{}}
}

// String names the storage in CertMagic's logs.
func (s *Storage) String() string { return "keygate store" }

// Store puts value at key, creating or replacing it.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	buf := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(buf, uint64(time.Now().UnixNano()))
	copy(buf[8:], value)
	if _, err := s.st.Put(ctx, fileKey(key), buf, store.WriteOptions{Indexes: dirIndexes(key)}); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// Load returns the value at key, or an error wrapping fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	_, value, err := s.get(ctx, key)
	return value, err
}

// get reads the file at key: modification time and value.
func (s *Storage) get(ctx context.Context, key string) (time.Time, []byte, error) {
	if err := checkKey(key); err != nil {
		return time.Time{}, nil, err
	}
	r, err := s.st.Get(ctx, fileKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("loading %s: %w", key, err)
	}
	if len(r.Value) < 8 {
		return time.Time{}, nil, fmt.Errorf("loading %s: record of %d bytes has no header", key, len(r.Value))
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(r.Value))), r.Value[8:], nil
}

// Delete removes key and, if it is a directory, every key under it. A key
// that does not exist is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.st.Delete(ctx, fileKey(key), 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	under, err := s.st.List(ctx, dirIndex(key))
	if err != nil {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	for _, r := range under {
		if err := s.st.Delete(ctx, r.Key, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("deleting %s: %w", key, err)
		}
	}
	return nil
}

// Exists reports whether key is a file or a directory with files under
// it. An error checking counts as not existing.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// Stat describes key: a file (IsTerminal, with its size and modification
// time) or a directory; an error wrapping fs.ErrNotExist if it is neither.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	mod, value, err := s.get(ctx, key)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: mod, Size: int64(len(value)), IsTerminal: true}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return certmagic.KeyInfo{}, err
	}
	under, err := s.st.List(ctx, dirIndex(key))
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if len(under) == 0 {
		return certmagic.KeyInfo{}, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
}

// List returns the keys in the directory prefix ("" is the root), as
// certmagic.FileStorage does: with recursive false its files and
// directories; with recursive true also everything below them, the
// directories included. The keys are sorted. An empty or missing
// directory is an error wrapping fs.ErrNotExist.
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return nil, err
		}
	}
	recs, err := s.st.List(ctx, dirIndex(prefix))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", prefix, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: %w", prefix, fs.ErrNotExist)
	}
	base := ""
	if prefix != "" {
		base = prefix + "/"
	}
	seen := map[string]bool{}
	for _, r := range recs {
		rel := strings.TrimPrefix(unescape(strings.TrimPrefix(r.Key, filePrefix)), base)
		parts := strings.Split(rel, "/")
		if !recursive {
			parts = parts[:1]
		}
		for i := range parts {
			seen[base+strings.Join(parts[:i+1], "/")] = true
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// checkKey refuses keys CertMagic never writes: empty, with a leading or
// trailing slash, or with an empty component.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.Contains(key, "//") {
		return fmt.Errorf("certstore: invalid key %q", key)
	}
	return nil
}

func fileKey(key string) string { return filePrefix + escape(key) }

// dirIndex is the index listing every file under the directory dir ("" is
// the root).
func dirIndex(dir string) string {
	if dir == "" {
		return dirPrefix
	}
	return dirPrefix + escape(dir) + "/"
}

// dirIndexes are the indexes a file at key is listed under: one per
// directory above it, the root included.
func dirIndexes(key string) []string {
	idx := []string{dirIndex("")}
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			idx = append(idx, dirIndex(key[:i]))
		}
	}
	return idx
}

// escape writes the bytes the store's keys do not allow, and '%', as %XX.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '{' || c == '}' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := hex.DecodeString(s[i+1 : i+3]); err == nil {
				b.WriteByte(v[0])
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// newToken is a lock holder's unique token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
