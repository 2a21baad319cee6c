package config

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// validateTLS checks the tls section (see TLS for the rules).
func (c *Config) validateTLS(v *problems) {
	t := c.TLS
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		v.add("tls.min_version", fmt.Sprintf("%q is not one of 1.2, 1.3", t.MinVersion))
	}
	if t.HTTPListen != "" {
		if t.Mode == TLSOff {
			v.add("tls.http_listen", "needs tls.mode files or acme (it redirects to https)")
		}
		v.addr("tls.http_listen", t.HTTPListen)
		if (t.HTTPListen == c.Listen || t.HTTPListen == c.AdminListen || t.HTTPListen == c.HealthListen) && !strings.HasSuffix(t.HTTPListen, ":0") {
			v.add("tls.http_listen", "must differ from listen, admin_listen and health_listen")
		}
	}
	if t.Mode != TLSFiles {
		if t.CertFile != "" {
			v.add("tls.cert_file", "set only when tls.mode is files")
		}
		if t.KeyFile != "" {
			v.add("tls.key_file", "set only when tls.mode is files")
		}
	}
	if t.Mode != TLSACME && !reflect.ValueOf(t.ACME).IsZero() {
		v.add("tls.acme", "set only when tls.mode is acme")
	}
	switch t.Mode {
	case TLSOff:
	case TLSFiles:
		if t.CertFile == "" {
			v.add("tls.cert_file", "required when tls.mode is files")
		}
		if t.KeyFile == "" {
			v.add("tls.key_file", "required when tls.mode is files")
		}
	case TLSACME:
		c.validateACME(v)
	default:
		v.add("tls.mode", fmt.Sprintf("%q is not one of off, files, acme", t.Mode))
	}
}

func (c *Config) validateACME(v *problems) {
	a := c.TLS.ACME
	if len(a.Domains) == 0 && len(a.OnDemandDomains) == 0 {
		v.add("tls.acme.domains", "required when tls.mode is acme (or set tls.acme.on_demand_domains)")
	}
	for i, d := range a.Domains {
		if strings.HasPrefix(d, "*.") {
			v.add(fmt.Sprintf("tls.acme.domains[%d]", i), fmt.Sprintf("%q: a wildcard certificate needs the DNS-01 challenge, which keygate does not offer; list the names, or put the pattern in on_demand_domains", d))
		} else if !hostName.MatchString(d) {
			v.add(fmt.Sprintf("tls.acme.domains[%d]", i), fmt.Sprintf("%q is not a host name", d))
		}
	}
	for i, d := range a.OnDemandDomains {
		if !hostName.MatchString(strings.TrimPrefix(d, "*.")) {
			v.add(fmt.Sprintf("tls.acme.on_demand_domains[%d]", i), fmt.Sprintf("%q is not a host name or *.domain pattern", d))
		}
	}
	if u, err := url.Parse(a.CA); err != nil || u.Scheme != "https" || u.Host == "" {
		v.add("tls.acme.ca", fmt.Sprintf("%q is not an https URL of an ACME directory", a.CA))
	}
	if a.Email != "" && (strings.Count(a.Email, "@") != 1 || strings.ContainsAny(a.Email, " \t\r\n<>")) {
		v.add("tls.acme.email", fmt.Sprintf("%q is not an email address", a.Email))
	}
	if len(a.Challenges) == 0 {
		v.add("tls.acme.challenges", "at least one of http-01, tls-alpn-01 is required")
	}
	for i, ch := range a.Challenges {
		f := fmt.Sprintf("tls.acme.challenges[%d]", i)
		switch {
		case ch != ChallengeHTTP01 && ch != ChallengeTLSALPN01:
			v.add(f, fmt.Sprintf("%q is not one of http-01, tls-alpn-01", ch))
		case slices.Index(a.Challenges, ch) != i:
			v.add(f, fmt.Sprintf("%q is listed twice", ch))
		case ch == ChallengeHTTP01 && c.TLS.HTTPListen == "":
			v.add(f, "http-01 needs tls.http_listen (the CA connects to port 80)")
		}
	}
}
