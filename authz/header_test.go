package authz

import (
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

var headerCases = []struct {
	name   string
	values []string
	want   Presented
	err    error
}{
	{"none", nil, Presented{}, ErrNoCredential},
	{"bearer", []string{"Bearer abc.DEF-_~+/=="}, Presented{Scheme: SchemeBearer, Token: "abc.DEF-_~+/=="}, nil},
	{"scheme case-insensitive", []string{"bEaReR tok"}, Presented{Scheme: SchemeBearer, Token: "tok"}, nil},
	{"several spaces", []string{"Bearer    tok"}, Presented{Scheme: SchemeBearer, Token: "tok"}, nil},
	{"apikey", []string{"ApiKey kgk_abc:kgt_def"}, Presented{Scheme: SchemeAPIKey, Key: "kgk_abc", Token: "kgt_def"}, nil},
	{"apikey case", []string{"APIKEY k:t"}, Presented{Scheme: SchemeAPIKey, Key: "k", Token: "t"}, nil},
	{"basic is not ours", []string{"Basic dXNlcjpwYXNz"}, Presented{}, ErrNoCredential},
	{"unknown scheme", []string{"Token abc"}, Presented{}, ErrNoCredential},

	{"two headers", []string{"Bearer a", "Bearer b"}, Presented{}, ErrMalformed},
	{"comma-joined", []string{"Bearer a, Bearer b"}, Presented{}, ErrMalformed},
	{"comma-joined other scheme", []string{"Basic a, Bearer b"}, Presented{}, ErrMalformed},
	{"bearer without token", []string{"Bearer"}, Presented{}, ErrMalformed},
	{"bearer only spaces", []string{"Bearer   "}, Presented{}, ErrMalformed},
	{"bearer tab", []string{"Bearer\ttok"}, Presented{}, ErrMalformed},
	{"bearer space inside", []string{"Bearer to k"}, Presented{}, ErrMalformed},
	{"bearer bad char", []string{"Bearer tok!"}, Presented{}, ErrMalformed},
	{"bearer = in middle", []string{"Bearer a=b"}, Presented{}, ErrMalformed},
	{"bearer only =", []string{"Bearer ="}, Presented{}, ErrMalformed},
	{"bearer colon", []string{"Bearer a:b"}, Presented{}, ErrMalformed},
	{"apikey no colon", []string{"ApiKey abc"}, Presented{}, ErrMalformed},
	{"apikey empty key", []string{"ApiKey :tok"}, Presented{}, ErrMalformed},
	{"apikey empty token", []string{"ApiKey key:"}, Presented{}, ErrMalformed},
	{"apikey two colons", []string{"ApiKey a:b:c"}, Presented{}, ErrMalformed},
	{"apikey space inside", []string{"ApiKey a: b"}, Presented{}, ErrMalformed},
	{"apikey nothing", []string{"ApiKey"}, Presented{}, ErrMalformed},
	{"empty", []string{""}, Presented{}, ErrMalformed},
	{"leading space", []string{" Bearer tok"}, Presented{}, ErrMalformed},
	{"too long", []string{"Bearer " + strings.Repeat("a", MaxAuthorizationLen)}, Presented{}, ErrMalformed},
	{"nul", []string{"Bearer a\x00"}, Presented{}, ErrMalformed},
}

func TestParseAuthorization(t *testing.T) {
	for _, tt := range headerCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthorization(tt.values)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("%s: ParseAuthorization(%q) = %+v, %v; want %+v, %v", tt.name, tt.values, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseAuthorizationAllocations(t *testing.T) {
	v := []string{"ApiKey kgk_abc:kgt_def"}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseAuthorization(v) }); n != 0 {
		t.Errorf("ParseAuthorization allocated %v times, want 0", n)
	}
}

// FuzzParseAuthorization: the parser never panics, and whatever it accepts
// obeys the grammar: the parts are non-empty b64tokens, and putting them
// back together gives a header it parses to the same credential.
func FuzzParseAuthorization(f *testing.F) {
	for _, tt := range headerCases {
		if len(tt.values) == 1 {
			f.Add(tt.values[0])
		}
	}
	f.Fuzz(func(t *testing.T, v string) {
		p, err := ParseAuthorization([]string{v})
		if err != nil {
			if p != (Presented{}) {
				t.Fatalf("%q: error %v with credential %+v", v, err, p)
			}
			return
		}
		if strings.ContainsAny(v, ",\t\r\n\x00") {
			t.Fatalf("%q accepted", v)
		}
		var again string
		switch p.Scheme {
		case SchemeBearer:
			if p.Key != "" || !isB64Token(p.Token) {
				t.Fatalf("%q: bad bearer %+v", v, p)
			}
			again = "Bearer " + p.Token
		case SchemeAPIKey:
			if !isB64Token(p.Key) || !isB64Token(p.Token) || strings.Contains(p.Key+p.Token, ":") {
				t.Fatalf("%q: bad apikey %+v", v, p)
			}
			again = "ApiKey " + p.Key + ":" + p.Token
		default:
			t.Fatalf("%q: accepted with scheme %d", v, p.Scheme)
		}
		if q, err := ParseAuthorization([]string{again}); err != nil || q != p {
			t.Fatalf("%q -> %+v; %q -> %+v, %v", v, p, again, q, err)
		}
	})
}

func TestTokenFormat(t *testing.T) {
	for _, p := range []tokenPrefix{prefixAccess, prefixRefresh, prefixKey, prefixAPIKey, prefixAPITok} {
		s := newSecret(p)
		if !wellFormed(s, p) {
			t.Errorf("newSecret(%s) = %q is not well-formed", p, s)
		}
		if want := prefixLen + p.secretLen() + checksumLen; len(s) != want {
			t.Errorf("newSecret(%s) has %d characters, want %d", p, len(s), want)
		}
		if _, err := ParseAuthorization([]string{"Bearer " + s}); err != nil {
			t.Errorf("%q is not a valid Bearer token: %v", s, err)
		}
		// Any single-character change is caught by the checksum or the
		// alphabet check.
		for i := prefixLen; i < len(s); i++ {
			b := []byte(s)
			b[i] = base62[(strings.IndexByte(base62, b[i])+1)%62]
			if wellFormed(string(b), p) {
				t.Errorf("%q with character %d changed is still well-formed", s, i)
			}
		}
		if wellFormed(s, prefixKey+"x") || (p != prefixKey && wellFormed(s, prefixKey)) {
			t.Errorf("%q accepted under another prefix", s)
		}
	}
	if a, b := newSecret(prefixKey), newSecret(prefixKey); a == b {
		t.Error("two secrets are equal")
	}
	s := newSecret(prefixKey)
	if n := testing.AllocsPerRun(100, func() { wellFormed(s, prefixKey) }); n != 0 {
		t.Errorf("wellFormed allocated %v times, want 0", n)
	}
}

// TestCharClasses checks the character table against the grammars spelled
// out byte by byte: RFC 9110's tchar, RFC 6750's b64token characters and
// the base62 alphabet of keygate's secrets.
func TestCharClasses(t *testing.T) {
	const (
		alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		b64    = alnum + "-._~+/"
		tchars = alnum + "!#$%&'*+-.^_`|~"
	)
	for c := 0; c < 256; c++ {
		b := byte(c)
		if got, want := isTokenChar(b), strings.IndexByte(tchars, b) >= 0; got != want {
			t.Errorf("isTokenChar(%q) = %v, want %v", b, got, want)
		}
		if got, want := charClass[b]&classB64 != 0, strings.IndexByte(b64, b) >= 0; got != want {
			t.Errorf("b64token class of %q = %v, want %v", b, got, want)
		}
		if got, want := charClass[b]&classBase62 != 0, strings.IndexByte(base62, b) >= 0; got != want {
			t.Errorf("base62 class of %q = %v, want %v", b, got, want)
		}
	}
}

// TestIssuedSecretsStayWellFormed: secrets issued by earlier versions
// (these two by the byte-at-a-time CRC loop keygate used before) must keep
// passing the format check, or every issued credential would be refused
// before its look-up.
func TestIssuedSecretsStayWellFormed(t *testing.T) {
	if got := crcString("123456789"); got != 0xCBF43926 {
		t.Errorf("crcString(check string) = %#x, want CRC-32/IEEE's check value 0xcbf43926", got)
	}
	for _, c := range []struct {
		s string
		p tokenPrefix
	}{
		{"kgl_BcTcnRjqG5bOSm7TSO7OhP5FljaMzm3na0NCaTvBPWNClt4zn", prefixKey},
		{"kgk_l3ho4s2DemPDp9o9TeS4fHB6PuAQ", prefixAPIKey},
	} {
		t.Run(string(c.p), func(t *testing.T) {
			if !wellFormed(c.s, c.p) {
				t.Errorf("%q (issued earlier) is no longer well-formed", c.s)
			}
		})
	}
}

// wellFormedReference is the format check written the plain way, byte by
// byte, as keygate first had it: FuzzWellFormed holds the fast one to it.
func wellFormedReference(s string, p tokenPrefix) bool {
	n := p.secretLen()
	if len(s) != prefixLen+n+checksumLen || s[:prefixLen] != string(p) {
		return false
	}
	for i := prefixLen; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	crc := ^uint32(0)
	for i := 0; i < prefixLen+n; i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ (crc >> 8)
	}
	sum := ^crc
	for i := len(s) - 1; i >= prefixLen+n; i-- {
		if s[i] != base62[sum%62] {
			return false
		}
		sum /= 62
	}
	return true
}

// FuzzWellFormed: the format check answers as the plain reference does,
// for every prefix, on issued secrets and on anything else.
func FuzzWellFormed(f *testing.F) {
	f.Add("kgl_BcTcnRjqG5bOSm7TSO7OhP5FljaMzm3na0NCaTvBPWNClt4zn")
	f.Add("kgk_l3ho4s2DemPDp9o9TeS4fHB6PuAQ")
	f.Add("kgl_BcTcnRjqG5bOSm7TSO7OhP5FljaMzm3na0NCaTvBPWNClt4zm")
	f.Add("kgl_BcTcnRjqG5bOSm7TSO7OhP5FljaMzm3na0NCaTvBPWNClt4z\xff")
	for _, p := range []tokenPrefix{prefixAccess, prefixRefresh, prefixKey, prefixAPIKey, prefixAPITok} {
		f.Add(newSecret(p))
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []tokenPrefix{prefixAccess, prefixRefresh, prefixKey, prefixAPIKey, prefixAPITok} {
			if got, want := wellFormed(s, p), wellFormedReference(s, p); got != want {
				t.Fatalf("wellFormed(%q, %s) = %v, the reference says %v", s, p, got, want)
			}
		}
	})
}
