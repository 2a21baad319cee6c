// Package certfile loads a TLS certificate and key from PEM files and loads
// them again when they change on disk, so a renewed certificate (rewritten
// in place, or swapped in by the kubelet as a Kubernetes Secret's symlink
// changes) is served without a restart. keygate uses it for the public
// listener in tls.mode files and for its client certificate toward
// upstreams.
package certfile

import (
	"crypto/tls"
	"crypto/x509"
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

// loaded is one successfully loaded pair, the file stamps it was checked
// against and when they were last looked at.
type loaded struct {
	cert    *tls.Certificate
	stamp   stamp
	checked time.Time
}

// stamp tells whether the files changed: modification time and size of
// each, through symlinks.
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
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
	st, err := k.stat()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading certificate %s and key %s: %w", certFile, keyFile, err)
	}
	k.cur.Store(&loaded{cert: &cert, stamp: st, checked: time.Now()})
	return k, nil
}

// Certificate returns the current pair, loading it again first if the
// files changed since they were last looked at (at most every checkEvery).
func (k *KeyPair) Certificate() *tls.Certificate {
	cur := k.cur.Load()
	if time.Since(cur.checked) < k.checkEvery || !k.checking.TryLock() {
		return cur.cert
	}
	defer k.checking.Unlock()
	cur = k.cur.Load()
	next := *cur
	next.checked = time.Now()
	st, err := k.stat()
	switch {
	case err != nil:
		k.log.Warn("certificate files unreadable; serving the last good certificate", zap.Error(err))
	case st != cur.stamp:
		next.stamp = st // a broken pair is tried again only when the files change again
		cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
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

func (k *KeyPair) stat() (stamp, error) {
	c, err := os.Stat(k.certFile)
	if err != nil {
		return stamp{}, fmt.Errorf("certificate file: %w", err)
	}
	kf, err := os.Stat(k.keyFile)
	if err != nil {
		return stamp{}, fmt.Errorf("key file: %w", err)
	}
	return stamp{certMod: c.ModTime(), keyMod: kf.ModTime(), certSize: c.Size(), keySize: kf.Size()}, nil
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
