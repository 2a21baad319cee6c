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
	return Client(Peer(r.RemoteAddr), r.Header["X-Forwarded-For"], trusted)
}

// Client is Of for a peer address and the X-Forwarded-For values already
// in hand (the proxy's request path). It allocates nothing.
func Client(peer netip.Addr, xff []string, trusted []netip.Prefix) netip.Addr {
	if len(trusted) == 0 || !Contains(trusted, peer) {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		parts := xff[i]
		for parts != "" {
			j := strings.LastIndexByte(parts, ',')
			item := strings.TrimSpace(parts[j+1:])
			parts = parts[:max(j, 0)]
			a, err := netip.ParseAddr(item)
			if err != nil {
				return client // a garbled entry ends what can be believed
			}
			client = a.Unmap()
			if !Contains(trusted, client) {
				return client
			}
			if j < 0 {
				break
			}
		}
	}
	return client
}

// FromTrustedProxy reports whether the request's peer is one of the
// trusted proxies (whose X-Forwarded-* headers are believed).
func FromTrustedProxy(r *http.Request, trusted []netip.Prefix) bool {
	return Contains(trusted, Peer(r.RemoteAddr))
}

// Contains reports whether a is in one of the trusted prefixes.
func Contains(trusted []netip.Prefix, a netip.Addr) bool {
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
