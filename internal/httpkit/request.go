package httpkit

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/keygate/keygate/config"

	"github.com/keygate/keygate/internal/clientaddr"
)

// Serve answers one API request: it gives it a request id (the client's
// X-Request-Id when it is well-formed, else a new one; echoed back),
// refuses a path that is not plain (see PlainPath; also are the extra
// characters the API's identifiers may hold) and a state-changing request
// that is not JSON (see CheckContentType), and hands the rest to next.
// It returns the request id and the status written, for the access log.
func Serve(w http.ResponseWriter, r *http.Request, also string, next http.Handler) (id string, status int) {
	rec := &Recorder{ResponseWriter: w, Status: http.StatusOK}
	id = r.Header.Get("X-Request-Id")
	if !ValidRequestID(id) {
		id = NewRequestID()
	}
	rec.Header().Set("X-Request-Id", id)
	if !PlainPath(RawPath(r), also) {
		WriteError(rec, ErrBadPath)
	} else if e := CheckContentType(r); e != nil && served(next, r) {
		WriteError(rec, e)
	} else {
		next.ServeHTTP(rec, r)
	}
	return id, rec.Status
}

// CheckContentType refuses (415) a POST, PUT or PATCH without
// "Content-Type: application/json", empty body or not. An HTML form on
// another site can POST (with the Basic credentials a browser remembers
// for this origin) but cannot send that Content-Type without a CORS
// preflight, which keygate never answers. DELETE needs no Content-Type:
// neither a form nor any request a browser sends cross-site without a
// preflight can use it. The OAuth endpoints of FormEndpoints take
// application/x-www-form-urlencoded, as RFC 6749, 7009 and 7662 say; they
// authenticate the OAuth client (a client secret is never a browser's
// remembered Basic credential), and are checked by their handlers.
func CheckContentType(r *http.Request) *Error {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return nil
	}
	if FormEndpoints[r.URL.Path] || MediaType(r) == "application/json" {
		return nil
	}
	return ErrNotJSON
}

// served reports whether next serves r, so that a request for a path or
// method the API does not serve is still answered 404 or 405: true unless
// next is a ServeMux whose match is its catch-all "/" (see NotServed).
func served(next http.Handler, r *http.Request) bool {
	mux, ok := next.(*http.ServeMux)
	if !ok {
		return true
	}
	_, pattern := mux.Handler(r)
	return pattern != "/" && pattern != ""
}

// FormEndpoints are the paths whose POSTs take
// application/x-www-form-urlencoded bodies (RFC 6749 §4.4.2 and §6, RFC
// 7009 §2.1, RFC 7662 §2.1).
var FormEndpoints = map[string]bool{"/oauth/token": true, "/oauth/revoke": true, "/oauth/introspect": true}

// RawPath is the request target's path as the client sent it.
func RawPath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			return u[:i]
		}
		return u
	}
	return r.URL.EscapedPath()
}

// PlainPath accepts "/" followed by non-empty segments of letters, digits,
// - . _ ~ and the characters in also, none of them "." or "..", and maybe a
// trailing "/" (no path of the APIs has one: 404). Every path of the APIs,
// with every identifier in it, has this form; a path that does not is
// refused rather than decoded, so there is one spelling of every resource.
// also may hold only characters a URI path may carry unencoded (RFC 3986
// pchar, such as "@"), never "/", "%", "?" or "#".
func PlainPath(p, also string) bool {
	if len(p) < 2 || p[0] != '/' {
		return false
	}
	segs := strings.Split(p[1:], "/")
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	for _, seg := range segs {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' ||
				strings.IndexByte(also, c) >= 0) {
				return false
			}
		}
	}
	return true
}

// NotServed answers a path or method that mux does not serve: 405 with
// Allow when one of methods is served there, else 404. mux's own catch-all
// is "/".
func NotServed(mux *http.ServeMux, methods ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range methods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			WriteError(w, ErrNotFound)
			return
		}
		if i := slices.Index(allow, http.MethodGet); i >= 0 {
			allow = slices.Insert(allow, i+1, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		WriteError(w, ErrMethodNotAllowed)
	}
}

// Trusted holds the trusted proxies of the running config, whose
// X-Forwarded-For names the client address (and whose X-Forwarded-Proto
// the account pages believe); Reload swaps them. The zero value trusts no
// proxy.
type Trusted struct {
	p atomic.Pointer[[]netip.Prefix]
}

// Reload takes the trusted proxies of a new config.
func (t *Trusted) Reload(cfg *config.Config) error {
	trusted, err := cfg.TrustedPrefixes()
	if err != nil {
		return err
	}
	t.p.Store(&trusted)
	return nil
}

// Prefixes are the trusted proxies now.
func (t *Trusted) Prefixes() []netip.Prefix {
	if p := t.p.Load(); p != nil {
		return *p
	}
	return nil
}

// ClientAddr is the address a request is attributed to: the peer, or,
// when the peer is a trusted proxy, the right-most X-Forwarded-For address
// that is not itself a trusted proxy (the proxy's rule; see
// internal/clientaddr).
func (t *Trusted) ClientAddr(r *http.Request) netip.Addr {
	return clientaddr.Of(r, t.Prefixes())
}

// PeerAddr is the address of a connection's peer (http.Request.RemoteAddr).
func PeerAddr(remoteAddr string) netip.Addr { return clientaddr.Peer(remoteAddr) }

// ValidRequestID accepts a client's X-Request-Id only if it is 1 to 128
// of letters, digits, . _ - (the proxy's rule).
func ValidRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// NewRequestID makes a request id: 24 hex digits from crypto/rand.
func NewRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Recorder remembers the status written, for the access log.
type Recorder struct {
	http.ResponseWriter
	Status int
}

func (r *Recorder) WriteHeader(code int) {
	r.Status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
