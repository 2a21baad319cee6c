package account

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/internal/httpkit"
)

// maxFormBytes bounds a form body; the largest form (a new key's
// description and API sets) is far smaller.
const maxFormBytes = 64 << 10

// visit is a signed-in request: its session and the user as the store
// has them now.
type visit struct {
	s    *session
	user *authz.User
}

// pageFunc serves one page for a signed-in user.
type pageFunc func(w http.ResponseWriter, r *http.Request, v *visit) error

// routes registers every page. GET pages render; POST pages change
// something and carry the session's CSRF token.
func (h *Handler) routes() {
	b := h.base
	h.mux.Handle("GET "+b+"/static/{file}", h.static())
	h.mux.HandleFunc("GET "+b+"/{$}", h.home)
	h.mux.HandleFunc("GET "+b, h.home)
	h.mux.HandleFunc("GET "+b+"/signin", h.signinPage)
	h.mux.HandleFunc("POST "+b+"/signin", h.signin)
	if h.oidc != nil {
		h.mux.HandleFunc("GET "+b+"/oidc/start", h.oidcStart)
		h.mux.HandleFunc("GET "+b+"/oidc/callback", h.oidcCallback)
	}
	h.mux.Handle("POST "+b+"/signout", h.signedIn(h.signout, false))
	h.mux.Handle("GET "+b+"/profile", h.signedIn(h.profile, false))
	if h.oidc == nil || !h.oidc.cfg.Only { // with only, passwords are not used here
		h.mux.Handle("GET "+b+"/password", h.signedIn(h.passwordPage, false))
		h.mux.Handle("POST "+b+"/password", h.signedIn(h.changePassword, false))
	}
	h.mux.Handle("GET "+b+"/keys/new", h.signedIn(h.newKeyPage, false))
	h.mux.Handle("POST "+b+"/keys", h.signedIn(h.createKey, false))
	h.mux.Handle("POST "+b+"/keys/{handle}/delete", h.signedIn(h.deleteKey, false))
	h.mux.Handle("POST "+b+"/keys/{handle}/show", h.signedIn(h.showKey, false))
	h.mux.Handle("GET "+b+"/apikey", h.signedIn(h.apiKeyPage, false))
	h.mux.Handle("POST "+b+"/apikey/token", h.signedIn(h.newAPIKeyToken, false))
	h.mux.Handle("POST "+b+"/apikey/rotate", h.signedIn(h.rotateAPIKey, false))
	h.mux.Handle("POST "+b+"/clients", h.signedIn(h.createClient, false))
	h.mux.Handle("GET "+b+"/clients/{id}", h.signedIn(h.clientPage, false))
	h.mux.Handle("POST "+b+"/clients/{id}/secret", h.signedIn(h.newClientSecret, false))
	h.mux.Handle("POST "+b+"/clients/{id}/delete", h.signedIn(h.deleteClient, false))
	h.mux.Handle("GET "+b+"/admin/users", h.signedIn(h.usersPage, true))
	h.mux.Handle("GET "+b+"/admin/users/{name}", h.signedIn(h.userPage, true))
	h.mux.Handle("POST "+b+"/admin/credentials/{id}/revoke", h.signedIn(h.revoke, true))
	h.mux.Handle("POST "+b+"/admin/users/{name}/unvoid", h.signedIn(h.unvoid, true))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { h.fail(w, r, nil, errNotFound) })
}

// signedIn wraps a page that needs a signed-in user (an ADMIN one with
// admin): without a live session it sends the browser to the sign-in
// page; the session of a disabled or deleted user, or of one whose
// password was set or who was disabled since sign-in (another
// SessionEpoch, read from the store on every request), ends; a POST must
// carry the session's CSRF token (constant-time compare) or nothing happens (403).
func (h *Handler) signedIn(page pageFunc, admin bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.loadSession(r)
		if errors.Is(err, errNoSession) {
			http.Redirect(w, r, h.path("/signin"), http.StatusSeeOther)
			return
		}
		if err != nil {
			h.fail(w, r, nil, err)
			return
		}
		u, err := h.svc.Accounts.GetUser(r.Context(), s.User)
		if errors.Is(err, authz.ErrUserNotFound) || err == nil && (u.Disabled || u.SessionEpoch != s.Epoch) {
			_ = h.endSession(r.Context(), s)
			http.Redirect(w, r, h.path("/signin"), http.StatusSeeOther)
			return
		}
		if err != nil {
			h.fail(w, r, nil, err)
			return
		}
		v := &visit{s: s, user: u}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				h.fail(w, r, v, &pageError{http.StatusBadRequest, "The form could not be read."})
				return
			}
			if !sameToken(r.PostForm.Get("csrf"), s.CSRF) {
				h.log.Warn("account: form without a valid CSRF token refused", zap.String("path", r.URL.Path), zap.String("user", u.Name))
				h.fail(w, r, v, errCSRF)
				return
			}
		}
		if admin && !u.Has(authz.AuthorityAdmin) {
			h.fail(w, r, v, errNotAdmin)
			return
		}
		// What the page changes is the signed-in user's doing.
		r = r.WithContext(audit.WithActor(r.Context(), audit.Actor{Name: u.Name, Auth: "session", Via: "account",
			Client: h.trusted.ClientAddr(r).String()}))
		if err := page(w, r, v); err != nil {
			h.fail(w, r, v, err)
		}
	})
}

// view is a page's data with what every signed-in page shows.
func (v *visit) view(title string, page any) view {
	return view{Title: title, User: v.user, CSRF: v.s.CSRF, Admin: v.user.Has(authz.AuthorityAdmin), Page: page}
}

// home sends the browser to the profile (or, signed out, to sign-in).
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, h.path("/profile"), http.StatusSeeOther)
}

// signinForm is the sign-in page's data.
type signinForm struct {
	Name string
	// Provider is account.oidc's name ("" without it): the page offers
	// "Sign in with <Provider>".
	Provider string
	// Only: the provider alone, no password form.
	Only bool
}

// signinPage shows the sign-in form. Its CSRF token is a cookie's value
// repeated in the form (double submit), since there is no session yet.
func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	if _, err := h.loadSession(r); err == nil {
		http.Redirect(w, r, h.path("/profile"), http.StatusSeeOther)
		return
	}
	h.renderSignin(w, r, http.StatusOK, "", "")
}

func (h *Handler) renderSignin(w http.ResponseWriter, r *http.Request, status int, name, problem string) {
	token := newToken()
	h.setSigninCookie(w, r, token, 0)
	f := signinForm{Name: name}
	if h.oidc != nil {
		f.Provider, f.Only = h.oidc.cfg.Name, h.oidc.cfg.Only
	}
	h.render(w, status, "signin", view{Title: "Sign in", CSRF: token, Error: problem, Page: f})
}

// signin checks the user name and password with authz's CheckPassword,
// whose failure limits per user and per address (self_service's
// max_password_failures_*) apply here as on the APIs; past them every
// attempt is refused (429) whether right or wrong. So do its limits on
// sign-ins at once: per address (429) and in the process (503).
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	if h.oidc != nil && h.oidc.cfg.Only {
		h.renderSignin(w, r, http.StatusForbidden, "", fmt.Sprintf("Passwords are not used here: sign in with %s.", h.oidc.cfg.Name))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderSignin(w, r, http.StatusBadRequest, "", "The form could not be read.")
		return
	}
	c, err := r.Cookie(h.signinCookieName(r))
	if err != nil || !sameToken(r.PostForm.Get("csrf"), c.Value) {
		h.renderSignin(w, r, http.StatusForbidden, "", "This sign-in form has expired. Please try again.")
		return
	}
	name := r.PostForm.Get("username")
	u, err := h.svc.Passwords.CheckPassword(r.Context(), name, r.PostForm.Get("password"), h.trusted.ClientAddr(r))
	if err != nil {
		status, ok := h.passwordRefused(w, err)
		if !ok {
			h.fail(w, r, nil, err)
			return
		}
		h.renderSignin(w, r, status, name, passwordProblem(err, "The user name or password is not right."))
		return
	}
	if !h.signIn(w, r, u, "password") {
		return
	}
	h.setSigninCookie(w, r, "", -1)
	http.Redirect(w, r, h.path("/profile"), http.StatusSeeOther)
}

// signIn ends the browser's old session, if any, and starts u's, as a
// password and a provider's sign-in both do; false when it could not (the
// answer is written).
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, u *authz.User, with string) bool {
	if old, err := h.loadSession(r); err == nil {
		_ = h.endSession(r.Context(), old)
	}
	s, err := h.startSession(r.Context(), u)
	if err != nil {
		h.fail(w, r, nil, err)
		return false
	}
	h.setCookie(w, r, sessionCookie, s.id, 0)
	h.log.Info("account: signed in", zap.String("user", u.Name), zap.String("with", with), zap.String("client", h.trusted.ClientAddr(r).String()))
	return true
}

// passwordRefused answers a refused CheckPassword as the APIs do
// (httpkit.SignInError: its status, and Retry-After when there is one);
// ok is false for an error that is no refusal (the store failing).
func (h *Handler) passwordRefused(w http.ResponseWriter, err error) (status int, ok bool) {
	if !errors.Is(err, authz.ErrTooManyAttempts) && !errors.Is(err, authz.ErrSignInBusy) && !errors.Is(err, authz.ErrInvalid) {
		return 0, false
	}
	e := httpkit.SignInError(err, h.retryAfter)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	return e.Status, true
}

// passwordProblem is the page's words for a refused CheckPassword;
// wrong is what a wrong password is called.
func passwordProblem(err error, wrong string) string {
	switch {
	case errors.Is(err, authz.ErrTooManyAttempts):
		return "Too many failed attempts. Try again later."
	case errors.Is(err, authz.ErrSignInBusy):
		return "Too many sign-ins at once. Try again in a moment."
	}
	return wrong
}

// signout deletes the session record and the cookie.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.endSession(r.Context(), v.s); err != nil {
		return err
	}
	h.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, h.path("/signin"), http.StatusSeeOther)
	return nil
}
