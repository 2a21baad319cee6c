package authz

import (
	"crypto/rand"
	"hash/crc32"
	"unsafe"
)

// Kind is what a credential is.
type Kind string

// The credential kinds (seeds 000–004).
const (
	KindAccessToken  Kind = "access_token"  // OAuth2 access token (Bearer), short-lived
	KindRefreshToken Kind = "refresh_token" // OAuth2 refresh token, only at the token endpoint
	KindKeyToken     Kind = "key_token"     // named API key's long-lived token (Bearer)
	KindAPIKey       Kind = "apikey"        // the ApiKey pair: key + regenerable token
)

// Token format.
//
// Every secret keygate issues is "<prefix>_<secret><checksum>":
//
//   - prefix: three letters naming the kind (kga access token, kgr refresh
//     token, kgl long-lived key token, kgk ApiKey key, kgt ApiKey token), so
//     a leaked secret is easy to scan for and to attribute;
//   - secret: characters from crypto/rand in base62 (A-Z a-z 0-9, URL-safe
//     and double-click selectable): 43 of them (256 bits) for tokens, 22
//     (131 bits) for the ApiKey key;
//   - checksum: CRC-32 of prefix and secret in 6 base62 characters, so a
//     mistyped or made-up token is refused without a store look-up.
const (
	tokenSecretLen = 43
	keySecretLen   = 22
	checksumLen    = 6
	prefixLen      = 4 // "kgX_"
)

const base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// tokenPrefix is the prefix of each kind of secret.
type tokenPrefix string

const (
	prefixAccess  tokenPrefix = "kga_"
	prefixRefresh tokenPrefix = "kgr_"
	prefixKey     tokenPrefix = "kgl_"
	prefixAPIKey  tokenPrefix = "kgk_"
	prefixAPITok  tokenPrefix = "kgt_"
)

func (p tokenPrefix) secretLen() int {
	if p == prefixAPIKey {
		return keySecretLen
	}
	return tokenSecretLen
}

// newSecret returns a fresh secret string with prefix p.
func newSecret(p tokenPrefix) string {
	n := p.secretLen()
	b := make([]byte, 0, prefixLen+n+checksumLen)
	b = append(b, p...)
	var buf [64]byte
	for len(b) < prefixLen+n {
		if _, err := rand.Read(buf[:]); err != nil {
			panic("authz: crypto/rand failed: " + err.Error()) // never returns an error on supported platforms
		}
		for _, c := range buf {
			// Rejection sampling: 248 = 4*62, so every character is
			// equally likely.
			if c < 248 && len(b) < prefixLen+n {
				b = append(b, base62[c%62])
			}
		}
	}
	return string(appendChecksum(b))
}

func appendChecksum(b []byte) []byte {
	sum := crcString(string(b))
	var c [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		c[i] = base62[sum%62]
		sum /= 62
	}
	return append(b, c[:]...)
}

// wellFormed reports whether s is a secret of prefix p with a valid
// checksum. It looks at nothing but s and allocates nothing. It runs on
// every authenticated request, so its character test is a table look-up
// and its CRC is hash/crc32's (slicing-by-8), not a byte-at-a-time loop.
func wellFormed(s string, p tokenPrefix) bool {
	n := p.secretLen()
	if len(s) != prefixLen+n+checksumLen || s[:prefixLen] != string(p) {
		return false
	}
	for i := prefixLen; i < len(s); i++ {
		if charClass[s[i]]&classBase62 == 0 {
			return false
		}
	}
	sum := crcString(s[:prefixLen+n])
	for i := len(s) - 1; i >= prefixLen+n; i-- {
		if s[i] != base62[sum%62] {
			return false
		}
		sum /= 62
	}
	return true
}

// crcString is crc32.ChecksumIEEE on a string without converting it to a
// byte slice (which would allocate on the verification path): the
// checksum only reads the string's bytes.
func crcString(s string) uint32 {
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// NewKey returns a fresh, well-formed ApiKey key that is stored nowhere:
// for tests and load tools.
func NewKey() string { return newSecret(prefixAPIKey) }

// NewToken returns a fresh, well-formed secret in the format of kind's
// Bearer or ApiKey token (an ApiKey token for KindAPIKey). It is stored
// nowhere, so it verifies as unknown: for tests and load tools.
func NewToken(kind Kind) string {
	switch kind {
	case KindAccessToken:
		return newSecret(prefixAccess)
	case KindRefreshToken:
		return newSecret(prefixRefresh)
	case KindAPIKey:
		return newSecret(prefixAPITok)
	}
	return newSecret(prefixKey)
}
