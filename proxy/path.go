package proxy

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
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
//   - "?" and "#" encoded as %3F and %23 are refused: an upstream that
//     decodes the path and parses it again would see a query or fragment;
//   - a segment ending in "." or a space, plainly or encoded ("/admin.",
//     "/admin%20", "/a/..."), is refused: Windows and some frameworks trim
//     them, so "/admin." would reach what "/admin" names;
//   - percent-encoded bytes above 0x7F must form valid, shortest-form UTF-8
//     (no %C0%AE, no %FF, no encoded surrogates), and the character must
//     not be a look-alike (see lookAlike): fullwidth and small forms such
//     as U+FF0E "．" or U+FF0F "／", dot leaders, division and fraction
//     slashes, set minus, and every Unicode space, format or control
//     character. Unencoded bytes above 0x7E are refused as before;
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
	clean := true    // raw is already the canonical escaped form
	hasEsc := false  // raw has escapes that stay escaped
	segStart := 1    // index in raw just past the last '/'
	segDot := 0      // dots in the current segment (as decoded), -1 if other bytes
	var segLast byte // the current segment's last byte, as decoded
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
			if i > segStart && (segLast == '.' || segLast == ' ') {
				return "", "", errBadPath // trimmed by Windows and some frameworks
			}
			segStart, segDot, segLast = i+1, 0, 0
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
			if d < 0x20 || d == 0x7f || d == '/' || d == '\\' || d == ';' || d == '%' || d == '?' || d == '#' {
				return "", "", errBadPath
			}
			if d >= 0x80 {
				n, ok := escapedRune(raw[i:])
				if !ok {
					return "", "", errBadPath
				}
				for j := i; j < i+3*n; j += 3 {
					if isLowerHex(raw[j+1]) || isLowerHex(raw[j+2]) {
						clean = false
					}
				}
				hasEsc = true
				segDot, segLast = -1, d
				i += 3*n - 1
				continue
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
			segLast = d
			i += 2
		case c <= 0x20 || c >= 0x7f || c == '\\' || c == ';' || c == '"' || c == '<' || c == '>' ||
			c == '^' || c == '`' || c == '{' || c == '|' || c == '}' || c == '#' || c == '?' || c == '[' || c == ']':
			return "", "", errBadPath
		case c == '.':
			if segDot >= 0 {
				segDot++
			}
			segLast = c
		default:
			segDot = -1
			segLast = c
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

// escapedRune reads the percent-encoded UTF-8 sequence that s starts
// with ("%E2%80%A4...") and reports its length in bytes (each written as
// three) and whether it is one valid, shortest-form character that is not
// a look-alike. It allocates nothing.
func escapedRune(s string) (n int, ok bool) {
	var b [utf8.UTFMax]byte
	lead := byte(unhex(s[1])<<4 | unhex(s[2]))
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		n = 2
	case lead >= 0xE0 && lead <= 0xEF:
		n = 3
	case lead >= 0xF0 && lead <= 0xF4:
		n = 4
	default:
		return 0, false // a continuation byte, an overlong lead (C0, C1) or past U+10FFFF
	}
	if len(s) < 3*n {
		return 0, false
	}
	for k := 0; k < n; k++ {
		e := s[3*k:]
		if e[0] != '%' {
			return 0, false
		}
		hi, lo := unhex(e[1]), unhex(e[2])
		if hi < 0 || lo < 0 {
			return 0, false
		}
		b[k] = byte(hi<<4 | lo)
	}
	r, size := utf8.DecodeRune(b[:n])
	if r == utf8.RuneError || size != n {
		return 0, false // overlong, surrogate or truncated
	}
	return n, !lookAlike(r)
}

// lookAlike reports whether r is a character some upstream could read as
// another, or not see at all: Unicode spaces, format characters (zero
// width, bidi controls, BOM) and C1 controls; the fullwidth and halfwidth
// forms (U+FF00–U+FFEF, "．" "／" "＼" "？" and fullwidth letters, which
// NFKC normalisation turns into ASCII); the small form variants
// (U+FE50–U+FE6F); and the dot, slash and backslash look-alikes outside
// those blocks.
func lookAlike(r rune) bool {
	switch {
	case r >= 0xFF00 && r <= 0xFFEF, r >= 0xFE50 && r <= 0xFE6F:
		return true
	case unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Cc, unicode.Cf):
		return true
	}
	switch r {
	case '\u2024', '\u2025', '\u2026', // one and two dot leaders, ellipsis
		'\u3002',                     // ideographic full stop
		'\u2044', '\u2215', '\u29F8', // fraction slash, division slash, big solidus
		'\u2216', '\u29F5', '\u29F9', // set minus, reverse solidus operator, big reverse solidus
		'\u037E',                               // Greek question mark (NFC: ";")
		'\u2100', '\u2101', '\u2105', '\u2106': // a/c a/s c/o c/u (NFKC holds "/")
		return true
	}
	return false
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
