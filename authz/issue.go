package authz

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// Outcomes of the issuing functions, besides ErrInvalidInput.
var (
	ErrUserExists   = errors.New("user already exists")
	ErrUserNotFound = errors.New("user not found")
	ErrHandleTaken  = errors.New("a key with this handle already exists")
	ErrNotFound     = errors.New("credential not found")
	ErrForbidden    = errors.New("not allowed")
)

// Store keys. Records of one logical object each; see store's key rules.
func userKey(name string) string            { return "user/" + name }
func credKey(id string) string              { return "cred/" + id }
func handleKey(owner, handle string) string { return "handle/" + owner + "/" + handle }
func apiKeyKey(owner string) string         { return "apikey/" + owner }

const usersIndex = "users"

func credsIndex(owner string) string { return "creds/" + owner }

// credIndexes are the indexes a credential is listed under: its owner's,
// and for OAuth tokens its client's and its family's.
func credIndexes(c *Credential) []string {
	idx := []string{credsIndex(c.Owner)}
	if c.ClientID != "" {
		idx = append(idx, clientCredsIndex(c.ClientID))
	}
	if c.Family != "" {
		idx = append(idx, familyIndex(c.Family))
	}
	if c.Parent != "" {
		idx = append(idx, childrenIndex(c.Parent))
	}
	return idx
}

// newID makes a credential id: "cred_" and 16 random bytes in base32. It
// is not secret: logs, metrics and identity headers may carry it.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "cred_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// CreateUser adds a user. API sets and scopes are what the user's
// credentials may carry.
func (s *Service) CreateUser(ctx context.Context, u User) (*User, error) {
	if !nameRe.MatchString(u.Name) {
		return nil, invalid("name", "required: 1 to 64 of letters, digits, _ . @ -")
	}
	if err := checkNames("apiSets", u.APISets, setRe); err != nil {
		return nil, err
	}
	if err := checkNames("scopes", u.Scopes, scopeRe); err != nil {
		return nil, err
	}
	for i, a := range u.Authorities {
		if a != AuthorityAdmin && a != AuthorityManageUserAPIKey {
			return nil, invalid(fmt.Sprintf("authorities[%d]", i), "%q is not one of %s, %s", a, AuthorityAdmin, AuthorityManageUserAPIKey)
		}
	}
	u.Created = s.now().UTC().Truncate(time.Millisecond)
	b, _ := json.Marshal(u)
	if _, err := s.st.Create(ctx, userKey(u.Name), b, store.WriteOptions{Indexes: []string{usersIndex}}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("%w: %q", ErrUserExists, u.Name)
		}
		return nil, err
	}
	s.publish(ctx, "u:"+u.Name) // a cached "no such user" must go
	return &u, nil
}

// GetUser returns a user from the store.
func (s *Service) GetUser(ctx context.Context, name string) (*User, error) {
	u, _, err := s.readUser(ctx, name)
	return u, err
}

func (s *Service) readUser(ctx context.Context, name string) (*User, int64, error) {
	r, err := s.st.Get(ctx, userKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, fmt.Errorf("%w: %q", ErrUserNotFound, name)
	}
	if err != nil {
		return nil, 0, err
	}
	var u User
	if err := json.Unmarshal(r.Value, &u); err != nil {
		return nil, 0, fmt.Errorf("decoding user %q: %w", name, err)
	}
	return &u, r.Version, nil
}

// ListUsers returns every user, by name.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	recs, err := s.st.List(ctx, usersIndex)
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(recs))
	for _, r := range recs {
		var u User
		if err := json.Unmarshal(r.Value, &u); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", r.Key, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// UpdateUser changes a user with change (compare-and-set, retried on a
// concurrent write) and tells every replica. Disabling a user stops every
// credential of theirs and ends their sessions (a new SessionEpoch);
// narrowing API sets or scopes narrows them.
func (s *Service) UpdateUser(ctx context.Context, name string, change func(*User) error) (*User, error) {
	for {
		u, version, err := s.readUser(ctx, name)
		if err != nil {
			return nil, err
		}
		wasDisabled := u.Disabled
		if err := change(u); err != nil {
			return nil, err
		}
		if u.Disabled && !wasDisabled {
			u.SessionEpoch = newID() // the user's sessions end
		}
		if err := checkNames("apiSets", u.APISets, setRe); err != nil {
			return nil, err
		}
		if err := checkNames("scopes", u.Scopes, scopeRe); err != nil {
			return nil, err
		}
		if err := u.RateLimit.check("rateLimit"); err != nil {
			return nil, err
		}
		b, _ := json.Marshal(u)
		_, err = s.st.Update(ctx, userKey(name), b, version, store.WriteOptions{Indexes: []string{usersIndex}})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.publish(ctx, "u:"+name)
		return u, nil
	}
}

// KeySpec describes a named API key (seeds 002, 003).
type KeySpec struct {
	Handle      string
	Alias       string
	Description string
	// APISets and Scopes default to all of the owner's.
	APISets []string
	Scopes  []string
	// Expires, if set, ends the token; by default it lives until the key
	// is deleted (seed 003).
	Expires time.Time
	// CreatedBy is the id of the credential the caller authenticated
	// with; empty after a password, a session or the CLI. The key is then
	// derived from it (see derive.go): at most its API sets, scopes and
	// expiry (an empty Expires becomes its expiry), revoked with it.
	CreatedBy string
	// Admin makes a key for the admin API: only for an owner with the
	// ADMIN authority, and never for a key made by a credential.
	Admin bool
}

// CreateKey makes a named key for owner and returns its long-lived Bearer
// token, which is not stored and cannot be shown again.
func (s *Service) CreateKey(ctx context.Context, owner string, spec KeySpec) (token string, cred *Credential, err error) {
	if !handleRe.MatchString(spec.Handle) {
		return "", nil, invalid("handle", "required: 1 to 64 of letters, digits, _ . -")
	}
	if len(spec.Alias) > 64 {
		return "", nil, invalid("alias", "at most 64 characters")
	}
	if len(spec.Description) > 1024 {
		return "", nil, invalid("description", "at most 1024 characters")
	}
	if err := checkExpiry("expiresAt", spec.Expires, s.now()); err != nil {
		return "", nil, err
	}
	u, err := s.GetUser(ctx, owner)
	if err != nil {
		return "", nil, err
	}
	if u.Disabled {
		return "", nil, fmt.Errorf("%w: user %q is disabled", ErrForbidden, owner)
	}
	if spec.Admin {
		if spec.CreatedBy != "" {
			return "", nil, fmt.Errorf("%w: a key for the admin API is made after a password sign-in or by the CLI, not by a credential", ErrForbidden)
		}
		if !slices.Contains(u.Authorities, AuthorityAdmin) {
			return "", nil, invalid("admin", "%q does not hold the %s authority", owner, AuthorityAdmin)
		}
	}
	parent, err := s.Creator(ctx, owner, spec.CreatedBy)
	if err != nil {
		return "", nil, err
	}
	if parent != nil {
		// Empty means all of the creator's, not all of the owner's.
		if len(spec.APISets) == 0 {
			spec.APISets = intersect(parent.APISets, u.APISets)
		}
		if len(spec.Scopes) == 0 {
			spec.Scopes = intersect(parent.Scopes, u.Scopes)
		}
	}
	sets, scopes, err := narrow(u, spec.APISets, spec.Scopes)
	if err != nil {
		return "", nil, err
	}
	if parent != nil {
		if spec.Expires, err = deriveFrom(parent, sets, scopes, spec.Expires, "expiresAt"); err != nil {
			return "", nil, err
		}
	}

	cred = &Credential{
		ID: newID(), Kind: KindKeyToken, Owner: owner,
		Handle: spec.Handle, Alias: spec.Alias, Description: spec.Description,
		APISets: sets, Scopes: scopes, Status: StatusActive,
		Created: s.now().UTC().Truncate(time.Millisecond), Expires: spec.Expires,
		Parent: parent.id(), Admin: spec.Admin,
	}
	// The handle is reserved first: of concurrent creates with one handle,
	// exactly one wins.
	if _, err := s.st.Create(ctx, handleKey(owner, spec.Handle), []byte(cred.ID), store.WriteOptions{}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", nil, fmt.Errorf("%w: %q", ErrHandleTaken, spec.Handle)
		}
		return "", nil, err
	}
	token = newSecret(prefixKey)
	if len(s.retrievable) > 0 {
		cred.SealedSecret = s.retrievable[0].seal(token, cred.ID)
	}
	if err := s.writeNew(ctx, cred, token, nil); err != nil {
		_ = s.st.Delete(context.WithoutCancel(ctx), handleKey(owner, spec.Handle), 0)
		return "", nil, err
	}
	if parent != nil {
		if err := s.stillActive(ctx, parent, func(ctx context.Context) error { return s.DeleteKey(ctx, owner, spec.Handle) }); err != nil {
			return "", nil, err
		}
	}
	return token, cred, nil
}

// IssueAccessToken makes a short-lived Bearer access token for owner (the
// OAuth token endpoint's job; also useful to tests and operators).
func (s *Service) IssueAccessToken(ctx context.Context, owner string, apiSets, scopes []string, ttl time.Duration) (string, *Credential, error) {
	if err := checkLifetime("ttl", ttl); err != nil {
		return "", nil, err
	}
	u, err := s.GetUser(ctx, owner)
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

// narrow applies a credential's requested API sets and scopes to what
// its owner has: empty means all of the owner's; more is refused.
func narrow(u *User, sets, scopes []string) ([]string, []string, error) {
	if err := checkNames("apiSets", sets, setRe); err != nil {
		return nil, nil, err
	}
	if err := checkNames("scopes", scopes, scopeRe); err != nil {
		return nil, nil, err
	}
	if len(sets) == 0 {
		sets = slices.Clone(u.APISets)
	}
	if len(scopes) == 0 {
		scopes = slices.Clone(u.Scopes)
	}
	if err := within("apiSets", sets, u.APISets); err != nil {
		return nil, nil, err
	}
	if err := within("scopes", scopes, u.Scopes); err != nil {
		return nil, nil, err
	}
	return sets, scopes, nil
}

// writeNew stores a new credential: the verification record under the
// secret's digest, then the management record. extra fills the
// verification record's ApiKey fields.
func (s *Service) writeNew(ctx context.Context, cred *Credential, secret string, extra func(*secretRecord)) error {
	k := s.keys[0]
	cred.Digest = k.recordKey(k.digest(secret))
	rec := secretRecord{
		CredentialID: cred.ID, Kind: cred.Kind, Owner: cred.Owner,
		APISets: cred.APISets, Scopes: cred.Scopes, Status: cred.Status,
		IssuedMs: cred.Created.UnixMilli(), ClientID: cred.ClientID, Family: cred.Family,
	}
	var opts store.WriteOptions
	if !cred.Expires.IsZero() {
		rec.ExpiresMs = cred.Expires.UnixMilli()
		opts.TTL = time.Until(cred.Expires) + time.Minute
	}
	if extra != nil {
		extra(&rec)
	}
	b, _ := json.Marshal(rec)
	if _, err := s.st.Create(ctx, cred.Digest, b, opts); err != nil {
		return fmt.Errorf("storing credential: %w", err)
	}
	cb, _ := json.Marshal(cred)
	copts := opts
	copts.Indexes = credIndexes(cred)
	if _, err := s.st.Create(ctx, credKey(cred.ID), cb, copts); err != nil {
		_ = s.st.Delete(context.WithoutCancel(ctx), cred.Digest, 0)
		return fmt.Errorf("storing credential: %w", err)
	}
	// A cached "unknown" for this digest (someone tried the token before
	// it existed: practically impossible, but cheap to rule out) must go.
	s.publish(ctx, "d:"+cred.Digest)
	return nil
}

// Credential returns a credential's management record.
func (s *Service) Credential(ctx context.Context, id string) (*Credential, error) {
	c, _, err := s.readCred(ctx, id)
	return c, err
}

func (s *Service) readCred(ctx context.Context, id string) (*Credential, int64, error) {
	r, err := s.st.Get(ctx, credKey(id))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		return nil, 0, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, 0, err
	}
	var c Credential
	if err := json.Unmarshal(r.Value, &c); err != nil {
		return nil, 0, fmt.Errorf("decoding %s: %w", r.Key, err)
	}
	return &c, r.Version, nil
}

// Credentials lists a user's credentials (never their secrets).
func (s *Service) Credentials(ctx context.Context, owner string) ([]Credential, error) {
	recs, err := s.st.List(ctx, credsIndex(owner))
	if err != nil {
		return nil, err
	}
	out := make([]Credential, 0, len(recs))
	for _, r := range recs {
		var c Credential
		if err := json.Unmarshal(r.Value, &c); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", r.Key, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// updateCred changes a credential's management record with
// compare-and-set.
func (s *Service) updateCred(ctx context.Context, id string, change func(*Credential)) (*Credential, error) {
	for {
		c, version, err := s.readCred(ctx, id)
		if err != nil {
			return nil, err
		}
		change(c)
		b, _ := json.Marshal(c)
		opts := store.WriteOptions{Indexes: credIndexes(c)}
		if !c.Expires.IsZero() {
			opts.TTL = time.Until(c.Expires) + time.Minute
		}
		_, err = s.st.Update(ctx, credKey(id), b, version, opts)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return c, err
	}
}

// updateSecret changes a verification record with compare-and-set;
// change returns false to leave it as it is.
func (s *Service) updateSecret(ctx context.Context, key string, change func(*secretRecord) bool) error {
	for {
		r, err := s.st.Get(ctx, key)
		if err != nil {
			return err
		}
		var rec secretRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			return fmt.Errorf("decoding %s: %w", key, err)
		}
		if !change(&rec) {
			return nil
		}
		b, _ := json.Marshal(rec)
		opts := store.WriteOptions{}
		if !r.ExpiresAt.IsZero() {
			opts.TTL = time.Until(r.ExpiresAt)
		}
		_, err = s.st.Update(ctx, key, b, r.Version, opts)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return err
	}
}

// Revoke takes a credential away: its secret stops working on every
// replica (within moments; at worst auth.cache_ttl if a message is lost),
// and the record stays, marked revoked, for audit.
func (s *Service) Revoke(ctx context.Context, id string) error {
	c, err := s.updateCred(ctx, id, func(c *Credential) { c.Status = StatusRevoked })
	if err != nil {
		return err
	}
	if err := s.st.Delete(ctx, c.Digest, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.publish(ctx, "d:"+c.Digest)
	s.log.Info("credential revoked", zap.String("audit", "revoke"), zap.String("credential_id", id), zap.String("owner", c.Owner))
	// What it made ends with it (derive.go).
	return s.revokeChildren(ctx, c)
}

// DeleteKey revokes owner's named key and frees its handle (seed 003: the
// token works until its key is deleted).
func (s *Service) DeleteKey(ctx context.Context, owner, handle string) error {
	r, err := s.st.Get(ctx, handleKey(owner, handle))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		return fmt.Errorf("%w: key %q of %q", ErrNotFound, handle, owner)
	}
	if err != nil {
		return err
	}
	if err := s.Revoke(ctx, string(r.Value)); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := s.st.Delete(ctx, handleKey(owner, handle), r.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// KeyByHandle returns owner's named key.
func (s *Service) KeyByHandle(ctx context.Context, owner, handle string) (*Credential, error) {
	r, err := s.st.Get(ctx, handleKey(owner, handle))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		return nil, fmt.Errorf("%w: key %q of %q", ErrNotFound, handle, owner)
	}
	if err != nil {
		return nil, err
	}
	return s.Credential(ctx, string(r.Value))
}

// APIKey returns owner's ApiKey key, creating it the first time (seed
// 004: the key never changes). Until NewAPIKeyToken is called it has no
// token, so nothing authenticates with it yet.
func (s *Service) APIKey(ctx context.Context, owner string) (key string, cred *Credential, err error) {
	for {
		r, err := s.st.Get(ctx, apiKeyKey(owner))
		if err == nil {
			c, err := s.Credential(ctx, string(r.Value))
			if err != nil {
				return "", nil, err
			}
			key, err := s.keys.open(c.SealedKey, c.ID)
			if err != nil {
				return "", nil, err
			}
			return key, c, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", nil, err
		}
		u, err := s.GetUser(ctx, owner)
		if err != nil {
			return "", nil, err
		}
		cred := &Credential{ID: newID(), Kind: KindAPIKey, Owner: owner, APISets: slices.Clone(u.APISets),
			Scopes: slices.Clone(u.Scopes), Status: StatusActive, Created: s.now().UTC().Truncate(time.Millisecond)}
		// One key per user: of concurrent first calls, one creates it and
		// the others read it on the next turn of the loop.
		if _, err := s.st.Create(ctx, apiKeyKey(owner), []byte(cred.ID), store.WriteOptions{}); err != nil {
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return "", nil, err
		}
		key = newSecret(prefixAPIKey)
		cred.SealedKey = s.keys[0].seal(key, cred.ID)
		if err := s.writeNew(ctx, cred, key, nil); err != nil {
			_ = s.st.Delete(context.WithoutCancel(ctx), apiKeyKey(owner), 0)
			return "", nil, err
		}
		return key, cred, nil
	}
}

// NewAPIKeyToken generates owner's ApiKey token (seed 004): every earlier
// token stops working on every replica, a voided key works again with the
// new token, and the token is returned once.
func (s *Service) NewAPIKeyToken(ctx context.Context, owner string) (key, token string, err error) {
	key, cred, err := s.APIKey(ctx, owner)
	if err != nil {
		return "", "", err
	}
	token = newSecret(prefixAPITok)
	k := s.keys[0]
	td := k.digest(token)
	var gen int64
	err = s.updateSecret(ctx, cred.Digest, func(r *secretRecord) bool {
		r.TokenDigest, r.TokenKeyID = hex.EncodeToString(td[:]), k.id
		r.Generation++
		r.Status = StatusActive
		gen = r.Generation
		return true
	})
	if err != nil {
		return "", "", err
	}
	if _, err := s.updateCred(ctx, cred.ID, func(c *Credential) {
		c.Generation, c.Status = gen, StatusActive
	}); err != nil {
		return "", "", err
	}
	s.publish(ctx, "d:"+cred.Digest)
	s.log.Info("ApiKey token generated", zap.String("audit", "rotate"), zap.String("credential_id", cred.ID), zap.String("owner", owner), zap.Int64("generation", gen))
	return key, token, nil
}

// markVoided records a void on the current generation only (a token
// generated meanwhile stays valid).
func (s *Service) markVoided(ctx context.Context, id string, generation int64) error {
	c, err := s.Credential(ctx, id)
	if err != nil {
		return err
	}
	err = s.updateSecret(ctx, c.Digest, func(r *secretRecord) bool {
		if r.Generation != generation || r.Status != StatusActive {
			return false
		}
		r.Status = StatusVoided
		return true
	})
	if err != nil {
		return err
	}
	_, err = s.updateCred(ctx, id, func(c *Credential) {
		if c.Generation == generation && c.Status == StatusActive {
			c.Status = StatusVoided
		}
	})
	return err
}

// Unvoid makes owner's voided ApiKey token work again (an administrator's
// decision) and clears its wrong-token count.
func (s *Service) Unvoid(ctx context.Context, owner string) error {
	r, err := s.st.Get(ctx, apiKeyKey(owner))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q has no ApiKey", ErrNotFound, owner)
	}
	if err != nil {
		return err
	}
	id := string(r.Value)
	c, err := s.Credential(ctx, id)
	if err != nil {
		return err
	}
	if err := s.st.ClearStrikes(ctx, strikeKey(id, c.Generation)); err != nil {
		return err
	}
	if err := s.updateSecret(ctx, c.Digest, func(r *secretRecord) bool {
		if r.Status != StatusVoided {
			return false
		}
		r.Status = StatusActive
		return true
	}); err != nil {
		return err
	}
	if _, err := s.updateCred(ctx, id, func(c *Credential) {
		if c.Status == StatusVoided {
			c.Status = StatusActive
		}
	}); err != nil {
		return err
	}
	s.publish(ctx, "d:"+c.Digest)
	s.log.Info("ApiKey token unvoided", zap.String("audit", "unvoid"), zap.String("credential_id", id), zap.String("owner", owner))
	return nil
}

// ErrNotRetrievable: the secret was shown once and is not kept (no
// auth.encryption_keys were configured when it was made).
var ErrNotRetrievable = errors.New("the secret is not retrievable: it was shown once")
