package authz

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/keygate/keygate/store"
)

// ErrTooManyAttempts: password sign-in is refused for a while after too
// many failures for the user or from the address (429).
var ErrTooManyAttempts = errors.New("too many failed attempts")

// argon2id parameters (OWASP's second recommended set: 19 MiB, 2 passes,
// 1 lane), written into each hash so they can be raised later.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

func passwordKey(name string) string { return "password/" + name }

// SetPassword sets a user's password (seed 003: "authenticate using your
// credentials"), stored as an argon2id hash in a record of its own.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if len(password) < 8 || len(password) > 256 {
		return invalid("password", "must be 8 to 256 bytes")
	}
	if _, err := s.GetUser(ctx, name); err != nil {
		return err
	}
	if _, err := s.st.Put(ctx, passwordKey(name), []byte(hashPassword(password)), store.WriteOptions{}); err != nil {
		return err
	}
	return s.st.ResetCounter(ctx, failKey("u", name))
}

func hashPassword(password string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	h := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(h))
}

// passwordMatches checks a password against an argon2id hash in constant
// time; a malformed hash matches nothing.
func passwordMatches(password, encoded string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when the user does not exist, so that an
// unknown name costs what a wrong password costs.
var dummyHash = hashPassword("keygate-dummy-password")

func failKey(kind, who string) string { return "pwfail/" + kind + "/" + who }

// CheckPassword signs a user in with their password. Unknown user, wrong
// password and disabled user are all ErrInvalid. Failures count per user
// and per client address within self_service.password_failure_window; past
// the limits every attempt is ErrTooManyAttempts, right or wrong.
func (s *Service) CheckPassword(ctx context.Context, name, password string, client netip.Addr) (*User, error) {
	ss := s.selfSvc
	addr := client.String()
	if !nameRe.MatchString(name) {
		name = "_invalid" // still counted and timed like any other name
	}
	for _, c := range []struct {
		key   string
		limit int
	}{{failKey("u", name), ss.MaxPasswordFailuresPerUser}, {failKey("a", addr), ss.MaxPasswordFailuresPerAddress}} {
		n, err := s.st.Counter(ctx, c.key)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if n >= int64(c.limit) {
			return nil, ErrTooManyAttempts
		}
	}
	hash := dummyHash
	r, err := s.st.Get(ctx, passwordKey(name))
	switch {
	case err == nil:
		hash = string(r.Value)
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	ok := passwordMatches(password, hash) && err == nil
	var u *User
	if ok {
		if u, err = s.GetUser(ctx, name); err != nil || u.Disabled {
			ok = false
		}
	}
	if !ok {
		for _, key := range []string{failKey("u", name), failKey("a", addr)} {
			if _, err := s.st.Incr(ctx, key, 1, ss.PasswordFailureWindow); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
		}
		return nil, ErrInvalid
	}
	if err := s.st.ResetCounter(ctx, failKey("u", name)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return u, nil
}

// APIKeyStatus reports owner's ApiKey token state (seed 004): its status
// and the wrong tokens counted since the last success.
func (s *Service) APIKeyStatus(ctx context.Context, owner string) (Status, int64, error) {
	r, err := s.st.Get(ctx, apiKeyKey(owner))
	if errors.Is(err, store.ErrNotFound) {
		return "", 0, fmt.Errorf("%w: %q has no ApiKey", ErrNotFound, owner)
	}
	if err != nil {
		return "", 0, err
	}
	c, err := s.Credential(ctx, string(r.Value))
	if err != nil {
		return "", 0, err
	}
	st, err := s.st.Strikes(ctx, strikeKey(c.ID, c.Generation))
	if err != nil {
		return "", 0, err
	}
	status := c.Status
	if st.Tripped {
		status = StatusVoided
	}
	return status, st.Count, nil
}
