package authz

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/internal/audit"
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

// Accounts keeps users, named keys, the ApiKey pair, and credentials
// made by credentials (derive.go); [Passwords] keeps the users'
// passwords. It is safe for concurrent use.
type Accounts struct {
	*core
}

// CreateUser adds a user. API sets and scopes are what the user's
// credentials may carry.
func (s *Accounts) CreateUser(ctx context.Context, u User) (*User, error) {
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
	if err := s.db.users.create(ctx, u.Name, &u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("%w: %q", ErrUserExists, u.Name)
		}
		return nil, err
	}
	s.publish(ctx, "u:"+u.Name) // a cached "no such user" must go
	s.audit(ctx, audit.CreateUser, audit.User(u.Name), zap.Strings("authorities", u.Authorities),
		zap.Strings("api_sets", u.APISets), zap.Strings("scopes", u.Scopes))
	return &u, nil
}

// GetUser returns a user from the store.
func (s *Accounts) GetUser(ctx context.Context, name string) (*User, error) {
	return s.getUser(ctx, name)
}

// ListUsers returns every user, by name.
func (s *Accounts) ListUsers(ctx context.Context) ([]User, error) {
	return s.db.users.list(ctx, usersIndex)
}

// UpdateUser changes a user with change (compare-and-set, retried on a
// concurrent write) and tells every replica. Disabling a user stops every
// credential of theirs and ends their sessions (a new SessionEpoch);
// narrowing API sets or scopes narrows them.
//
// Its audit line is disable_user or enable_user when the change does
// that, else update_user, and names the fields changed.
func (s *Accounts) UpdateUser(ctx context.Context, name string, change func(*User) error) (*User, error) {
	var before User
	u, err := s.updateUser(ctx, name, func(u *User) error {
		before = *u
		return change(u)
	})
	if err != nil {
		return nil, err
	}
	action := audit.UpdateUser
	switch {
	case u.Disabled && !before.Disabled:
		action = audit.DisableUser
	case !u.Disabled && before.Disabled:
		action = audit.EnableUser
	}
	var changed []string
	for _, f := range []struct {
		name string
		same bool
	}{
		{"disabled", u.Disabled == before.Disabled},
		{"apiSets", slices.Equal(u.APISets, before.APISets)},
		{"scopes", slices.Equal(u.Scopes, before.Scopes)},
		{"authorities", slices.Equal(u.Authorities, before.Authorities)},
		{"rateLimit", reflect.DeepEqual(u.RateLimit, before.RateLimit)},
	} {
		if !f.same {
			changed = append(changed, f.name)
		}
	}
	fields := []zap.Field{zap.Strings("changed", changed), zap.Bool("disabled", u.Disabled),
		zap.Strings("authorities", u.Authorities), zap.Strings("api_sets", u.APISets), zap.Strings("scopes", u.Scopes)}
	if l := u.RateLimit; l != nil {
		fields = append(fields, zap.Int("rate", l.Rate), zap.String("per", l.Per), zap.Int("burst", l.Burst))
	}
	s.audit(ctx, action, audit.User(name), fields...)
	return u, nil
}

// updateUser is UpdateUser without its audit line.
func (s *Accounts) updateUser(ctx context.Context, name string, change func(*User) error) (*User, error) {
	u, err := s.db.users.update(ctx, name, func(u *User) error {
		wasDisabled := u.Disabled
		if err := change(u); err != nil {
			return err
		}
		if u.Disabled && !wasDisabled {
			u.SessionEpoch = newID() // the user's sessions end
		}
		if err := checkNames("apiSets", u.APISets, setRe); err != nil {
			return err
		}
		if err := checkNames("scopes", u.Scopes, scopeRe); err != nil {
			return err
		}
		return u.RateLimit.check("rateLimit")
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, "u:"+name)
	return u, nil
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
func (s *Accounts) CreateKey(ctx context.Context, owner string, spec KeySpec) (token string, cred *Credential, err error) {
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
	parent, err := s.creator(ctx, owner, spec.CreatedBy)
	if err != nil {
		return "", nil, err
	}
	if parent != nil {
		// Empty means all of the creator's, not all of the owner's.
		if len(spec.APISets) == 0 {
			spec.APISets = Intersect(parent.APISets, u.APISets)
		}
		if len(spec.Scopes) == 0 {
			spec.Scopes = Intersect(parent.Scopes, u.Scopes)
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
	if err := s.db.refs.create(ctx, handleKey(owner, spec.Handle), &cred.ID); err != nil {
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
		_ = s.db.refs.delete(context.WithoutCancel(ctx), handleKey(owner, spec.Handle), 0)
		return "", nil, err
	}
	if parent != nil {
		if err := s.stillActive(ctx, parent, func(ctx context.Context) error {
			_, err := s.deleteKey(ctx, owner, spec.Handle, &cascade{})
			return err
		}); err != nil {
			return "", nil, err
		}
	}
	fields := []zap.Field{zap.String("handle", cred.Handle), zap.Strings("api_sets", cred.APISets), zap.Strings("scopes", cred.Scopes)}
	if cred.Admin {
		fields = append(fields, zap.Bool("admin", true))
	}
	if !cred.Expires.IsZero() {
		fields = append(fields, zap.Time("expires", cred.Expires))
	}
	if cred.Parent != "" {
		fields = append(fields, zap.String("parent", cred.Parent))
	}
	s.audit(ctx, audit.CreateKey, audit.Credential(cred.ID, owner), fields...)
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

// Credential returns a credential's management record.
func (s *Accounts) Credential(ctx context.Context, id string) (*Credential, error) {
	c, _, err := s.db.creds.get(ctx, id)
	return c, err
}

// Credentials lists a user's credentials (never their secrets).
func (s *Accounts) Credentials(ctx context.Context, owner string) ([]Credential, error) {
	return s.db.creds.list(ctx, credsIndex(owner))
}

// Revoke takes a credential away: its secret stops working on every
// replica (within moments; at worst auth.cache_ttl if a message is lost),
// and the record stays, marked revoked, for audit. What it made ends with
// it (derive.go).
func (s *Accounts) Revoke(ctx context.Context, id string) error {
	var cs cascade
	c, err := s.revoke(ctx, id, &cs)
	if c != nil {
		// The credential is revoked even if its cascade was cut short.
		fields := cs.fields(zap.String("kind", string(c.Kind)))
		if err != nil {
			fields = append(fields, zap.NamedError("cascade_error", err))
		}
		s.audit(ctx, audit.Revoke, audit.Credential(c.ID, c.Owner), fields...)
	}
	return err
}

// DeleteKey revokes owner's named key and frees its handle (seed 003: the
// token works until its key is deleted).
func (s *Accounts) DeleteKey(ctx context.Context, owner, handle string) error {
	var cs cascade
	id, err := s.deleteKey(ctx, owner, handle, &cs)
	if err != nil {
		return err
	}
	s.audit(ctx, audit.DeleteKey, audit.Credential(id, owner), cs.fields(zap.String("handle", handle))...)
	return nil
}

// deleteKey is DeleteKey without its audit line; it returns the key's id.
func (s *Accounts) deleteKey(ctx context.Context, owner, handle string, cs *cascade) (string, error) {
	id, version, err := s.handle(ctx, owner, handle)
	if err != nil {
		return "", err
	}
	if _, err := s.revoke(ctx, *id, cs); err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	if err := s.db.refs.delete(ctx, handleKey(owner, handle), version); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	return *id, nil
}

// KeyByHandle returns owner's named key.
func (s *Accounts) KeyByHandle(ctx context.Context, owner, handle string) (*Credential, error) {
	id, _, err := s.handle(ctx, owner, handle)
	if err != nil {
		return nil, err
	}
	return s.Credential(ctx, *id)
}

// handle reads the id of owner's named key, and the version of the
// record that reserves its handle.
func (s *Accounts) handle(ctx context.Context, owner, handle string) (*string, int64, error) {
	id, version, err := s.db.refs.get(ctx, handleKey(owner, handle))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		return nil, 0, fmt.Errorf("%w: key %q of %q", ErrNotFound, handle, owner)
	}
	return id, version, err
}

// ErrNotRetrievable: the secret was shown once and is not kept (no
// auth.encryption_keys were configured when it was made).
var ErrNotRetrievable = errors.New("the secret is not retrievable: it was shown once")
