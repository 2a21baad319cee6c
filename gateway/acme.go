package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/caddyserver/certmagic"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/certfile"
	"github.com/keygate/keygate/store/certstore"
)

// buildACME sets up CertMagic for tls.mode acme: one certmagic.Config with
// its own certificate cache, keygate's store (or tls.acme.storage_dir) as
// its storage, and one ACME issuer offering the configured challenges.
//
// The challenges are answered by keygate's own listeners, never by
// listeners CertMagic would start: TLS-ALPN-01 in the public listener's
// handshake (the tls.Config returned carries CertMagic's GetCertificate
// and acme-tls/1), HTTP-01 by the tls.http_listen handler. The issuer is
// told their ports (AltTLSALPNPort, AltHTTPPort): CertMagic's solver
// finds them taken and leaves the answer to them. Because the challenge
// tokens are kept in the shared storage, any replica answers a validation
// for an order another replica placed.
func (g *Gateway) buildACME(cfg *config.Config, publicPort, httpPort int) (*publicTLS, error) {
	a := cfg.TLS.ACME
	log := g.log.Named("acme")
	var storage certmagic.Storage = certstore.New(g.store, certstore.Options{Logger: log})
	if a.StorageDir != "" {
		storage = &certmagic.FileStorage{Path: a.StorageDir}
	}
	var roots *x509.CertPool
	if a.CARootFile != "" {
		var err error
		if roots, err = certfile.CertPool(a.CARootFile); err != nil {
			return nil, fmt.Errorf("tls.acme.ca_root_file: %w", err)
		}
	}

	var magic *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		Logger:           log,
	})
	magic = certmagic.New(cache, certmagic.Config{Storage: storage, Logger: log})
	if len(a.OnDemandDomains) > 0 {
		magic.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: onDemandDecision(a)}
	}
	host, _, _ := net.SplitHostPort(cfg.Listen)
	issuer := certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
		CA:                      a.CA,
		Email:                   a.Email,
		Agreed:                  true, // choosing mode acme is agreeing; docs/configuration.md says so
		DisableHTTPChallenge:    !slices.Contains(a.Challenges, config.ChallengeHTTP01),
		DisableTLSALPNChallenge: !slices.Contains(a.Challenges, config.ChallengeTLSALPN01),
		ListenHost:              host,
		AltHTTPPort:             httpPort,
		AltTLSALPNPort:          publicPort,
		TrustedRoots:            roots,
		Logger:                  log,
	})
	magic.Issuers = []certmagic.Issuer{issuer}

	plain := redirectToHTTPS(publicPort)
	if slices.Contains(a.Challenges, config.ChallengeHTTP01) {
		plain = issuer.HTTPChallengeHandler(plain)
	}
	g.metrics.certs.set(acmeCerts(cache, a.Domains))
	return &publicTLS{
		config: magic.TLSConfig(),
		plain:  plain,
		manage: func(ctx context.Context) error {
			if len(a.Domains) == 0 {
				return nil
			}
			if err := magic.ManageAsync(ctx, a.Domains); err != nil {
				return fmt.Errorf("tls.acme.domains: %w", err)
			}
			return nil
		},
		stop: cache.Stop,
	}, nil
}

// onDemandDecision allows a certificate to be obtained at handshake time
// only for tls.acme.domains and names matching tls.acme.on_demand_domains:
// an exact name, or "*.parent" for one label under parent.
func onDemandDecision(a config.ACME) func(ctx context.Context, name string) error {
	exact := map[string]bool{}
	var parents []string
	for _, d := range a.Domains {
		exact[d] = true
	}
	for _, d := range a.OnDemandDomains {
		if p, ok := strings.CutPrefix(d, "*."); ok {
			parents = append(parents, "."+p)
		} else {
			exact[d] = true
		}
	}
	return func(_ context.Context, name string) error {
		name = strings.ToLower(strings.TrimSuffix(name, "."))
		if exact[name] {
			return nil
		}
		for _, p := range parents {
			if label, ok := strings.CutSuffix(name, p); ok && label != "" && !strings.Contains(label, ".") {
				return nil
			}
		}
		return fmt.Errorf("%q is not in tls.acme.domains or tls.acme.on_demand_domains", name)
	}
}
