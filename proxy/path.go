package proxy

import (
	"errors"
	"strings"
)

// Path canonicalisation.
//
// A request path is canonicalised once, before any route is matched, and
// the canonical form is both what routes are compared with and what the
// upstream receives. Upstreams differ in how they decode paths (some decode
// twice, some treat "\" or ";" as separators, some resolve "..") so every
// form that two decoders could read differently is refused with 400 rather
// than guessed at:
//
//   - the path must be origin-form: start with "/" (no "*", no absolute URL);
//   - "." and ".." segments, whether written plainly or percent-encoded,
//     and empty segments ("//") are refused; a trailing "/" is kept;
//   - encoded "/" (%2F), "\" in any form, ";", "%" encoded as %25, NUL and
//     every other control byte, and malformed percent-escapes are refused;
//   - percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~) are
//     decoded and every other escape is written with upper-case hex, so
//     "/%61pi" and "/api" are the same path.
//
// Paths are case-sensitive, as RFC 3986 says: "/API" is not "/api", and is
// forwarded as "/API" to whatever route it matches.

// errBadPath is the one error canonicalPath returns; the reason is not told
// to the client.
var errBadPath = errors.New("proxy: path refused")

// canonicalPath returns the canonical escaped form of raw (the request
// target's path, as sent) and its decoded form. Where raw is already
// canonical the returned strings share its memory and nothing is
// allocated.
func canonicalPath(raw string) (escaped, decoded string, err error) {
	if raw == "" || raw[0] != '/' {
		return "", "", errBadPath
	}
	clean := true   // raw is already the canonical escaped form
	hasEsc := false // raw has escapes that stay escaped
	segStart := 1   // index in raw just past the last '/'
	segDot := 0     // dots in the current segment (as decoded), -1 if other bytes
	for i := 1; i <= len(raw); i++ {
		var c byte
		if i < len(raw) {
			c = raw[i]
		}
		if i == len(raw) || c == '/' {
			if segDot == 1 || segDot == 2 {
				return "", "", errBadPath // "." or ".."
			}
			if c == '/' && i == segStart {
				return "", "", errBadPath // empty segment
			}
			segStart, segDot = i+1, 0
			continue
		}
		switch {
		case c == '%':
			if i+2 >= len(raw) {
				return "", "", errBadPath
			}
			hi, lo := unhex(raw[i+1]), unhex(raw[i+2])
			if hi < 0 || lo < 0 {
				return "", "", errBadPath
			}
			d := byte(hi<<4 | lo)
			if d < 0x20 || d == 0x7f || d == '/' || d == '\\' || d == ';' || d == '%' {
				return "", "", errBadPath
			}
			if isUnreserved(d) {
				clean = false // will be decoded
			} else {
				hasEsc = true
				if isLowerHex(raw[i+1]) || isLowerHex(raw[i+2]) {
					clean = false // hex case will change
				}
			}
			if d == '.' {
				if segDot >= 0 {
					segDot++
				}
			} else {
				segDot = -1
			}
			i += 2
		case c <= 0x20 || c >= 0x7f || c == '\\' || c == ';' || c == '"' || c == '<' || c == '>' ||
			c == '^' || c == '`' || c == '{' || c == '|' || c == '}' || c == '#' || c == '?' || c == '[' || c == ']':
			return "", "", errBadPath
		case c == '.':
			if segDot >= 0 {
				segDot++
			}
		default:
			segDot = -1
		}
	}
	if clean {
		if !hasEsc {
			return raw, raw, nil
		}
		return raw, decode(raw), nil
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		d := byte(unhex(raw[i+1])<<4 | unhex(raw[i+2]))
		if isUnreserved(d) {
			b.WriteByte(d)
		} else {
			b.WriteByte('%')
			b.WriteByte(upperHex[d>>4])
			b.WriteByte(upperHex[d&15])
		}
		i += 2
	}
	escaped = b.String()
	if !hasEsc {
		return escaped, escaped, nil
	}
	return escaped, decode(escaped), nil
}

// decode percent-decodes a path that canonicalPath has already checked.
func decode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			b.WriteByte(byte(unhex(s[i+1])<<4 | unhex(s[i+2])))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

func isLowerHex(c byte) bool { return 'a' <= c && c <= 'f' }

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
