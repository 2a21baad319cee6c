package authz

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Authorities a user may hold (seed 002).
const (
	AuthorityAdmin            = "ADMIN"
	AuthorityManageUserAPIKey = "MANAGE_USER_API_KEY"
)

// User is a keygate account: what it may do and which API sets and scopes
// its credentials may carry.
type User struct {
	Name        string    `json:"name"`
	Authorities []string  `json:"authorities,omitempty"`
	APISets     []string  `json:"apiSets"`
	Scopes      []string  `json:"scopes"`
	Disabled    bool      `json:"disabled,omitempty"`
	Created     time.Time `json:"created"`
	// RateLimit, if set, is the user's own rate limit (see RateLimit).
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// SessionEpoch changes, to a new random value, whenever the user's
	// password is set and whenever the user is disabled; a session of the
	// account pages made under another epoch has ended.
	SessionEpoch string `json:"sessionEpoch,omitempty"`
}

// Has reports whether the user holds an authority (ADMIN holds them all).
func (u *User) Has(authority string) bool {
	return slices.Contains(u.Authorities, AuthorityAdmin) || slices.Contains(u.Authorities, authority)
}

// Status of a credential.
type Status string

const (
	StatusActive  Status = "active"
	StatusVoided  Status = "voided"  // ApiKey token after too many wrong tokens
	StatusRevoked Status = "revoked" // taken away; kept for audit
	StatusRotated Status = "rotated" // a refresh token already exchanged
)

// Credential is the management view of an issued credential. It never
// holds a secret, only where its digest is stored.
type Credential struct {
	ID          string    `json:"id"`
	Kind        Kind      `json:"kind"`
	Owner       string    `json:"owner"`
	Handle      string    `json:"handle,omitempty"`
	Alias       string    `json:"alias,omitempty"`
	Description string    `json:"description,omitempty"`
	APISets     []string  `json:"apiSets"`
	Scopes      []string  `json:"scopes"`
	Status      Status    `json:"status"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires,omitzero"`
	LastUsed    time.Time `json:"lastUsed,omitzero"`
	// ClientID and Family: for OAuth tokens, the client that obtained
	// them and the refresh-token family they belong to.
	ClientID string `json:"clientId,omitempty"`
	Family   string `json:"family,omitempty"`
	// Generation counts ApiKey tokens: each new token is the next one.
	Generation int64 `json:"generation,omitempty"`
	// Digest is the store key of the verification record (a keyed
	// digest of the secret, not the secret).
	Digest string `json:"digest"`
	// SealedKey is the ApiKey key, encrypted with a key derived from the
	// digest key, so the never-changing key can be shown again (seed 004).
	SealedKey []byte `json:"sealedKey,omitempty"`
	// RateLimit, if set, is the credential's own rate limit.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// Quota, if set, is the credential's own request quota.
	Quota *Quota `json:"quota,omitempty"`
	// SealedSecret is a named key's token, encrypted under
	// auth.encryption_keys when they are configured (retrievable secrets).
	SealedSecret []byte `json:"sealedSecret,omitempty"`
	// Parent is the id of the credential this one was made with; empty
	// when it was made after a password, an account-page session or by
	// the CLI. It ends when its parent does (see derive.go).
	Parent string `json:"parent,omitempty"`
	// Admin: a named key made for the admin API (by an administrator
	// signed in with a password, or the CLI); no other credential is
	// accepted there.
	Admin bool `json:"admin,omitempty"`
}

// Identity is who a verified credential speaks for, as the upstream is
// told. It holds no secret. API sets and scopes are the credential's,
// narrowed to what its owner has now.
type Identity struct {
	User         string
	CredentialID string
	Kind         Kind
	APISets      []string
	Scopes       []string
	// CredentialRate is the credential's own rate limit, else its
	// owner's; UserRate the owner's. Nil: the configured limits.
	CredentialRate, UserRate *Rate
	// Quota is the credential's own number of requests per quota period;
	// nil: the configured ones.
	Quota *int64

	once    sync.Once
	headers *IdentityHeaders
}

var (
	nameRe   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.@-]{0,63}$`)
	handleRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)
	setRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	scopeRe  = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,63}$`)
)

// ErrInvalidInput is what every *InputError is (errors.Is): a complaint
// about a field of a request to create or change something.
var ErrInvalidInput = errors.New("invalid input")

// InputError is a complaint about one field of a request to create or
// change something. Front ends find it with errors.As and answer with
// Field and Reason (both safe to show the caller); it matches
// ErrInvalidInput with errors.Is.
type InputError struct {
	// Field is the field's path as the request names it, for example
	// "handle", "apiSets[2]" or "rateLimit.per".
	Field string
	// Reason says what is wrong with it, for example "at most 64
	// characters".
	Reason string
}

// Error is "invalid input: <field>: <reason>".
func (e *InputError) Error() string { return ErrInvalidInput.Error() + ": " + e.Message() }

// Message is "<field>: <reason>", the sentence a front end shows.
func (e *InputError) Message() string { return e.Field + ": " + e.Reason }

// Is makes an InputError match ErrInvalidInput.
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

func invalid(field, format string, args ...any) error {
	return &InputError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func checkNames(field string, names []string, re *regexp.Regexp) error {
	if len(names) > 64 {
		return invalid(field, "at most 64 entries")
	}
	for i, n := range names {
		if !re.MatchString(n) {
			return invalid(fmt.Sprintf("%s[%d]", field, i), "%q is not a valid name", n)
		}
		if slices.Contains(names[:i], n) {
			return invalid(fmt.Sprintf("%s[%d]", field, i), "%q is listed twice", n)
		}
	}
	return nil
}

// within checks that every wanted name is in have (a credential never gets
// more than its owner).
func within(field string, want, have []string) error {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return invalid(field, "%q is not granted to the owner", w)
		}
	}
	return nil
}

// Intersect returns the names of a that are also in b, in a's order.
func Intersect(a, b []string) []string {
	out := make([]string, 0, len(a))
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// IdentityHeaders are an Identity's values as the upstream is told them,
// built once per cached credential so that a request allocates none.
type IdentityHeaders struct {
	User, CredentialID, Kind, APISets, Scopes []string
}

// HeaderValues returns the identity as header values (API sets and scopes
// comma-separated). The slices are shared: never modify them.
func (id *Identity) HeaderValues() *IdentityHeaders {
	id.once.Do(func() {
		id.headers = &IdentityHeaders{
			User:         []string{id.User},
			CredentialID: []string{id.CredentialID},
			Kind:         []string{string(id.Kind)},
			APISets:      []string{strings.Join(id.APISets, ",")},
			Scopes:       []string{strings.Join(id.Scopes, ",")},
		}
	})
	return id.headers
}
