package proxy

import (
	"crypto/rand"
	"encoding/base32"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/clientaddr"
)

// Header names keygate reads or writes.
const (
	headerRequestID = "X-Request-Id"
	// IdentityPrefix starts every header keygate sets for the upstream
	// (X-Keygate-User...). Client-sent headers in this namespace, in any
	// case and with "_" for "-", are removed before a request is forwarded.
	IdentityPrefix = "X-Keygate-"
)

// Identity headers set toward the upstream for an authenticated request.
const (
	HeaderUser           = "X-Keygate-User"
	HeaderCredentialID   = "X-Keygate-Credential-Id"
	HeaderCredentialKind = "X-Keygate-Credential-Kind"
	HeaderAPISets        = "X-Keygate-Api-Sets"
	HeaderScopes         = "X-Keygate-Scopes"
)

// identitySet is which identity headers go upstream
// (auth.upstream_identity), one bit per header.
type identitySet uint8

const (
	sendUser identitySet = 1 << iota
	sendCredentialID
	sendCredentialKind
	sendAPISets
	sendScopes
)

func newIdentitySet(names []string) identitySet {
	var s identitySet
	for _, n := range names {
		switch n {
		case config.IdentityUser:
			s |= sendUser
		case config.IdentityCredentialID:
			s |= sendCredentialID
		case config.IdentityCredentialKind:
			s |= sendCredentialKind
		case config.IdentityAPISets:
			s |= sendAPISets
		case config.IdentityScopes:
			s |= sendScopes
		}
	}
	return s
}

// set writes the chosen identity headers into h.
func (s identitySet) set(h http.Header, v *authz.IdentityHeaders) {
	if s&sendUser != 0 {
		h[HeaderUser] = v.User
	}
	if s&sendCredentialID != 0 {
		h[HeaderCredentialID] = v.CredentialID
	}
	if s&sendCredentialKind != 0 {
		h[HeaderCredentialKind] = v.Kind
	}
	if s&sendAPISets != 0 {
		h[HeaderAPISets] = v.APISets
	}
	if s&sendScopes != 0 {
		h[HeaderScopes] = v.Scopes
	}
}

// requestIDs makes request ids: a random per-process prefix and a counter.
// Ids need to be unique, not secret, so one crypto/rand read at start-up is
// enough.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])) + "-"}
}

func (g *requestIDs) next() string {
	var buf [48]byte
	b := append(buf[:0], g.prefix...)
	b = strconv.AppendUint(b, g.n.Add(1), 36)
	return string(b)
}

// trustedProxies decides whose X-Forwarded-* headers to believe.
type trustedProxies []netip.Prefix

func (t trustedProxies) contains(a netip.Addr) bool { return clientaddr.Contains(t, a) }

// clientAddr is the address keygate attributes a request to: the peer,
// or, when the peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not itself a trusted proxy (clientaddr's rule,
// shared with the self-service API and the account pages).
func (t trustedProxies) clientAddr(peer netip.Addr, xff []string) netip.Addr {
	return clientaddr.Client(peer, xff, t)
}

// peerAddr returns the IP of the connection's peer.
func peerAddr(remoteAddr string) netip.Addr { return clientaddr.Peer(remoteAddr) }

// isIdentityHeader reports whether a header name is in keygate's identity
// namespace, in any case, with "-" or "_" between words.
func isIdentityHeader(name string) bool {
	const p = "x-keygate"
	if len(name) <= len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '_' {
			c = '-'
		}
		if c != p[i] {
			return false
		}
	}
	return name[len(p)] == '-' || name[len(p)] == '_'
}

// overrideHeaders are read by common upstream frameworks as another
// method (Express's method-override, Laravel, Symfony, Rails' Rack
// middleware) or another path (IIS's URL Rewrite, Symfony) than the one
// keygate checked. They are removed from client requests unless a route's
// method_override names one of the method headers.
var overrideHeaders = [...]string{"x-http-method-override", "x-http-method", "x-method-override", "x-original-url", "x-rewrite-url"}

// foldEqual reports whether name is want (lower case, "-" between words)
// in any case and with "_" for "-", as CGI-style upstreams read it.
func foldEqual(name, want string) bool {
	if len(name) != len(want) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// isOverrideHeader reports whether name is one of overrideHeaders.
func isOverrideHeader(name string) bool {
	if name == "" || name[0] != 'X' && name[0] != 'x' {
		return false
	}
	for _, o := range overrideHeaders {
		if foldEqual(name, o) {
			return true
		}
	}
	return false
}

// stripIdentity removes every client-sent header in the identity
// namespace, and those named in extra (canonical names; a client's
// variant with "_" for "-" is caught too).
func stripIdentity(h http.Header, extra map[string]bool) {
	for name := range h {
		if isIdentityHeader(name) || len(extra) > 0 && isExtra(name, extra) {
			delete(h, name)
		}
	}
}

// isExtra reports whether name, or its variant with "-" for "_", is in
// extra.
func isExtra(name string, extra map[string]bool) bool {
	return extra[name] || strings.ContainsRune(name, '_') && extra[http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))]
}

// stripClient is step 5's header hygiene: it removes the identity headers
// (as stripIdentity), every method or path override header except keep
// (a route's method_override, canonical; a "_" variant of it is removed
// too) and X-Real-IP in any spelling, and reports whether the client sent
// X-Real-IP (the upstream then receives the address keygate determined).
func stripClient(h http.Header, extra map[string]bool, keep string) (realIP bool) {
	for name := range h {
		switch {
		case isIdentityHeader(name):
		case len(extra) > 0 && isExtra(name, extra):
		case isOverrideHeader(name):
			if name == keep {
				continue
			}
		case foldEqual(name, "x-real-ip"):
			realIP = true
		default:
			continue
		}
		delete(h, name)
	}
	return realIP
}
