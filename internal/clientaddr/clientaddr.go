// Package clientaddr is the one rule for which address an HTTP request is
// attributed to (the peer, or behind trusted proxies the client they
// name), shared by the self-service and admin APIs and the account pages.
package clientaddr

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Of is the address a request is attributed to: the peer, or, when the
// peer is a trusted proxy, the right-most X-Forwarded-For address that is
// not itself a trusted proxy (the proxy's rule).
func Of(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := Peer(r.RemoteAddr)
	if !contains(trusted, peer) {
		return peer
	}
	client := peer
	xff := r.Header["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		items := strings.Split(xff[i], ",")
		for j := len(items) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(items[j]))
			if err != nil {
				return client // a garbled entry ends what can be believed
			}
			client = a.Unmap()
			if !contains(trusted, client) {
				return client
			}
		}
	}
	return client
}

// FromTrustedProxy reports whether the request's peer is one of the
// trusted proxies (whose X-Forwarded-* headers are believed).
func FromTrustedProxy(r *http.Request, trusted []netip.Prefix) bool {
	return contains(trusted, Peer(r.RemoteAddr))
}

func contains(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Peer is the address of a connection's peer (http.Request.RemoteAddr).
func Peer(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}
