package authz

import (
	"cmp"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/store"
)

// OAuth2 outcomes (RFC 6749 §5.2), checked with errors.Is.
var (
	// ErrInvalidClient: unknown client, wrong secret, or a client whose
	// owner is disabled.
	ErrInvalidClient = errors.New("invalid_client")
	// ErrInvalidGrant: a refresh token that is unknown, expired, another
	// client's, revoked, or already exchanged.
	ErrInvalidGrant = errors.New("invalid_grant")
	// ErrInvalidScope: a scope the client (or the refresh token) lacks.
	ErrInvalidScope = errors.New("invalid_scope")
	// ErrUnauthorizedClient: the client may not use this grant type (not
	// registered for it, or refresh tokens are turned off).
	ErrUnauthorizedClient = errors.New("unauthorized_client")
)

// Grant types a client may use.
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
)

const prefixClientSecret tokenPrefix = "kgs_"

func clientKey(id string) string              { return "client/" + id }
func clientsIndex(owner string) string        { return "clients/" + owner }
func clientCredsIndex(clientID string) string { return "client-creds/" + clientID }
func familyIndex(family string) string        { return "family/" + family }

// ClientSpec is what a new OAuth client asks for; zero values take the
// config's defaults.
type ClientSpec struct {
	Description          string
	Scopes               []string
	APISets              []string
	AccessTokenValidity  time.Duration
	RefreshTokenValidity time.Duration
	// CreatedBy: the credential the caller authenticated with, if any
	// (see KeySpec.CreatedBy and derive.go): the client is then bounded by
	// it, expires with it, and is deleted when it is revoked.
	CreatedBy string
	// CreatesCredentials makes a client whose access tokens may create
	// named keys and OAuth clients (derived from the client, see
	// derive.go); only without CreatedBy (after a password, on the
	// account page).
	CreatesCredentials bool
}

// Client is an OAuth2 client (seed 001's "API keys": client ID and
// secret). It never holds the secret, only its digest.
type Client struct {
	ID                   string        `json:"id"`
	Owner                string        `json:"owner"`
	Description          string        `json:"description,omitempty"`
	Scopes               []string      `json:"scopes"`
	APISets              []string      `json:"apiSets"`
	GrantTypes           []string      `json:"grantTypes"`
	AccessTokenValidity  time.Duration `json:"accessTokenValidity"`
	RefreshTokenValidity time.Duration `json:"refreshTokenValidity"`
	Created              time.Time     `json:"created"`
	SecretRotated        time.Time     `json:"secretRotated,omitzero"`

	SecretDigest     string    `json:"secretDigest"`           // "<key id>/<hex>"
	SealedSecret     []byte    `json:"sealedSecret,omitempty"` // under auth.encryption_keys, if any
	PrevSecretDigest string    `json:"prevSecretDigest,omitempty"`
	PrevSecretUntil  time.Time `json:"prevSecretUntil,omitzero"`

	// Parent is the credential the client was made with (derive.go);
	// Expires, if set, is when it stops working (its parent's expiry):
	// no token it obtains outlives it.
	Parent  string    `json:"parent,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// CreatesCredentials: the client's access tokens may create
	// credentials, which it is then the parent of (derive.go).
	CreatesCredentials bool `json:"createsCredentials,omitempty"`
}

// OAuth keeps OAuth2 clients and issues, refreshes, revokes and
// introspects their tokens (RFC 6749, 7009, 7662). It is safe for
// concurrent use.
type OAuth struct {
	*core
	oauth config.OAuth
}

// CreateClient makes an OAuth client for owner and returns its secret,
// which is shown once.
func (s *OAuth) CreateClient(ctx context.Context, owner string, spec ClientSpec) (string, *Client, error) {
	u, err := s.getUser(ctx, owner)
	if err != nil {
		return "", nil, err
	}
	if u.Disabled {
		return "", nil, fmt.Errorf("%w: user %q is disabled", ErrForbidden, owner)
	}
	if len(spec.Description) > 1024 {
		return "", nil, invalid("description", "at most 1024 characters")
	}
	if spec.CreatesCredentials && spec.CreatedBy != "" {
		return "", nil, fmt.Errorf("%w: createsCredentials: a client that creates credentials is made after a password sign-in or on the account page, not by a credential", ErrForbidden)
	}
	parent, err := s.creator(ctx, owner, spec.CreatedBy)
	if err != nil {
		return "", nil, err
	}
	scopes, sets := spec.Scopes, spec.APISets
	if len(scopes) == 0 {
		scopes = Intersect([]string{"read", "write"}, u.Scopes)
		if parent != nil {
			scopes = Intersect(scopes, parent.Scopes)
		}
	}
	if len(sets) == 0 && parent != nil {
		sets = Intersect(parent.APISets, u.APISets) // all of the creator's, not of the owner's
	}
	sets, scopes, err = narrow(u, sets, scopes)
	if err != nil {
		return "", nil, err
	}
	var expires time.Time
	if parent != nil {
		if expires, err = deriveFrom(parent, sets, scopes, time.Time{}, ""); err != nil {
			return "", nil, err
		}
	}
	o := s.oauth
	access, refresh := spec.AccessTokenValidity, spec.RefreshTokenValidity
	if access == 0 {
		access = o.AccessTokenValidity
	}
	if refresh == 0 {
		refresh = o.RefreshTokenValidity
	}
	if access < time.Second || access > o.MaxAccessTokenValidity {
		return "", nil, invalid("accessTokenValiditySeconds", "must be from 1 to %d", int64(o.MaxAccessTokenValidity/time.Second))
	}
	if refresh < time.Second || refresh > o.MaxRefreshTokenValidity {
		return "", nil, invalid("refreshTokenValiditySeconds", "must be from 1 to %d", int64(o.MaxRefreshTokenValidity/time.Second))
	}
	grants := []string{GrantClientCredentials}
	if o.RefreshTokensIssued() {
		grants = []string{GrantRefreshToken, GrantClientCredentials} // seed 001's order
	}
	c := &Client{
		ID: newClientID(), Owner: owner, Description: spec.Description, Scopes: scopes, APISets: sets,
		GrantTypes: grants, AccessTokenValidity: access, RefreshTokenValidity: refresh,
		Created: s.now().UTC().Truncate(time.Millisecond), Parent: parent.id(), Expires: expires,
		CreatesCredentials: spec.CreatesCredentials,
	}
	secret := newSecret(prefixClientSecret)
	c.SecretDigest = s.secretDigest(secret)
	c.SealedSecret = s.sealClientSecret(secret, c.ID)
	if err := s.db.clients.create(ctx, c.ID, c); err != nil {
		return "", nil, fmt.Errorf("storing client: %w", err)
	}
	if parent != nil {
		if err := s.stillActive(ctx, parent, func(ctx context.Context) error { return s.deleteClient(ctx, owner, c.ID, &cascade{}) }); err != nil {
			return "", nil, err
		}
	}
	fields := []zap.Field{zap.Strings("api_sets", c.APISets), zap.Strings("scopes", c.Scopes), zap.Strings("grant_types", c.GrantTypes)}
	if c.CreatesCredentials {
		fields = append(fields, zap.Bool("creates_credentials", true))
	}
	if c.Parent != "" {
		fields = append(fields, zap.String("parent", c.Parent))
	}
	s.audit(ctx, audit.CreateClient, audit.Client(c.ID, owner), fields...)
	return secret, c, nil
}

// newClientID is 20 base62 characters: public, but unguessable enough
// that ids do not enumerate.
func newClientID() string {
	s := newSecret(prefixAPIKey) // 22 random base62 characters after the prefix
	return s[prefixLen : prefixLen+20]
}

// secretDigest is "<key id>/<hex>" of a client secret under the current key.
func (s *OAuth) secretDigest(secret string) string {
	k := s.keys[0]
	d := k.digest(secret)
	return k.id + "/" + hex.EncodeToString(d[:])
}

// secretMatches compares a presented secret with a stored "<key id>/<hex>"
// digest in constant time.
func (s *OAuth) secretMatches(secret, stored string) bool {
	kid, hx, ok := strings.Cut(stored, "/")
	if !ok {
		return false
	}
	want, err := hex.DecodeString(hx)
	if err != nil {
		return false
	}
	for _, k := range s.keys {
		if k.id == kid {
			got := k.digest(secret)
			return hmac.Equal(got[:], want)
		}
	}
	return false
}

// GetClient returns owner's client; someone else's is ErrNotFound too.
func (s *OAuth) GetClient(ctx context.Context, owner, id string) (*Client, error) {
	c, _, err := s.db.clients.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Owner != owner {
		return nil, fmt.Errorf("%w: client %q", ErrNotFound, id)
	}
	return c, nil
}

// ClientByID returns any client, whoever owns it (for administrators).
func (s *OAuth) ClientByID(ctx context.Context, id string) (*Client, error) {
	c, _, err := s.db.clients.get(ctx, id)
	return c, err
}

// Clients lists owner's clients (seed 001's "Get existing keys").
func (s *OAuth) Clients(ctx context.Context, owner string) ([]Client, error) {
	return s.db.clients.list(ctx, clientsIndex(owner))
}

// NewClientSecret gives owner's client a new secret ("Generate new keys");
// the previous one keeps working for oauth.secret_grace.
func (s *OAuth) NewClientSecret(ctx context.Context, owner, id string) (string, *Client, error) {
	secret := newSecret(prefixClientSecret)
	c, err := s.db.clients.update(ctx, id, func(c *Client) error {
		if c.Owner != owner {
			return fmt.Errorf("%w: client %q", ErrNotFound, id)
		}
		now := s.now().UTC().Truncate(time.Millisecond)
		c.PrevSecretDigest, c.PrevSecretUntil = "", time.Time{}
		if s.oauth.SecretGrace > 0 {
			c.PrevSecretDigest, c.PrevSecretUntil = c.SecretDigest, now.Add(s.oauth.SecretGrace)
		}
		c.SecretDigest, c.SecretRotated = s.secretDigest(secret), now
		c.SealedSecret = s.sealClientSecret(secret, c.ID)
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	fields := []zap.Field{}
	if !c.PrevSecretUntil.IsZero() {
		fields = append(fields, zap.Time("previous_secret_until", c.PrevSecretUntil))
	}
	s.audit(ctx, audit.RotateClientSecret, audit.Client(id, owner), fields...)
	return secret, c, nil
}

// DeleteClient removes owner's client; every token it obtained stops
// working on every replica.
func (s *OAuth) DeleteClient(ctx context.Context, owner, id string) error {
	var cs cascade
	if err := s.deleteClient(ctx, owner, id, &cs); err != nil {
		return err
	}
	s.audit(ctx, audit.DeleteClient, audit.Client(id, owner), cs.fields()...)
	return nil
}

// AuthenticateClient checks a client's id and secret (the current one, or
// the previous one within its grace period).
func (s *OAuth) AuthenticateClient(ctx context.Context, id, secret string) (*Client, error) {
	if !wellFormed(secret, prefixClientSecret) {
		return nil, ErrInvalidClient
	}
	c, _, err := s.db.clients.get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrInvalidClient
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	ok := s.secretMatches(secret, c.SecretDigest)
	if !ok && c.PrevSecretDigest != "" && s.now().Before(c.PrevSecretUntil) {
		ok = s.secretMatches(secret, c.PrevSecretDigest)
	}
	if !ok || !c.Expires.IsZero() && !s.now().Before(c.Expires) {
		return nil, ErrInvalidClient
	}
	u, err := s.getUser(ctx, c.Owner)
	if err != nil || u.Disabled {
		return nil, ErrInvalidClient
	}
	return c, nil
}

// TokenResponse is what the token endpoint answers (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string
	RefreshToken string // empty when none is issued
	ExpiresIn    int64  // seconds
	Scope        []string
	// Narrowed: the scope differs from what the client may have, so the
	// response must carry it (RFC 6749 §5.1).
	Narrowed bool
}

// ClientCredentialsGrant issues tokens to an authenticated client (RFC
// 6749 §4.4), narrowed to scope if given.
func (s *OAuth) ClientCredentialsGrant(ctx context.Context, c *Client, scope []string) (*TokenResponse, error) {
	if !slices.Contains(c.GrantTypes, GrantClientCredentials) {
		return nil, ErrUnauthorizedClient
	}
	granted, narrowed, u, err := s.grant(ctx, c, scope, c.Scopes)
	if err != nil {
		return nil, err
	}
	resp, _, err := s.issueTokens(ctx, c, u, granted, nil, narrowed, newID())
	return resp, err
}

// IssueAccessToken makes a short-lived Bearer access token for owner (the
// OAuth token endpoint's job; also useful to tests and operators).
func (s *OAuth) IssueAccessToken(ctx context.Context, owner string, apiSets, scopes []string, ttl time.Duration) (string, *Credential, error) {
	if err := checkLifetime("ttl", ttl); err != nil {
		return "", nil, err
	}
	u, err := s.getUser(ctx, owner)
	if err != nil {
		return "", nil, err
	}
	sets, sc, err := narrow(u, apiSets, scopes)
	if err != nil {
		return "", nil, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	cred := &Credential{ID: newID(), Kind: KindAccessToken, Owner: owner, APISets: sets, Scopes: sc,
		Status: StatusActive, Created: now, Expires: now.Add(ttl)}
	token := newSecret(prefixAccess)
	if err := s.writeNew(ctx, cred, token, nil); err != nil {
		return "", nil, err
	}
	return token, cred, nil
}

// narrowScope checks a requested scope against what is allowed.
func narrowScope(requested, allowed []string) ([]string, bool, error) {
	if len(requested) == 0 {
		return allowed, false, nil
	}
	for _, sc := range requested {
		if !slices.Contains(allowed, sc) {
			return nil, false, fmt.Errorf("%w: %q is not allowed", ErrInvalidScope, sc)
		}
	}
	out := slices.Compact(slices.Sorted(slices.Values(requested)))
	return out, len(out) != len(allowed), nil
}

// grant checks a requested scope against allowed (narrowScope) and the
// client's owner (clientOwner): what every grant checks before it issues.
func (s *OAuth) grant(ctx context.Context, c *Client, requested, allowed []string) ([]string, bool, *User, error) {
	granted, narrowed, err := narrowScope(requested, allowed)
	if err != nil {
		return nil, false, nil, err
	}
	u, err := s.clientOwner(ctx, c)
	if err != nil {
		return nil, false, nil, err
	}
	return granted, narrowed, u, nil
}

// clientOwner returns the user a client acts for, who must exist and not
// be disabled.
func (s *OAuth) clientOwner(ctx context.Context, c *Client) (*User, error) {
	u, err := s.getUser(ctx, c.Owner)
	if errors.Is(err, ErrUserNotFound) {
		return nil, ErrInvalidClient
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if u.Disabled {
		return nil, ErrInvalidClient
	}
	return u, nil
}

// issueTokens makes an access token with scopes (and, when the client may
// refresh, a refresh token with refreshScopes: the grant's scope, which a
// narrowed refresh does not narrow; nil means the access token's) in a
// token family. It returns the ids of what it wrote. If a write fails, or
// the client is gone, what was already written is revoked: a failed grant
// leaves nothing that works.
func (s *OAuth) issueTokens(ctx context.Context, c *Client, u *User, scopes, refreshScopes []string, narrowed bool, family string) (*TokenResponse, []string, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	sets := Intersect(c.APISets, u.APISets)
	scopes = Intersect(scopes, u.Scopes)
	if refreshScopes == nil {
		refreshScopes = scopes
	}
	access := &Credential{ID: newID(), Kind: KindAccessToken, Owner: c.Owner, APISets: sets, Scopes: scopes,
		Status: StatusActive, Created: now, Expires: c.capExpiry(now.Add(c.AccessTokenValidity)), ClientID: c.ID, Family: family}
	at := newSecret(prefixAccess)
	if err := s.writeNew(ctx, access, at, nil); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	ids := []string{access.ID}
	resp := &TokenResponse{AccessToken: at, ExpiresIn: int64(access.Expires.Sub(now) / time.Second), Scope: scopes, Narrowed: narrowed}
	if s.oauth.RefreshTokensIssued() && slices.Contains(c.GrantTypes, GrantRefreshToken) {
		refresh := &Credential{ID: newID(), Kind: KindRefreshToken, Owner: c.Owner, APISets: sets, Scopes: slices.Clone(refreshScopes),
			Status: StatusActive, Created: now, Expires: c.capExpiry(now.Add(c.RefreshTokenValidity)), ClientID: c.ID, Family: family}
		rt := newSecret(prefixRefresh)
		if err := s.writeNew(ctx, refresh, rt, nil); err != nil {
			s.discard(ctx, ids)
			return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		ids = append(ids, refresh.ID)
		resp.RefreshToken = rt
	}
	// The client may have been deleted while its tokens were written.
	// DeleteClient removes the client's record before it lists the
	// client's tokens to revoke them, so a client still there now would
	// find these if it went later; one already gone never will.
	if _, _, err := s.db.clients.get(ctx, c.ID); err != nil {
		s.discard(ctx, ids)
		if errors.Is(err, ErrNotFound) {
			return nil, nil, ErrInvalidClient
		}
		return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return resp, ids, nil
}

// discard revokes tokens that were written but never handed out. Their
// secrets never left this process, so this is tidying, not security; it
// is done even when ctx is already cancelled, and a failure is logged.
func (s *OAuth) discard(ctx context.Context, ids []string) {
	ctx = context.WithoutCancel(ctx)
	for _, id := range ids {
		if _, err := s.revoke(ctx, id, &cascade{}); err != nil && !errors.Is(err, ErrNotFound) {
			s.log.Warn("could not revoke a token of a failed grant", zap.String("credential_id", id), zap.Error(err))
		}
	}
}

// RefreshGrant exchanges a refresh token (RFC 6749 §6). Refresh tokens
// rotate: the one presented stops working and a new one comes back, with
// the same scope as the one presented (a narrower scope parameter narrows
// only the new access token). Presenting one that was already exchanged
// means it leaked: the whole family (every token descended from the same
// grant) is revoked.
//
// A refresh that fails changes nothing (RFC 6749 §5.2): the presented
// token stays usable. The store has no multi-record transaction, so the
// order does the work:
//
//  1. read the presented token's record and check everything that can
//     refuse the refresh (kind, client, status, expiry, scope, owner)
//     without writing;
//  2. write the new access and refresh tokens (a failure here revokes
//     whichever was written; the presented token was not touched);
//  3. mark the presented token rotated with compare-and-set on the version
//     read in step 1: this one write is the rotation. If it loses (the
//     record changed meanwhile: a concurrent refresh, a revocation), the
//     new tokens are revoked and the presented one is looked at again from
//     step 1; if the store fails, they are revoked and the answer is
//     ErrUnavailable with the presented token as it was.
//
// Until step 3 succeeds nobody has the new tokens' secrets, so their brief
// life opens nothing. One case stays ambiguous, as for any request whose
// answer is lost: a store that applies the write in step 3 but fails to
// confirm it (a Redis timeout after the command went out). Then the
// presented token is rotated though the client got an error, and its retry
// is a replay.
func (s *OAuth) RefreshGrant(ctx context.Context, c *Client, refreshToken string, scope []string) (*TokenResponse, error) {
	if !slices.Contains(c.GrantTypes, GrantRefreshToken) || !s.oauth.RefreshTokensIssued() {
		return nil, fmt.Errorf("%w: the client may not refresh", ErrUnauthorizedClient)
	}
	if !wellFormed(refreshToken, prefixRefresh) {
		return nil, ErrInvalidGrant
	}
	found, err := s.readSecret(ctx, refreshToken)
	if err != nil || found == nil {
		return nil, cmp.Or(err, ErrInvalidGrant)
	}
	key := found.digestHint
	for {
		// 1. Check, without writing.
		rec, r, err := s.db.secrets.read(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrInvalidGrant
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if rec.Kind != KindRefreshToken || rec.ClientID != c.ID {
			return nil, ErrInvalidGrant
		}
		if rec.Status == StatusRotated {
			var cs cascade
			err := s.revokeIndex(ctx, familyIndex(rec.Family), &cs)
			fields := []zap.Field{zap.String("kind", string(rec.Kind)), zap.String("family", rec.Family),
				zap.String("client_id", c.ID), zap.Int("revoked", cs.revoked)}
			if err != nil {
				fields = append(fields, zap.NamedError("cascade_error", err))
			}
			s.audit(ctx, audit.RevokeFamily, audit.Credential(rec.CredentialID, rec.Owner), cs.fields(fields...)...)
			if err != nil {
				return nil, err
			}
			return nil, ErrInvalidGrant
		}
		if rec.Status != StatusActive || rec.ExpiresMs > 0 && s.now().UnixMilli() >= rec.ExpiresMs {
			return nil, ErrInvalidGrant
		}
		granted, narrowed, u, err := s.grant(ctx, c, scope, rec.Scopes)
		if err != nil {
			return nil, err
		}

		// 2. Issue.
		resp, ids, err := s.issueTokens(ctx, c, u, granted, rec.Scopes, narrowed || len(granted) != len(c.Scopes), rec.Family)
		if err != nil {
			return nil, err
		}

		// 3. Rotate: compare-and-set on the version checked in step 1.
		rotated := *rec
		rotated.Status = StatusRotated
		_, err = s.db.secrets.replace(ctx, key, &rotated, r)
		if err != nil {
			s.discard(ctx, ids)
		}
		switch {
		case errors.Is(err, store.ErrConflict):
			continue
		case errors.Is(err, store.ErrNotFound):
			return nil, ErrInvalidGrant
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		// The management record only shows the status; the verification
		// record just written is what counts, so the new tokens are
		// handed out even if this fails.
		if _, err := s.db.creds.update(ctx, rec.CredentialID, func(cr *Credential) error { cr.Status = StatusRotated; return nil }); err != nil && !errors.Is(err, ErrNotFound) {
			s.log.Warn("could not mark a rotated refresh token's record", zap.String("credential_id", rec.CredentialID), zap.Error(err))
		}
		return resp, nil
	}
}

// RevokeToken revokes a token presented by its client (RFC 7009). A
// refresh token takes its family with it. An unknown or invalid token is
// not an error (§2.2); a token of another client is ErrUnauthorizedClient
// (§2.1) and is left as it is.
func (s *OAuth) RevokeToken(ctx context.Context, c *Client, token string) error {
	if !wellFormed(token, prefixAccess) && !wellFormed(token, prefixRefresh) {
		return nil
	}
	rec, err := s.readSecret(ctx, token)
	if err != nil || rec == nil {
		return err
	}
	if rec.ClientID != c.ID {
		// RFC 7009 §2.1: a token issued to another client is refused
		// (unauthorized_client), and stays valid.
		return ErrUnauthorizedClient
	}
	var cs cascade
	fields := []zap.Field{zap.String("kind", string(rec.Kind)), zap.String("client_id", c.ID)}
	if rec.Kind == KindRefreshToken && rec.Family != "" {
		// The family's count includes the token itself.
		err = s.revokeIndex(ctx, familyIndex(rec.Family), &cs)
		fields = append(fields, zap.String("family", rec.Family), zap.Int("revoked", cs.revoked))
		cs.revoked = 0
	} else if _, err = s.revoke(ctx, rec.CredentialID, &cs); errors.Is(err, ErrNotFound) {
		err = nil
	}
	if err != nil {
		return err
	}
	s.audit(ctx, audit.RevokeToken, audit.Credential(rec.CredentialID, rec.Owner), cs.fields(fields...)...)
	return nil
}

// Introspection is RFC 7662's answer.
type Introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	// Aud are the API sets the token may be used on (its owner's, as they
	// are now): the audiences of RFC 7662 §2.2.
	Aud []string `json:"aud,omitempty"`
}

// Introspect tells whether a token keygate issued is active (RFC 7662).
// Anything not active, unknown included, is exactly {active: false}.
func (s *OAuth) Introspect(ctx context.Context, token string) (*Introspection, error) {
	inactive := &Introspection{}
	if !wellFormed(token, prefixAccess) && !wellFormed(token, prefixRefresh) && !wellFormed(token, prefixKey) {
		return inactive, nil
	}
	rec, err := s.readSecret(ctx, token)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return inactive, nil
	}
	if rec.Status != StatusActive || rec.ExpiresMs > 0 && s.now().UnixMilli() >= rec.ExpiresMs {
		return inactive, nil
	}
	u, err := s.getUser(ctx, rec.Owner)
	if err != nil || u.Disabled {
		return inactive, nil
	}
	// token_type is an access token type (RFC 7662 §2.2, RFC 6749 §5.1):
	// Bearer for what is presented as one; a refresh token has none.
	typ := "Bearer"
	if rec.Kind == KindRefreshToken {
		typ = ""
	}
	return &Introspection{
		Active: true, Scope: strings.Join(Intersect(rec.Scopes, u.Scopes), " "), ClientID: rec.ClientID,
		Username: rec.Owner, TokenType: typ, Exp: rec.ExpiresMs / 1000, Iat: rec.IssuedMs / 1000, Sub: rec.Owner,
		Aud: Intersect(rec.APISets, u.APISets),
	}, nil
}

// readSecret reads a presented secret's verification record from the
// store, trying every configured digest key (current first): nil, nil
// when there is none, ErrUnavailable when the store cannot tell.
func (s *OAuth) readSecret(ctx context.Context, secret string) (*secretRecord, error) {
	for _, k := range s.keys {
		key := k.recordKey(k.digest(secret))
		rec, _, err := s.db.secrets.get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		rec.digestHint = key
		return rec, nil
	}
	return nil, nil
}

func (s *OAuth) sealClientSecret(secret, clientID string) []byte {
	if len(s.retrievable) == 0 {
		return nil
	}
	return s.retrievable[0].seal(secret, "client/"+clientID)
}

// ClientSecret returns owner's client's current secret again when
// retrievable secrets are on (seed 001's "Get existing keys").
func (s *OAuth) ClientSecret(ctx context.Context, owner, id string) (string, error) {
	c, err := s.GetClient(ctx, owner, id)
	if err != nil {
		return "", err
	}
	if len(c.SealedSecret) == 0 || len(s.retrievable) == 0 {
		return "", ErrNotRetrievable
	}
	return s.retrievable.open(c.SealedSecret, "client/"+c.ID)
}

// capExpiry is a token's expiry, no later than its client's (a client
// made by a credential expires with it).
func (c *Client) capExpiry(t time.Time) time.Time {
	if !c.Expires.IsZero() && t.After(c.Expires) {
		return c.Expires
	}
	return t
}
