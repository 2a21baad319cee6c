// Package certfile loads a TLS certificate and key from PEM files and loads
// them again when they change on disk, so a renewed certificate (rewritten
// in place, or swapped in by the kubelet as a Kubernetes Secret's symlink
// changes) is served without a restart. keygate uses it for the public
// listener in tls.mode files and for its client certificate toward
// upstreams.
package certfile

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// DefaultCheckEvery is how often, at most, a KeyPair looks at its files.
const DefaultCheckEvery = time.Second

// KeyPair is a certificate and key kept in step with their files. It is
// safe for concurrent use; its methods fit tls.Config's GetCertificate and
// GetClientCertificate.
type KeyPair struct {
	certFile, keyFile string
	checkEvery        time.Duration
	log               *zap.Logger

	cur      atomic.Pointer[loaded]
	checking sync.Mutex // one stat at a time; other handshakes use cur
}

// loaded is one successfully loaded pair, the digest of the files' content
// last looked at and when.
type loaded struct {
	cert    *tls.Certificate
	digest  [sha256.Size]byte
	checked time.Time
}

// Load reads the pair now (an error if it does not load) and returns a
// KeyPair that looks at the files again at most every checkEvery (zero
// means DefaultCheckEvery) when asked for the certificate. A changed pair
// that does not load (a key that does not match, a file half written) is
// logged, and the last good pair stays in use until the files change
// again. A nil log discards the messages.
func Load(certFile, keyFile string, checkEvery time.Duration, log *zap.Logger) (*KeyPair, error) {
	if checkEvery <= 0 {
		checkEvery = DefaultCheckEvery
	}
	if log == nil {
		log = zap.NewNop()
	}
	k := &KeyPair{certFile: certFile, keyFile: keyFile, checkEvery: checkEvery, log: log}
	certPEM, keyPEM, err := k.read()
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading certificate %s and key %s: %w", certFile, keyFile, err)
	}
	k.cur.Store(&loaded{cert: &cert, digest: digest(certPEM, keyPEM), checked: time.Now()})
	return k, nil
}

// Certificate returns the current pair, loading it again first if the
// files changed since they were last looked at (at most every checkEvery).
// A change is a change of content: the files are read (a few KiB) and
// their digest compared, which neither a rewrite within the file system's
// timestamp granularity nor a symlink swap to files of the same size and
// time can hide.
func (k *KeyPair) Certificate() *tls.Certificate {
	cur := k.cur.Load()
	if time.Since(cur.checked) < k.checkEvery || !k.checking.TryLock() {
		return cur.cert
	}
	defer k.checking.Unlock()
	cur = k.cur.Load()
	next := *cur
	next.checked = time.Now()
	certPEM, keyPEM, err := k.read()
	switch {
	case err != nil:
		k.log.Warn("certificate files unreadable; serving the last good certificate", zap.Error(err))
	case digest(certPEM, keyPEM) != cur.digest:
		next.digest = digest(certPEM, keyPEM) // a broken pair is tried again only when the files change again
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			k.log.Error("changed certificate files do not load; serving the last good certificate", zap.String("cert_file", k.certFile), zap.String("key_file", k.keyFile), zap.Error(err))
			break
		}
		next.cert = &cert
		k.log.Info("certificate reloaded", zap.String("cert_file", k.certFile), zap.Time("not_after", cert.Leaf.NotAfter))
	}
	k.cur.Store(&next)
	return next.cert
}

// GetCertificate is tls.Config.GetCertificate.
func (k *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// GetClientCertificate is tls.Config.GetClientCertificate.
func (k *KeyPair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// maxFileSize bounds what read accepts of each file.
const maxFileSize = 1 << 20

// read reads both files, through symlinks.
func (k *KeyPair) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = readFile(k.certFile); err != nil {
		return nil, nil, fmt.Errorf("certificate file: %w", err)
	}
	if keyPEM, err = readFile(k.keyFile); err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	return certPEM, keyPEM, nil
}

func readFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err == nil && len(b) > maxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, limit %d", name, len(b), maxFileSize)
	}
	return b, err
}

// digest identifies the content of a pair of files.
func digest(certPEM, keyPEM []byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(certPEM)))
	h.Write(n[:])
	h.Write(certPEM)
	h.Write(keyPEM)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// CertPool reads a PEM bundle of CA certificates.
func CertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New(file + ": no PEM certificate in it")
	}
	return pool, nil
}
