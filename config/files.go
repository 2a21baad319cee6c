package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// CheckFiles opens every file the Config names (TLS certificates and keys,
// CA bundles) and returns each one that is missing, unreadable or not what
// its field says, prefixed by its field path, joined with errors.Join.
// Unlike Validate it reads the disk; `keygate check` and `serve` call it
// after Validate, so a missing file is reported before anything starts.
func (c *Config) CheckFiles() error {
	var v problems
	v.keyPair("tls.cert_file", c.TLS.CertFile, "tls.key_file", c.TLS.KeyFile)
	v.caFile("tls.acme.ca_root_file", c.TLS.ACME.CARootFile)
	v.caFile("upstream.tls.ca_file", c.Upstream.TLS.CAFile)
	v.keyPair("upstream.tls.cert_file", c.Upstream.TLS.CertFile, "upstream.tls.key_file", c.Upstream.TLS.KeyFile)
	v.caFile("store.redis.tls.ca_file", c.Store.Redis.TLS.CAFile)
	v.keyPair("store.redis.tls.cert_file", c.Store.Redis.TLS.CertFile, "store.redis.tls.key_file", c.Store.Redis.TLS.KeyFile)
	return v.err()
}

// file reads the file name at path; empty means not set.
func (v *problems) file(path, name string) ([]byte, bool) {
	if name == "" {
		return nil, false
	}
	data, err := os.ReadFile(name)
	if err != nil {
		v.add(path, fmt.Sprintf("cannot read %q: %v", name, unwrapPath(err)))
		return nil, false
	}
	return data, true
}

// caFile checks a PEM bundle of CA certificates.
func (v *problems) caFile(path, name string) {
	if data, ok := v.file(path, name); ok && !x509.NewCertPool().AppendCertsFromPEM(data) {
		v.add(path, fmt.Sprintf("%q holds no PEM certificate", name))
	}
}

// keyPair checks a certificate and its private key.
func (v *problems) keyPair(certPath, cert, keyPath, key string) {
	certPEM, certOK := v.file(certPath, cert)
	keyPEM, keyOK := v.file(keyPath, key)
	if !certOK || !keyOK {
		return
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		v.add(certPath, fmt.Sprintf("%q and %s %q are not a certificate and its key: %v", cert, keyPath, key, err))
	}
}

// unwrapPath drops the file name an *os.PathError repeats.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
