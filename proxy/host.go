package proxy

import (
	"net/netip"
	"strings"
)

// Host checking.
//
// Go's server accepts any Host made of printable bytes, so
// "internal.example..", "internal.example:80:80", "[not-an-ip]" and
// "bad%2ehost" would fall through a host-specific route to the catch-all
// route and reach the upstream, which may read them otherwise. A request's
// Host must be one of:
//
//   - a name: dot-separated labels of 1 to 63 letters, digits, "-" and "_"
//     (253 bytes at most), with at most one trailing dot; IPv4 addresses
//     have this form too;
//   - an IPv6 literal in brackets, without a zone;
//
// followed by an optional ":port" of 1 to 5 digits up to 65535; or empty
// (an HTTP/1.0 request without Host). Anything else is refused with 400.

// parseHost checks a request's Host and returns the host the routes are
// matched with (lower case, no trailing dot, no port) and the normalised
// Host sent upstream in X-Forwarded-Host (the same with the port, if any).
// When host is already in that form both share its memory and nothing is
// allocated.
func parseHost(host string) (match, normal string, ok bool) {
	name, port := host, ""
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", "", false
		}
		a, err := netip.ParseAddr(host[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "", false
		}
		name, port = host[:end+1], host[end+1:]
		if port != "" && port[0] != ':' {
			return "", "", false
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		name, port = host[:i], host[i:]
		if !validName(name) {
			return "", "", false
		}
	} else if !validName(name) {
		return "", "", false
	}
	if port != "" && (name == "" || !validPort(port[1:])) {
		return "", "", false
	}
	if !needsNormal(name) {
		return name, host, true
	}
	normal = strings.ToLower(strings.TrimSuffix(name, ".")) + port
	return normal[:len(normal)-len(port)], normal, true
}

// validName reports whether s is dot-separated labels of 1 to 63 of
// A-Z a-z 0-9 - _, at most 253 bytes, with at most one trailing dot;
// "" (no Host) is valid too.
func validName(s string) bool {
	if s == "" {
		return true
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		if label++; label > 63 {
			return false
		}
	}
	return label > 0
}

// validPort reports whether p is 1 to 5 digits, at most 65535.
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// needsNormal reports whether name has upper-case letters or a trailing
// dot.
func needsNormal(name string) bool {
	if strings.HasSuffix(name, ".") {
		return true
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}
