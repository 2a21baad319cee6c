package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
)

// certExpiry is keygate_tls_certificate_expiry_timestamp_seconds: at each
// scrape it reads the certificates the public listener serves now, so a
// renewed or rewritten certificate shows at once. Series: one per
// certificate (tls.cert_file's, or one per tls.acme.domains entry; a
// certificate obtained on demand is not listed), so their number is
// bounded by the config.
type certExpiry struct {
	desc   *prometheus.Desc
	served atomic.Pointer[func() []servedCert]
}

// servedCert is one served certificate: its name (first DNS name, else
// the subject's common name; the domain in acme mode), its source (files,
// acme) and when it expires.
type servedCert struct {
	name, source string
	notAfter     time.Time
}

func newCertExpiry() *certExpiry {
	return &certExpiry{desc: prometheus.NewDesc("keygate_tls_certificate_expiry_timestamp_seconds",
		"When the certificate the public listener serves expires (Unix seconds), by certificate name and source (files, acme).",
		[]string{"certificate", "source"}, nil)}
}

func (c *certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certExpiry) Collect(ch chan<- prometheus.Metric) {
	f := c.served.Load()
	if f == nil {
		return
	}
	for _, sc := range (*f)() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(sc.notAfter.Unix()), sc.name, sc.source)
	}
}

// set makes f the list of served certificates.
func (c *certExpiry) set(f func() []servedCert) { c.served.Store(&f) }

// filesCert lists the certificate of tls.cert_file as current returns it.
func filesCert(current func() *tls.Certificate) func() []servedCert {
	return func() []servedCert {
		cert := current()
		if cert == nil || len(cert.Certificate) == 0 {
			return nil
		}
		leaf := cert.Leaf
		if leaf == nil {
			var err error
			if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
				return nil
			}
		}
		return []servedCert{{name: leafName(leaf), source: "files", notAfter: leaf.NotAfter}}
	}
}

// acmeCerts lists, for each configured domain, the certificate in cache
// that expires last.
func acmeCerts(cache *certmagic.Cache, domains []string) func() []servedCert {
	return func() []servedCert {
		var out []servedCert
		for _, d := range domains {
			var last time.Time
			for _, c := range cache.AllMatchingCertificates(d) {
				if c.Leaf != nil && c.Leaf.NotAfter.After(last) {
					last = c.Leaf.NotAfter
				}
			}
			if !last.IsZero() {
				out = append(out, servedCert{name: d, source: "acme", notAfter: last})
			}
		}
		return out
	}
}

func leafName(leaf *x509.Certificate) string {
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0]
	}
	return leaf.Subject.CommonName
}
