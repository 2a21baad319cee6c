// Package jwtauth verifies Bearer JWTs issued by the identity providers of
// auth.jwt: the signature with the provider's published keys (go-jose,
// keys cached, keys.go), the issuer, the audience, an allow-list of
// asymmetric algorithms, exp, nbf and iat with a small skew; and it reads
// the user, API sets, scopes and jti from the claims as configured. It
// knows nothing of keygate's own credentials: authz calls it for a Bearer
// token that is not in keygate's format, and makes the identity.
package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
)

// Outcomes of Verify.
var (
	// ErrInvalid: the token is not one keygate accepts (401
	// invalid_token). The wrapped reason is for logs only.
	ErrInvalid = errors.New("jwtauth: invalid token")
	// ErrExpired is an ErrInvalid: the token's exp has passed.
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalid)
	// ErrUnavailable: the token names a key keygate does not hold and the
	// provider cannot be reached to read it (503, never 401).
	ErrUnavailable = errors.New("jwtauth: identity provider keys unavailable")
)

// Token is what a verified JWT says, as configured. It holds no secret.
type Token struct {
	Issuer string
	// User is user_prefix and the user claim's value.
	User string
	// ID is the jti; empty if the token has none.
	ID string
	// APISets and Scopes are the claims' values, unchecked: the caller
	// keeps those that are valid names.
	APISets []string
	Scopes  []string
	// Expires is when the token stops being accepted: exp plus the skew.
	Expires time.Time
}

// Options are a Verifier's collaborators.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *zap.Logger
	// Transport for the requests to the providers; nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
}

// Verifier verifies JWTs of the configured issuers. It is safe for
// concurrent use.
type Verifier struct {
	issuers map[string]*issuer
	algs    []jose.SignatureAlgorithm // of every issuer: what ParseSigned accepts
	now     func() time.Time
	log     *zap.Logger
}

type issuer struct {
	cfg  config.JWTIssuer
	algs []jose.SignatureAlgorithm
	keys *keySet
}

// New builds a Verifier from a validated auth.jwt section. It reads
// nothing from the providers: the keys are read at the first token, so
// that keygate starts while a provider is down.
func New(cfg config.JWT, opts Options) (*Verifier, error) {
	v := &Verifier{issuers: make(map[string]*issuer, len(cfg.Issuers)), now: opts.Now, log: opts.Logger}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = zap.NewNop()
	}
	v.log = v.log.Named("jwt")
	for i, c := range cfg.Issuers {
		is := &issuer{cfg: c}
		for _, a := range c.Algorithms {
			if !slices.Contains(config.JWTAlgorithms, a) {
				return nil, fmt.Errorf("auth.jwt.issuers[%d].algorithms: %q is not accepted", i, a)
			}
			is.algs = append(is.algs, jose.SignatureAlgorithm(a))
			if !slices.Contains(v.algs, jose.SignatureAlgorithm(a)) {
				v.algs = append(v.algs, jose.SignatureAlgorithm(a))
			}
		}
		is.keys = &keySet{
			issuer: c.Issuer, jwksURL: c.JWKSURL,
			minRefresh: c.JWKSMinRefreshInterval, maxAge: c.JWKSMaxAge,
			client: &http.Client{Timeout: c.FetchTimeout, Transport: opts.Transport},
			now:    v.now, log: v.log,
		}
		v.issuers[c.Issuer] = is
	}
	return v, nil
}

// LooksLikeJWT reports whether a Bearer token has a JWS compact form's
// shape: three non-empty base64url parts separated by dots. It allocates
// nothing.
func LooksLikeJWT(s string) bool {
	dots, run := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if run == 0 {
				return false
			}
			dots, run = dots+1, 0
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			run++
		default:
			return false
		}
	}
	return dots == 2 && run > 0
}

// Verify checks a JWT and returns what it says. Errors: ErrInvalid
// (ErrExpired among them), or ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (*Token, error) {
	t, err := v.verify(ctx, token)
	if err != nil && !errors.Is(err, ErrUnavailable) {
		if ce := v.log.Check(zap.DebugLevel, "jwt refused"); ce != nil {
			ce.Write(zap.Error(err)) // the reason, never the token
		}
	}
	return t, err
}

func (v *Verifier) verify(ctx context.Context, token string) (*Token, error) {
	// ParseSigned refuses any alg outside the allow-list: none, HS* and
	// whatever no issuer was configured with never reach a key.
	tok, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	is, ok := v.issuers[unverified.Issuer]
	if !ok {
		return nil, fmt.Errorf("%w: issuer not configured", ErrInvalid)
	}
	h := tok.Headers[0]
	if !slices.Contains(is.algs, jose.SignatureAlgorithm(h.Algorithm)) {
		return nil, fmt.Errorf("%w: alg %q not accepted for this issuer", ErrInvalid, h.Algorithm)
	}
	keys, err := is.keys.key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key %q published by the issuer", ErrInvalid, h.KeyID)
	}
	var std jwt.Claims
	var claims map[string]any
	verified := false
	for i := range keys {
		if err = tok.Claims(keys[i].Key, &std, &claims); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, fmt.Errorf("%w: signature: %w", ErrInvalid, err)
	}
	c := is.cfg
	if std.Expiry == nil {
		return nil, fmt.Errorf("%w: no exp", ErrInvalid)
	}
	err = std.ValidateWithLeeway(jwt.Expected{Issuer: c.Issuer, AnyAudience: c.Audiences, Time: v.now()}, c.ClockSkew)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return nil, ErrExpired
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}

	user, _ := lookup(claims, c.UserClaim).(string)
	if user == "" {
		return nil, fmt.Errorf("%w: no %s claim", ErrInvalid, c.UserClaim)
	}
	t := &Token{
		Issuer:  c.Issuer,
		User:    c.UserPrefix + user,
		ID:      std.ID,
		Scopes:  names(claims["scope"]),
		Expires: std.Expiry.Time().Add(c.ClockSkew),
	}
	if len(t.Scopes) == 0 {
		t.Scopes = names(claims["scp"])
	}
	if m := c.APISetMap; m != nil {
		for _, val := range ClaimNames(claims, m.Claim) {
			for _, set := range m.Values[val] {
				if !slices.Contains(t.APISets, set) {
					t.APISets = append(t.APISets, set)
				}
			}
		}
	} else {
		t.APISets = names(claims[c.APISetsClaim])
	}
	return t, nil
}

// ClaimNames is the names a claim holds (see names), the claim found by
// name or dotted path (see lookup): what a mapping from a claim's values
// reads, here and for the account pages' OpenID Connect sign-in.
func ClaimNames(claims map[string]any, name string) []string {
	return names(lookup(claims, name))
}

// lookup returns a claim by name, or by a dotted path into objects
// ("realm_access.roles") when there is no claim of that very name.
func lookup(claims map[string]any, name string) any {
	if v, ok := claims[name]; ok {
		return v
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[part]
	}
	return cur
}

// names reads a claim that holds names: a list of strings, or one string
// of space-separated names (OAuth's scope). Anything else is no names.
func names(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
