package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORS lets pages of other origins call a route from a browser
// (cross-origin resource sharing). keygate answers the browser's preflight
// itself (204, without a credential, never proxied) and puts the CORS
// headers on the route's answers, its own refusals (401, 403, 429...)
// included, so that a page can read them. A route's own cors replaces its
// API set's; without either, keygate adds no CORS header and proxies an
// OPTIONS like any request.
type CORS struct {
	// AllowedOrigins are the origins whose pages may call: exact
	// ("https://app.example.com", "http://localhost:3000") or with a
	// wildcard first label ("https://*.example.com", any subdomain of
	// example.com); "*" alone allows every origin, but not with
	// allow_credentials. Required.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedMethods a page may send. Default: the methods the route serves
	// (GET, HEAD, POST, PUT, PATCH and DELETE on a route without methods).
	AllowedMethods []string `yaml:"allowed_methods"`
	// AllowedHeaders a page may send beyond the CORS-safelisted ones, any
	// case, or "*" for any. Default Authorization and Content-Type.
	AllowedHeaders []string `yaml:"allowed_headers"`
	// ExposedHeaders a page may read beyond the CORS-safelisted ones.
	// Default WWW-Authenticate, Retry-After, X-Request-Id and the
	// RateLimit-* headers, so that a page can read why it was refused.
	ExposedHeaders []string `yaml:"exposed_headers"`
	// MaxAge is how long a browser may keep a preflight's answer, in whole
	// seconds, at most 24h (browsers cap it lower: Chromium at 2h).
	// Default 10m.
	MaxAge time.Duration `yaml:"max_age"`
	// AllowCredentials lets pages send cookies and TLS client
	// certificates (fetch's credentials: "include") and read the answer.
	// Default false: a Bearer or ApiKey Authorization header needs no
	// credentials mode.
	AllowCredentials bool `yaml:"allow_credentials"`
}

// MaxCORSMaxAge is the longest cors.max_age.
const MaxCORSMaxAge = 24 * time.Hour

// corsMethodsAny are the methods a policy allows by default on a route
// without methods: every method a route serves except OPTIONS, which a
// preflight never asks for.
var corsMethodsAny = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

// CORSFor is the policy of c.Routes[i]: the route's own, else its API
// set's, else nil.
func (c *Config) CORSFor(i int) *CORS {
	rt := &c.Routes[i]
	if rt.CORS != nil {
		return rt.CORS
	}
	if rt.APISet != "" {
		return c.APISets[rt.APISet].CORS
	}
	return nil
}

// MethodsFor is the methods the policy allows on rt: AllowedMethods, or
// the methods rt serves.
func (p *CORS) MethodsFor(rt *Route) []string {
	switch {
	case len(p.AllowedMethods) > 0:
		return p.AllowedMethods
	case len(rt.Methods) > 0:
		ms := make([]string, 0, len(rt.Methods)+1)
		for _, m := range rt.Methods {
			if m != "OPTIONS" {
				ms = append(ms, m)
			}
			if m == "GET" && !slices.Contains(rt.Methods, "HEAD") {
				ms = append(ms, "HEAD")
			}
		}
		return ms
	}
	return corsMethodsAny
}

// applyDefaults fills the policy's empty fields and brings methods to
// upper case.
func (p *CORS) applyDefaults() {
	for i, m := range p.AllowedMethods {
		p.AllowedMethods[i] = strings.ToUpper(m)
	}
	for i, o := range p.AllowedOrigins {
		p.AllowedOrigins[i] = strings.ToLower(o)
	}
	if p.AllowedHeaders == nil {
		p.AllowedHeaders = append([]string(nil), DefaultCORSAllowedHeaders...)
	}
	if p.ExposedHeaders == nil {
		p.ExposedHeaders = append([]string(nil), DefaultCORSExposedHeaders...)
	}
	setDefault(&p.MaxAge, DefaultCORSMaxAge)
}

// check adds the policy's problems under path.
func (p *CORS) check(v *problems, path string) {
	f := func(name string) string { return path + "." + name }
	if len(p.AllowedOrigins) == 0 {
		v.add(f("allowed_origins"), `required: the origins whose pages may call, such as "https://app.example.com"`)
	}
	for i, o := range p.AllowedOrigins {
		fp := fmt.Sprintf("%s.allowed_origins[%d]", path, i)
		if o == "*" {
			switch {
			case p.AllowCredentials:
				v.add(fp, `"*" is not allowed with allow_credentials: true (browsers refuse it, and it would let every site act with the user's cookies): list the origins`)
			case len(p.AllowedOrigins) > 1:
				v.add(fp, `"*" allows every origin: list it alone`)
			}
			continue
		}
		if err := checkOrigin(o); err != nil {
			v.add(fp, err.Error())
		}
	}
	for i, m := range p.AllowedMethods {
		if !knownMethods[m] {
			v.add(fmt.Sprintf("%s.allowed_methods[%d]", path, i), fmt.Sprintf("%q is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", m))
		}
	}
	for i, h := range p.AllowedHeaders {
		if h == "*" && len(p.AllowedHeaders) == 1 {
			continue
		}
		if !headerName.MatchString(h) {
			v.add(fmt.Sprintf("%s.allowed_headers[%d]", path, i), fmt.Sprintf("%q is not a header name (\"*\" alone allows any)", h))
		}
	}
	for i, h := range p.ExposedHeaders {
		if !headerName.MatchString(h) {
			v.add(fmt.Sprintf("%s.exposed_headers[%d]", path, i), fmt.Sprintf("%q is not a header name", h))
		}
	}
	if p.MaxAge < time.Second || p.MaxAge > MaxCORSMaxAge || p.MaxAge%time.Second != 0 {
		v.add(f("max_age"), "must be whole seconds between 1s and 24h")
	}
}

// checkOrigin accepts scheme://host[:port] with scheme http or https, and
// the pattern scheme://*.domain[:port] (domain of two labels or more).
func checkOrigin(o string) error {
	const form = "an origin is scheme://host[:port] without a path, such as https://app.example.com, or a pattern such as https://*.example.com"
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return fmt.Errorf("%q: %s (scheme http or https)", o, form)
	}
	if strings.ContainsAny(rest, "/?#@ ") || rest == "" {
		return fmt.Errorf("%q: %s", o, form)
	}
	hostport := rest
	pattern := strings.HasPrefix(rest, "*.")
	if pattern {
		hostport = rest[2:]
	}
	if strings.Contains(hostport, "*") {
		return fmt.Errorf("%q: a wildcard only as the whole first label, as in %s://*.example.com", o, scheme)
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
			return fmt.Errorf("%q: the port must be a number from 1 to 65535", o)
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if pattern {
			return fmt.Errorf("%q: a wildcard needs a domain name, not an IP address", o)
		}
		if a.Is6() && !strings.HasPrefix(hostport, "[") {
			return fmt.Errorf("%q: an IPv6 address goes in brackets", o)
		}
		return nil
	}
	if !hostName.MatchString(host) {
		return fmt.Errorf("%q: %s (lower-case host name)", o, form)
	}
	if pattern && !strings.Contains(host, ".") {
		return fmt.Errorf("%q: the wildcard would cover a whole top-level domain: name at least two labels after *.", o)
	}
	return nil
}
