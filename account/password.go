package account

import (
	"errors"
	"net/http"

	"github.com/keygate/keygate/authz"
)

// passwordForm is the Change password page's data.
type passwordForm struct {
	// Done: the page follows a change (Post/Redirect/Get), so it says so.
	Done bool
}

// passwordPage shows the Change password form.
func (h *Handler) passwordPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	h.render(w, http.StatusOK, "password", v.view("Change password", passwordForm{Done: r.URL.Query().Get("changed") == "1"}))
	return nil
}

// changePassword sets the signed-in user's own password. The current
// password is checked by authz's CheckPassword, so its failure limits per
// user and per address hold here as on the sign-in page: a stolen session
// cannot guess the password faster than a sign-in can. SetPassword ends
// every session of the user (a new SessionEpoch); this one is replaced by
// a new session under the new epoch, with a new id, so the person who
// changed the password stays signed in here and nowhere else.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, v *visit) error {
	again := func(status int, problem string) error {
		vw := v.view("Change password", passwordForm{})
		vw.Error = problem
		h.render(w, status, "password", vw)
		return nil
	}
	newPassword := r.PostForm.Get("new")
	if newPassword != r.PostForm.Get("confirm") {
		return again(http.StatusBadRequest, "The new password and its repetition differ.")
	}
	if _, err := h.svc.Passwords.CheckPassword(r.Context(), v.user.Name, r.PostForm.Get("current"), h.trusted.ClientAddr(r)); err != nil {
		status, ok := h.passwordRefused(w, err)
		if !ok {
			return err
		}
		return again(status, passwordProblem(err, "The current password is not right."))
	}
	if err := h.svc.Passwords.SetPassword(r.Context(), v.user.Name, newPassword); err != nil {
		var in *authz.InputError
		if errors.As(err, &in) {
			return again(http.StatusBadRequest, "The new password must be 8 to 256 characters.")
		}
		return err
	}
	u, err := h.svc.Accounts.GetUser(r.Context(), v.user.Name)
	if err != nil {
		return err
	}
	_ = h.endSession(r.Context(), v.s)
	s, err := h.startSession(r.Context(), u)
	if err != nil {
		return err
	}
	h.setCookie(w, r, sessionCookie, s.id, 0)
	http.Redirect(w, r, h.path("/password?changed=1"), http.StatusSeeOther)
	return nil
}
