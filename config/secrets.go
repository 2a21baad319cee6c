package config

import (
	"fmt"
	"strings"
)

// Weak and placeholder secrets.
//
// A digest key, an encryption key or the bootstrap admin token that is a
// placeholder from a manifest or document ("REPLACE-ME-...") passes every
// length check, and with it anybody who read the manifest holds the key.
// WeakSecret refuses those, and values with too little entropy to have come
// from a random generator.

// MinSecretDistinct is the fewest distinct bytes a secret may hold: the
// base64 of 32 random bytes (`openssl rand -base64 32`) has 23 or more.
// A value of hexadecimal digits only needs MinHexSecretDistinct: the 32
// digits of `openssl rand -hex 16` have fewer than 16 distinct ones four
// times in five, and fewer than 8 about once in a million.
const (
	MinSecretDistinct    = 16
	MinHexSecretDistinct = 8
)

// placeholders are parts of the stand-in values of manifests, charts and
// documents (keygate's and the usual ones), compared case-insensitively
// with "_" and " " read as "-".
var placeholders = []string{"replace-me", "replaceme", "change-me", "changeme", "placeholder", "your-secret", "yoursecret", "openssl-rand", "insert-", "xxxxxxxx"}

// WeakSecret says why s must not be used as a secret, or "" if nothing is
// wrong with it: a known placeholder, fewer than MinSecretDistinct distinct
// bytes, a repeated pattern ("abcdefghijklmnopabcdefghijklmnop") or a run
// of consecutive characters ("0123456789abcdef...").
func WeakSecret(s string) string {
	folded := strings.NewReplacer("_", "-", " ", "-").Replace(strings.ToLower(s))
	for _, p := range placeholders {
		if strings.Contains(folded, p) {
			return fmt.Sprintf("is a placeholder (it contains %q), not a secret", p)
		}
	}
	var seen [256]bool
	distinct, hex := 0, true
	for i := 0; i < len(s); i++ {
		if !seen[s[i]] {
			seen[s[i]] = true
			distinct++
		}
		hex = hex && unhexDigit(s[i])
	}
	need := MinSecretDistinct
	if hex {
		need = MinHexSecretDistinct
	}
	if distinct < need {
		return fmt.Sprintf("has too little entropy (%d distinct characters, at least %d needed)", distinct, need)
	}
	if p := period(s); p <= len(s)/2 {
		return fmt.Sprintf("has too little entropy (it repeats a pattern of %d characters)", p)
	}
	run := 0
	for i := 1; i < len(s); i++ {
		if d := int(s[i]) - int(s[i-1]); d == 1 || d == -1 {
			run++
		}
	}
	if run >= len(s)/2 {
		return "has too little entropy (it is mostly a run of consecutive characters)"
	}
	return ""
}

func unhexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// period is the length of the shortest p such that s[i] == s[i-p] for
// every i >= p (len(s) if there is none shorter).
func period(s string) int {
	// The prefix function of Knuth–Morris–Pratt: the longest proper border
	// of s gives its shortest period.
	pi := make([]int, len(s))
	for i := 1; i < len(s); i++ {
		k := pi[i-1]
		for k > 0 && s[i] != s[k] {
			k = pi[k-1]
		}
		if s[i] == s[k] {
			k++
		}
		pi[i] = k
	}
	if len(s) == 0 {
		return 0
	}
	return len(s) - pi[len(s)-1]
}

// secretProblem adds the problem of a weak secret at path, naming the
// environment variable it came from when it came from one.
func (c *Config) secretProblem(v *problems, path, secret, generate string) {
	why := WeakSecret(secret)
	if why == "" {
		return
	}
	what := "the value"
	if name := c.envSources[path]; name != "" {
		what = "${" + name + "}"
	}
	v.add(path, fmt.Sprintf("%s %s; generate one outside the repository with: %s", what, why, generate))
}
