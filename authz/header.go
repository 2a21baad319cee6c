package authz

import (
	"errors"
)

// Sentinel outcomes of reading a request's credential.
var (
	// ErrNoCredential: no Authorization header, or one with a scheme
	// keygate does not verify (Basic, Digest...).
	ErrNoCredential = errors.New("authz: no credential")
	// ErrMalformed: an Authorization header that breaks the grammar of
	// its scheme, or more than one of them (400 invalid_request).
	ErrMalformed = errors.New("authz: malformed credential")
)

// Scheme is an Authorization scheme keygate verifies.
type Scheme uint8

const (
	// SchemeBearer: "Bearer <token>" (RFC 6750 §2.1).
	SchemeBearer Scheme = iota + 1
	// SchemeAPIKey: "ApiKey <key>:<token>" (seed 004).
	SchemeAPIKey
)

// Presented is a credential as a request presents it. It holds secrets:
// never log it.
type Presented struct {
	Scheme Scheme
	// Key is the ApiKey key; empty for Bearer.
	Key string
	// Token is the Bearer token, or the ApiKey token.
	Token string
}

// MaxAuthorizationLen bounds the header value keygate reads.
const MaxAuthorizationLen = 4096

// ParseAuthorization reads the Authorization header values of a request
// (RFC 9110 §11.6.2, RFC 6750 §2.1):
//
//	credentials = auth-scheme 1*SP ( token68 / key ":" token )
//
// The scheme is case-insensitive and followed by one or more spaces.
// Bearer takes a b64token (ALPHA DIGIT - . _ ~ + / then "="s). ApiKey takes
// key ":" token: split at the only colon, neither part empty, each made of
// b64token characters, no whitespace. Two headers, or a value with a comma
// (two credentials joined), are malformed. It allocates nothing.
func ParseAuthorization(values []string) (Presented, error) {
	switch len(values) {
	case 0:
		return Presented{}, ErrNoCredential
	case 1:
	default:
		return Presented{}, ErrMalformed
	}
	v := values[0]
	if len(v) > MaxAuthorizationLen {
		return Presented{}, ErrMalformed
	}
	sp := 0
	for sp < len(v) && v[sp] != ' ' {
		if !isTokenChar(v[sp]) {
			return Presented{}, ErrMalformed
		}
		sp++
	}
	scheme := v[:sp]
	rest := v[sp:]
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	switch {
	case equalFold(scheme, "bearer"):
		if !isB64Token(rest) {
			return Presented{}, ErrMalformed
		}
		return Presented{Scheme: SchemeBearer, Token: rest}, nil
	case equalFold(scheme, "apikey"):
		colon := -1
		for i := 0; i < len(rest); i++ {
			if rest[i] == ':' {
				if colon >= 0 {
					return Presented{}, ErrMalformed // a second colon
				}
				colon = i
			}
		}
		if colon <= 0 || colon == len(rest)-1 {
			return Presented{}, ErrMalformed
		}
		key, token := rest[:colon], rest[colon+1:]
		if !isB64Token(key) || !isB64Token(token) {
			return Presented{}, ErrMalformed
		}
		return Presented{Scheme: SchemeAPIKey, Key: key, Token: token}, nil
	case scheme == "":
		return Presented{}, ErrMalformed
	}
	for i := 0; i < len(v); i++ {
		if v[i] == ',' {
			return Presented{}, ErrMalformed
		}
	}
	return Presented{}, ErrNoCredential
}

// isB64Token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
func isB64Token(s string) bool {
	n := 0
	for n < len(s) && charClass[s[n]]&classB64 != 0 {
		n++
	}
	if n == 0 {
		return false
	}
	for i := n; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// isTokenChar is RFC 9110's tchar.
func isTokenChar(c byte) bool { return charClass[c]&classToken != 0 }

// charClass holds, for every byte, the character classes it belongs to:
// the credential grammars are checked on every request, one table look-up
// a byte rather than a chain of comparisons.
var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		alnum := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if alnum {
			t[c] |= classBase62 | classB64 | classToken
		}
		switch c {
		case '-', '.', '_', '~', '+', '/':
			t[c] |= classB64
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			t[c] |= classToken
		}
	}
	return t
}()

// The classes of charClass.
const (
	classBase62 = 1 << iota // A-Z a-z 0-9: the secrets keygate issues
	classB64                // RFC 6750's b64token characters, before any "="
	classToken              // RFC 9110's tchar: the scheme
)

// equalFold compares an ASCII scheme with a lower-case name.
func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
