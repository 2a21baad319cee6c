package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/store"
)

// Cookie names. The session cookie holds a session id; the sign-in cookie
// holds the CSRF token of the sign-in form (double submit: there is no
// session yet to keep it in). Over TLS the sign-in cookie is
// signinCookieHost (see setSigninCookie).
const (
	sessionCookie    = "keygate_session"
	signinCookie     = "keygate_signin"
	signinCookieHost = "__Host-keygate_signin"
)

// sessionStore is what the pages need of the store: session records.
type sessionStore interface {
	Get(ctx context.Context, key string) (store.Record, error)
	Put(ctx context.Context, key string, value []byte, opts store.WriteOptions) (int64, error)
	Delete(ctx context.Context, key string, version int64) error
	Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
}

// session is one signed-in browser. Its record is stored under the digest
// of the id, so the store never holds what the cookie holds.
type session struct {
	User string `json:"user"`
	// Epoch is the user's SessionEpoch at sign-in: once it changes (the
	// password was set, the user disabled), the session has ended.
	Epoch   string    `json:"epoch,omitempty"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Seen    time.Time `json:"seen"`

	id string // from the cookie; not stored
}

// newToken is 32 bytes from crypto/rand, base64url.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sessionKey(id string) string { return "account-session/" + digestHex(id) }

// digestHex is the SHA-256 of a token in hex: what the store holds
// instead of the token.
func digestHex(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}

// validToken accepts only what newToken makes (43 base64url characters),
// so a cookie never reaches the store otherwise.
func validToken(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// errNoSession: no cookie, an unknown or malformed one, or a session past
// its idle or absolute deadline.
var errNoSession = errors.New("account: no session")

// expiry is when a session ends: idle after its last use, or absolute
// after sign-in, whichever comes first.
func (h *Handler) expiry(s *session) time.Time {
	idle := s.Seen.Add(h.idle)
	if abs := s.Created.Add(h.absolute); abs.Before(idle) {
		return abs
	}
	return idle
}

// save writes the session with a TTL up to its expiry (the store drops it
// then even if nobody signs out).
func (h *Handler) save(ctx context.Context, s *session) error {
	ttl := h.expiry(s).Sub(h.now())
	if ttl <= 0 {
		return errNoSession
	}
	b, _ := json.Marshal(s)
	if _, err := h.sessions.Put(ctx, sessionKey(s.id), b, store.WriteOptions{TTL: ttl}); err != nil {
		return fmt.Errorf("storing session: %w", err)
	}
	return nil
}

// startSession makes a new session for u (a new id every sign-in: a
// session id known before sign-in is worth nothing after it), under the
// SessionEpoch u had when their password was checked.
func (h *Handler) startSession(ctx context.Context, u *authz.User) (*session, error) {
	now := h.now()
	s := &session{User: u.Name, Epoch: u.SessionEpoch, CSRF: newToken(), Created: now, Seen: now, id: newToken()}
	return s, h.save(ctx, s)
}

// loadSession finds the request's session and marks it used now. A
// session past a deadline is deleted and is errNoSession; store trouble
// is an error of its own (the page answers 503, never "signed out").
func (h *Handler) loadSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || !validToken(c.Value) {
		return nil, errNoSession
	}
	ctx := r.Context()
	rec, err := h.sessions.Get(ctx, sessionKey(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	var s session
	if err := json.Unmarshal(rec.Value, &s); err != nil {
		return nil, fmt.Errorf("decoding session: %w", err)
	}
	s.id = c.Value
	if !h.now().Before(h.expiry(&s)) {
		_ = h.sessions.Delete(ctx, sessionKey(s.id), 0)
		return nil, errNoSession
	}
	s.Seen = h.now()
	if err := h.save(ctx, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// endSession deletes the session record: its cookie is worth nothing from
// now on, wherever a copy of it is.
func (h *Handler) endSession(ctx context.Context, s *session) error {
	err := h.sessions.Delete(ctx, sessionKey(s.id), 0)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// sameToken compares a submitted CSRF token with the expected one in
// constant time; an empty expected token matches nothing.
func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// setCookie writes a cookie of the pages: HttpOnly, SameSite=Strict,
// scoped to the pages' path, Secure as secure says. maxAge < 0 deletes it.
func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: h.base, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.secure(r),
	})
}

// signinCookieName is the sign-in cookie's name for r: signinCookieHost
// when its cookies are Secure, signinCookie otherwise.
func (h *Handler) signinCookieName(r *http.Request) string {
	if h.secure(r) {
		return signinCookieHost
	}
	return signinCookie
}

// setSigninCookie writes the sign-in form's CSRF cookie. Over TLS it is
// named with the __Host- prefix, which a browser accepts only from a
// secure origin, Secure, with Path=/ and no Domain: a page on another
// subdomain or on plain HTTP of the same host cannot plant a token of its
// choosing (cookie tossing), which would defeat the double submit. The
// price is Path=/: the cookie, a random token worth nothing but to this
// form, is also sent to the host's other paths.
func (h *Handler) setSigninCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	if !h.secure(r) {
		h.setCookie(w, r, signinCookie, value, maxAge)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: signinCookieHost, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: true,
	})
}
