package admin

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/httpkit"
)

// UserView is a user as the admin API shows one (and `keygate users list
// -o json` prints it): never a password or session epoch.
type UserView struct {
	Name        string    `json:"name"`
	Authorities []string  `json:"authorities"`
	APISets     []string  `json:"apiSets"`
	Scopes      []string  `json:"scopes"`
	Disabled    bool      `json:"disabled"`
	Created     time.Time `json:"created"`
	// RateLimit is the user's own rate limit, if any.
	RateLimit *authz.RateLimit `json:"rateLimit,omitempty"`
}

// ViewUser is u as the admin API shows it.
func ViewUser(u *authz.User) UserView {
	return UserView{
		Name: u.Name, Authorities: httpkit.NonNil(u.Authorities), APISets: httpkit.NonNil(u.APISets),
		Scopes: httpkit.NonNil(u.Scopes), Disabled: u.Disabled, Created: u.Created, RateLimit: u.RateLimit,
	}
}

// listUsers is GET /admin/users: every user, by name.
func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, _ *actor) error {
	users, err := h.svc.Accounts.ListUsers(r.Context())
	if err != nil {
		return err
	}
	slices.SortFunc(users, func(a, b authz.User) int { return cmp.Compare(a.Name, b.Name) })
	out := make([]UserView, 0, len(users))
	for i := range users {
		out = append(out, ViewUser(&users[i]))
	}
	httpkit.WriteJSON(w, http.StatusOK, struct {
		Users []UserView `json:"users"`
	}{out})
	return nil
}

// getUser is GET /admin/users/{name}.
func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, _ *actor) error {
	u, err := h.svc.Accounts.GetUser(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, ViewUser(u))
	return nil
}

// createUserRequest is POST /admin/users's body.
type createUserRequest struct {
	Name        string   `json:"name"`
	Authorities []string `json:"authorities"`
	APISets     []string `json:"apiSets"`
	// Scopes absent means read and write, as `keygate users add` has it;
	// an empty list means none.
	Scopes *[]string `json:"scopes"`
	// Password, if given, is set at once (see setPassword).
	Password *string `json:"password"`
}

// defaultScopes are a new user's scopes when the request names none.
var defaultScopes = []string{"read", "write"}

// createUser is POST /admin/users: a user, with the API sets and scopes
// their credentials may carry, and their password if one is given.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, a *actor) error {
	var req createUserRequest
	if e := httpkit.DecodeJSON(w, r, &req, true); e != nil {
		return e
	}
	if err := checkAuthorities(req.Authorities); err != nil {
		return err
	}
	// Checked before anything is made: a request that fails creates
	// nothing. (authz.Passwords.SetPassword applies the same rule.)
	if req.Password != nil && (len(*req.Password) < minPassword || len(*req.Password) > maxPassword) {
		return httpkit.BadRequest("password: must be %d to %d bytes", minPassword, maxPassword)
	}
	scopes := slices.Clone(defaultScopes)
	if req.Scopes != nil {
		scopes = *req.Scopes
	}
	if err := a.grant(nil, req.APISets, scopes, req.Authorities); err != nil {
		return err
	}
	u, err := h.svc.Accounts.CreateUser(r.Context(), authz.User{Name: req.Name, Authorities: req.Authorities, APISets: req.APISets, Scopes: scopes})
	if err != nil {
		return err
	}
	if req.Password != nil {
		if err := h.svc.Passwords.SetPassword(r.Context(), u.Name, *req.Password); err != nil {
			e := *httpkit.FromAuthz(err)
			e.Description = fmt.Sprintf("The user was created, but their password was not set (%s) Set it with PUT /admin/users/%s/password.", e.Description, u.Name)
			return &e
		}
	}
	w.Header().Set("Location", "/admin/users/"+u.Name)
	httpkit.WriteJSON(w, http.StatusCreated, ViewUser(u))
	return nil
}

// The password rule of authz.Passwords.SetPassword, checked before a
// user is created with one.
const (
	minPassword = 8
	maxPassword = 256
)

// updateUserRequest is PATCH /admin/users/{name}'s body: the fields given
// are set, the others stay.
type updateUserRequest struct {
	Disabled    *bool     `json:"disabled"`
	APISets     *[]string `json:"apiSets"`
	Scopes      *[]string `json:"scopes"`
	Authorities *[]string `json:"authorities"`
	// RateLimit: an object sets the user's own rate limit, null removes it.
	RateLimit json.RawMessage `json:"rateLimit"`
}

// updateUser is PATCH /admin/users/{name}: disable or enable a user, or
// set their API sets, scopes or authorities. A disabled user's
// credentials all stop working, and narrowing API sets or scopes narrows
// their credentials, on every replica (authz.UpdateUser).
func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request, a *actor) error {
	var req updateUserRequest
	if e := httpkit.DecodeJSON(w, r, &req, true); e != nil {
		return e
	}
	var changed []string
	if req.Disabled != nil {
		changed = append(changed, "disabled")
	}
	if req.APISets != nil {
		changed = append(changed, "apiSets")
	}
	if req.Scopes != nil {
		changed = append(changed, "scopes")
	}
	if req.Authorities != nil {
		changed = append(changed, "authorities")
		if err := checkAuthorities(*req.Authorities); err != nil {
			return err
		}
	}
	var rateLimit *authz.RateLimit
	if req.RateLimit != nil {
		changed = append(changed, "rateLimit")
		var err error
		if rateLimit, err = decodeRateLimit(req.RateLimit); err != nil {
			return err
		}
	}
	if len(changed) == 0 {
		return httpkit.BadRequest("The request changes nothing: give disabled, apiSets, scopes, authorities or rateLimit.")
	}
	name := r.PathValue("name")
	u, err := h.svc.Accounts.UpdateUser(r.Context(), name, func(u *authz.User) error {
		old := *u
		if req.Disabled != nil {
			u.Disabled = *req.Disabled
		}
		if req.APISets != nil {
			u.APISets = *req.APISets
		}
		if req.Scopes != nil {
			u.Scopes = *req.Scopes
		}
		if req.Authorities != nil {
			u.Authorities = *req.Authorities
		}
		if req.RateLimit != nil {
			u.RateLimit = rateLimit
		}
		// Checked against the user as read, inside the compare-and-set:
		// a refused change writes nothing.
		return a.grant(&old, u.APISets, u.Scopes, u.Authorities)
	})
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, ViewUser(u))
	return nil
}

// checkAuthorities refuses, naming the field, an authority keygate does
// not know or one listed twice.
func checkAuthorities(authorities []string) error {
	for i, au := range authorities {
		if au != authz.AuthorityAdmin && au != authz.AuthorityManageUserAPIKey {
			return httpkit.BadRequest("authorities[%d]: %q is not one of %s, %s", i, au, authz.AuthorityAdmin, authz.AuthorityManageUserAPIKey)
		}
		if slices.Contains(authorities[:i], au) {
			return httpkit.BadRequest("authorities[%d]: %q is listed twice", i, au)
		}
	}
	return nil
}

// setPassword is PUT /admin/users/{name}/password: the user's password,
// for HTTP Basic sign-in to the self-service and admin APIs. Their
// failed-sign-in count starts again.
func (h *Handler) setPassword(w http.ResponseWriter, r *http.Request, a *actor) error {
	var req struct {
		Password string `json:"password"`
	}
	if e := httpkit.DecodeJSON(w, r, &req, true); e != nil {
		return e
	}
	if req.Password == "" {
		return httpkit.BadRequest("password: required")
	}
	name := r.PathValue("name")
	if err := h.svc.Passwords.SetPassword(r.Context(), name, req.Password); err != nil {
		return err
	}
	httpkit.WriteNoContent(w)
	return nil
}

// decodeNullable reads the JSON field field into a *T: null is none;
// unknown fields are refused, and the 400 shows the shape the field
// wants.
func decodeNullable[T any](raw json.RawMessage, field, shape string) (*T, error) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var v T
	if err := dec.Decode(&v); err != nil {
		return nil, httpkit.BadRequest("%s: want %s or null: %v", field, shape, err)
	}
	return &v, nil
}

// decodeRateLimit reads a rateLimit field.
func decodeRateLimit(raw json.RawMessage) (*authz.RateLimit, error) {
	return decodeNullable[authz.RateLimit](raw, "rateLimit", `{"rate": N, "per": "1m", "burst": N}`)
}
