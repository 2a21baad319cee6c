// Package forwardauth makes keygate the authorization service of an
// ingress that already runs: the check endpoint for nginx auth_request,
// Traefik and Caddy forward auth and Envoy's ext_authz HTTP service
// (Handler), and Envoy's ext_authz v3 gRPC service for Envoy, Envoy
// Gateway and Istio (Server).
//
// Both turn what the ingress sends into the original request and let
// proxy.Handler.Check decide it: the same route table, path rules,
// credential checks, limits, metrics and access log as a proxied request,
// with nothing proxied. Only peers in trusted_proxies are believed; any
// other is answered 400, so that the endpoint is no way around the
// per-address limits.
package forwardauth

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/httpkit"
	"github.com/keygate/keygate/proxy"
)

// The headers an ingress describes the original request with.
const (
	headerForwardedMethod = "X-Forwarded-Method" // Traefik, Caddy, Oathkeeper
	headerForwardedURI    = "X-Forwarded-Uri"
	headerForwardedHost   = "X-Forwarded-Host"
	headerForwardedProto  = "X-Forwarded-Proto"
	headerOriginalMethod  = "X-Original-Method" // nginx, ingress-nginx
	headerOriginalURI     = "X-Original-Uri"
	headerOriginalURL     = "X-Original-Url" // ingress-nginx: scheme://host/uri
)

// Refusals of check requests that describe no original request.
var (
	errUntrusted = &httpkit.Error{Status: http.StatusBadRequest, Code: "invalid_request",
		Description: "Check requests are answered only from trusted_proxies."}
	errNoMethod = &httpkit.Error{Status: http.StatusBadRequest, Code: "invalid_request",
		Description: "X-Forwarded-Method or X-Original-Method is required."}
	errNoURI = &httpkit.Error{Status: http.StatusBadRequest, Code: "invalid_request",
		Description: "X-Forwarded-Uri, X-Original-URI or X-Original-URL is required."}
)

// Handler is the check endpoint on the public listener: forward_auth.path
// and, if set, forward_auth.envoy_prefix.
type Handler struct {
	proxy       *proxy.Handler
	path        string
	envoyPrefix string
}

// New builds the check endpoint of a validated config's forward_auth
// section, deciding through p.
func New(p *proxy.Handler, cfg config.ForwardAuth) *Handler {
	return &Handler{proxy: p, path: cfg.Path, envoyPrefix: cfg.EnvoyPrefix}
}

// Matches reports whether r is a check request: its path, as sent, is
// forward_auth.path, or below forward_auth.envoy_prefix.
func (h *Handler) Matches(r *http.Request) bool {
	p := httpkit.RawPath(r)
	return p == h.path || h.envoyPrefix != "" && strings.HasPrefix(p, h.envoyPrefix+"/")
}

// ServeHTTP answers a check request: 400 from a peer outside
// trusted_proxies or without a well-formed original request, otherwise
// proxy.Handler.Check's answer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.proxy.TrustedPeer(r.RemoteAddr) {
		h.proxy.Refuse(w, r, errUntrusted)
		return
	}
	var o *http.Request
	var e *httpkit.Error
	if p := httpkit.RawPath(r); p != h.path {
		o, e = envoyOriginal(r, h.envoyPrefix)
	} else {
		o, e = headerOriginal(r)
	}
	if e != nil {
		h.proxy.Refuse(w, r, e)
		return
	}
	h.proxy.Check(w, o)
}

// headerOriginal rebuilds the original request from the X-Forwarded-* or
// X-Original-* headers of a check request. Where both families name a
// method, URI or host they must agree.
func headerOriginal(r *http.Request) (*http.Request, *httpkit.Error) {
	method, e := agree(r.Header, headerForwardedMethod, headerOriginalMethod)
	if e != nil {
		return nil, e
	}
	if method == "" {
		return nil, errNoMethod
	}
	if !isToken(method) {
		return nil, httpkit.BadRequest("%s is not an HTTP method.", headerForwardedMethod)
	}
	uri, e := agree(r.Header, headerForwardedURI, headerOriginalURI)
	if e != nil {
		return nil, e
	}
	host, e := single(r.Header, headerForwardedHost)
	if e != nil {
		return nil, e
	}
	proto, e := single(r.Header, headerForwardedProto)
	if e != nil {
		return nil, e
	}
	full, e := single(r.Header, headerOriginalURL)
	if e != nil {
		return nil, e
	}
	if full != "" {
		scheme, uhost, upath, ok := splitURL(full)
		if !ok {
			return nil, httpkit.BadRequest("X-Original-URL must be an absolute http or https URL.")
		}
		if uri == "" {
			uri = upath
		} else if uri != upath {
			return nil, httpkit.BadRequest("X-Original-URL and X-Original-URI disagree.")
		}
		if host == "" {
			host = uhost
		} else if !strings.EqualFold(host, uhost) {
			return nil, httpkit.BadRequest("X-Original-URL and X-Forwarded-Host disagree.")
		}
		if proto == "" {
			proto = scheme
		}
	}
	if uri == "" {
		return nil, errNoURI
	}
	if proto != "" && proto != "http" && proto != "https" {
		return nil, httpkit.BadRequest("X-Forwarded-Proto must be http or https.")
	}
	if host == "" {
		host = r.Host
	}
	for _, name := range [...]string{headerForwardedMethod, headerForwardedURI, headerOriginalMethod, headerOriginalURI, headerOriginalURL} {
		delete(r.Header, name)
	}
	return rebuild(r, method, uri, host)
}

// envoyOriginal is the original request of Envoy's HTTP service mode: the
// check request itself, with the path after prefix.
func envoyOriginal(r *http.Request, prefix string) (*http.Request, *httpkit.Error) {
	uri := r.RequestURI
	if !strings.HasPrefix(uri, prefix+"/") {
		return nil, httpkit.ErrBadPath
	}
	return rebuild(r, r.Method, uri[len(prefix):], r.Host)
}

// rebuild is the original request: r's headers, peer and context with
// the original method, request URI and Host, and no body.
func rebuild(r *http.Request, method, uri, host string) (*http.Request, *httpkit.Error) {
	if uri[0] != '/' {
		return nil, httpkit.BadRequest("The original request URI must start with /.")
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, httpkit.ErrBadPath
	}
	o := new(http.Request)
	*o = *r
	o.Method, o.URL, o.RequestURI, o.Host = method, u, uri, host
	o.Body, o.GetBody, o.ContentLength, o.TransferEncoding = http.NoBody, nil, 0, nil
	o.Form, o.PostForm, o.MultipartForm, o.Trailer = nil, nil, nil, nil
	return o, nil
}

// single is a header that may be absent but not repeated or empty.
func single(h http.Header, name string) (string, *httpkit.Error) {
	v := h[name]
	switch {
	case len(v) == 0:
		return "", nil
	case len(v) > 1 || v[0] == "":
		return "", httpkit.BadRequest("%s must be sent once, not empty.", name)
	}
	return v[0], nil
}

// agree is the value of header a or b; when both are sent they must be
// equal.
func agree(h http.Header, a, b string) (string, *httpkit.Error) {
	va, e := single(h, a)
	if e != nil {
		return "", e
	}
	vb, e := single(h, b)
	if e != nil {
		return "", e
	}
	if va != "" && vb != "" && va != vb {
		return "", httpkit.BadRequest("%s and %s disagree.", a, b)
	}
	if va == "" {
		return vb, nil
	}
	return va, nil
}

// splitURL splits an absolute http(s) URL, as sent, into its scheme, host
// and request URI (path and query, no fragment).
func splitURL(s string) (scheme, host, uri string, ok bool) {
	i := strings.Index(s, "://")
	if i < 0 {
		return "", "", "", false
	}
	scheme = strings.ToLower(s[:i])
	if scheme != "http" && scheme != "https" {
		return "", "", "", false
	}
	rest := s[i+3:]
	j := strings.IndexByte(rest, '/')
	if j <= 0 {
		return "", "", "", false
	}
	host, uri = rest[:j], rest[j:]
	if strings.ContainsAny(host, "@ ") {
		return "", "", "", false
	}
	if k := strings.IndexByte(uri, '#'); k >= 0 {
		uri = uri[:k]
	}
	return scheme, host, uri, true
}

// isToken reports whether s is an RFC 9110 token, as a method is.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
