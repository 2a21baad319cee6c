package account

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/keygate/keygate/authz"
)

// usersPage is the administrators' user list.
func (h *Handler) usersPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	users, err := h.svc.Accounts.ListUsers(r.Context())
	if err != nil {
		return err
	}
	slices.SortFunc(users, func(a, b authz.User) int { return cmp.Compare(a.Name, b.Name) })
	h.render(w, http.StatusOK, "users", v.view("Users", users))
	return nil
}

// userData is one user's account details for an administrator.
type userData struct {
	Account     *authz.User
	Credentials []credentialRow
	Clients     []authz.Client
}

// credentialRow is a credential as the details list it, with the ApiKey
// pair's live status and wrong-token count.
type credentialRow struct {
	authz.Credential
	Failures int64
}

// userPage is a user's account details: every credential (revoked ones
// too) and OAuth client, as the admin API's credentials list has them.
func (h *Handler) userPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	name := r.PathValue("name")
	u, err := h.svc.Accounts.GetUser(ctx, name)
	if err != nil {
		return err
	}
	creds, err := h.svc.Accounts.Credentials(ctx, name)
	if err != nil {
		return err
	}
	d := userData{Account: u}
	for _, c := range creds {
		row := credentialRow{Credential: c}
		if c.Kind == authz.KindAPIKey {
			status, failures, err := h.svc.Accounts.APIKeyStatus(ctx, name)
			if err != nil && !errors.Is(err, authz.ErrNotFound) {
				return err
			}
			if err == nil {
				row.Status, row.Failures = status, failures
			}
		}
		d.Credentials = append(d.Credentials, row)
	}
	slices.SortFunc(d.Credentials, func(a, b credentialRow) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	if d.Clients, err = h.svc.OAuth.Clients(ctx, name); err != nil {
		return err
	}
	h.render(w, http.StatusOK, "user", v.view("User "+name, d))
	return nil
}

// revoke revokes any credential (authz's Revoke, as DELETE
// /admin/credentials/{id}); the record stays, marked revoked.
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request, v *visit) error {
	id := r.PathValue("id")
	c, err := h.svc.Accounts.Credential(r.Context(), id)
	if err != nil {
		return err
	}
	if err := h.svc.Accounts.Revoke(r.Context(), id); err != nil {
		return err
	}
	http.Redirect(w, r, h.path("/admin/users/"+url.PathEscape(c.Owner)), http.StatusSeeOther)
	return nil
}

// unvoid makes a user's voided ApiKey token work again (authz's Unvoid).
func (h *Handler) unvoid(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	if err := h.svc.Accounts.Unvoid(r.Context(), name); err != nil {
		return err
	}
	http.Redirect(w, r, h.path("/admin/users/"+url.PathEscape(name)), http.StatusSeeOther)
	return nil
}
