package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// maxJWKSBytes bounds the key set (and discovery document) keygate reads.
const maxJWKSBytes = 1 << 20

// keySet is one provider's public keys, read from its JWKS and cached: read
// again when a token names a key it does not hold (at most once per
// minRefresh) or when it is older than maxAge. While the provider cannot
// be reached, the keys held keep verifying.
type keySet struct {
	issuer     string
	jwksURL    string // configured; else discovered (under mu)
	minRefresh time.Duration
	maxAge     time.Duration
	client     *http.Client
	now        func() time.Time
	log        *zap.Logger

	held atomic.Pointer[heldKeys] // nil until the first read succeeds

	mu          sync.Mutex // one read at a time; guards the fields below
	lastAttempt time.Time
	lastErr     error // of the last read; nil if it succeeded
}

type heldKeys struct {
	keys    []jose.JSONWebKey // public signing keys only
	fetched time.Time
}

// key returns the keys that may have signed a token with this kid and
// alg (every suitable one when kid is empty). None and nil error: the
// provider does not publish such a key (401). ErrUnavailable: the key is
// not held and the provider could not be asked (503).
func (k *keySet) key(ctx context.Context, kid, alg string) ([]jose.JSONWebKey, error) {
	now := k.now()
	h := k.held.Load()
	if h != nil && now.Sub(h.fetched) < k.maxAge {
		if found := h.find(kid, alg); len(found) > 0 {
			return found, nil
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if h2 := k.held.Load(); h2 != h {
		h = h2 // read by another request meanwhile
	} else if k.lastAttempt.IsZero() || now.Sub(k.lastAttempt) >= k.minRefresh {
		k.lastAttempt = now
		// The read is the provider's, not this request's: a client that
		// goes away must not make it fail.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.client.Timeout)
		keys, err := k.fetch(fctx)
		cancel()
		k.lastErr = err
		if err != nil {
			k.log.Warn("identity provider keys cannot be read; the keys held keep verifying",
				zap.String("issuer", k.issuer), zap.Error(err))
		} else {
			h = &heldKeys{keys: keys, fetched: now}
			k.held.Store(h)
		}
	}
	var found []jose.JSONWebKey
	if h != nil {
		found = h.find(kid, alg)
	}
	if len(found) == 0 && k.lastErr != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, k.issuer, k.lastErr)
	}
	return found, nil
}

// find returns the held keys that may verify a token with kid and alg.
func (h *heldKeys) find(kid, alg string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, key := range h.keys {
		if (kid == "" || key.KeyID == kid) && (key.Algorithm == "" || key.Algorithm == alg) {
			out = append(out, key)
		}
	}
	return out
}

// fetch reads the key set, discovering its URL first if it was not
// configured.
func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	if k.jwksURL == "" {
		u, err := k.discover(ctx)
		if err != nil {
			return nil, err
		}
		k.jwksURL = u
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.jwksURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading keys: %s answered %s", k.jwksURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading keys: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("reading keys: %s: more than %d bytes", k.jwksURL, maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("reading keys: %s: %w", k.jwksURL, err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, key := range set.Keys {
		// Public signature keys only: a symmetric ("oct") or encryption
		// key in the set must never verify a token.
		if key.IsPublic() && (key.Use == "" || key.Use == "sig") {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("reading keys: %s holds no public signature key", k.jwksURL)
	}
	return keys, nil
}

// discover reads the issuer's OpenID Connect discovery document (go-oidc
// checks that it names the same issuer) and returns its jwks_uri.
func (k *keySet) discover(ctx context.Context) (string, error) {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, k.client), k.issuer)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	u, err := url.Parse(doc.JWKSURI)
	if err != nil || u.Host == "" {
		return "", errors.New("discovery: jwks_uri is not an absolute URL")
	}
	iss, _ := url.Parse(k.issuer)
	// Keys over plain http only where the issuer itself is (a loopback
	// provider, config.checkProviderURL).
	if u.Scheme != "https" && (u.Scheme != iss.Scheme || u.Hostname() != iss.Hostname()) {
		return "", fmt.Errorf("discovery: jwks_uri %q is neither https nor on the issuer's host", doc.JWKSURI)
	}
	return doc.JWKSURI, nil
}
