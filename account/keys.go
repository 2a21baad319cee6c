package account

import (
	"cmp"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/keygate/keygate/authz"
)

// profileData is the Profile page: the user and their API Keys section.
type profileData struct {
	Keys    []authz.Credential
	Clients []authz.Client
	// CanGenerate: the Generate key button is shown (MANAGE_USER_API_KEY
	// or ADMIN, the self-service API's rule for POST /user/keys).
	CanGenerate bool
}

// profile is the Profile page with its API Keys section: OAuth clients,
// named keys and a link to the ApiKey screen. Deleted named keys
// (revoked, their handle freed) are not listed; ones revoked by an
// administrator are, marked revoked (as GET /user/keys has it).
func (h *Handler) profile(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	creds, err := h.svc.Credentials(ctx, v.user.Name)
	if err != nil {
		return err
	}
	d := profileData{CanGenerate: v.user.Has(authz.AuthorityManageUserAPIKey)}
	for _, c := range creds {
		if c.Kind != authz.KindKeyToken || c.Handle == "" {
			continue
		}
		if c.Status == authz.StatusRevoked {
			cur, err := h.svc.KeyByHandle(ctx, v.user.Name, c.Handle)
			if errors.Is(err, authz.ErrNotFound) || err == nil && cur.ID != c.ID {
				continue // deleted
			}
			if err != nil {
				return err
			}
		}
		d.Keys = append(d.Keys, c)
	}
	slices.SortFunc(d.Keys, func(a, b authz.Credential) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Handle, b.Handle))
	})
	if d.Clients, err = h.svc.Clients(ctx, v.user.Name); err != nil {
		return err
	}
	slices.SortFunc(d.Clients, func(a, b authz.Client) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	h.render(w, http.StatusOK, "profile", v.view("Profile", d))
	return nil
}

// newKeyData is the New API Key window (seed 002).
type newKeyData struct {
	Handle, Description string
	// Available and Selected are the two API set lists; the arrow buttons
	// move names between them.
	Available, Selected []string
}

// newKeyPage is the New API Key window: Name (required), Description and
// the Available API / Selected API lists.
func (h *Handler) newKeyPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	if !v.user.Has(authz.AuthorityManageUserAPIKey) {
		return errNoKeyAuthority
	}
	h.render(w, http.StatusOK, "newkey", v.view("New API Key", newKeyData{Available: v.user.APISets}))
	return nil
}

// savedKey is the Save generated key window: the token, shown this once.
type savedKey struct {
	Cred  *authz.Credential
	Token string
	// Download is the .APIKEY file's content as a data: URL (the token
	// and a newline, exactly what POST /user/keys?download=1 answers), so
	// the file is made by the browser from this page: keygate keeps no
	// copy of the token to serve it later.
	Download template.URL
	Filename string
}

// createKey is the New API Key window's Save: a named key made by authz's
// CreateKey for the signed-in user only, with the MANAGE_USER_API_KEY or
// ADMIN authority (seed 002). The answer is the Save generated key window
// holding the token; the session does not keep it, and the page is never
// cached, so once the window is closed the token is not shown again.
func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, v *visit) error {
	if !v.user.Has(authz.AuthorityManageUserAPIKey) {
		return errNoKeyAuthority
	}
	f := r.PostForm
	spec := authz.KeySpec{Handle: f.Get("handle"), Description: f.Get("description"), APISets: f["apiSets"]}
	token, cred, err := h.svc.CreateKey(r.Context(), v.user.Name, spec)
	if err != nil {
		status, msg := 0, ""
		switch {
		case errors.Is(err, authz.ErrInvalidInput):
			status, msg = http.StatusBadRequest, inputMessage(err)
		case errors.Is(err, authz.ErrHandleTaken):
			status, msg = http.StatusConflict, "You already have a key named "+spec.Handle+": choose another name."
		default:
			return err
		}
		d := newKeyData{Handle: spec.Handle, Description: spec.Description, Selected: spec.APISets}
		for _, s := range v.user.APISets {
			if !slices.Contains(spec.APISets, s) {
				d.Available = append(d.Available, s)
			}
		}
		pv := v.view("New API Key", d)
		pv.Error = msg
		h.render(w, status, "newkey", pv)
		return nil
	}
	h.render(w, http.StatusCreated, "savekey", v.view("Save generated key", savedKey{
		Cred: cred, Token: token, Filename: cred.Handle + ".APIKEY",
		Download: template.URL("data:text/plain;charset=utf-8," + url.PathEscape(token+"\n")),
	}))
	return nil
}

// deleteKey deletes a named key of the signed-in user (authz's
// DeleteKey): its token stops working and the name is free again.
func (h *Handler) deleteKey(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.svc.DeleteKey(r.Context(), v.user.Name, r.PathValue("handle")); err != nil {
		return err
	}
	http.Redirect(w, r, h.path("/profile#keys"), http.StatusSeeOther)
	return nil
}

// apiKeyData is the ApiKey screen (seed 004's Settings > API).
type apiKeyData struct {
	Key      string
	Status   authz.Status
	Failures int64
	HasToken bool
	// Token and Usage are set only in the answer to Generate Token.
	Token, Usage string
}

// apiKeyPage shows the never-changing key (made the first time it is
// asked for, by authz's APIKey) and its token's state.
func (h *Handler) apiKeyPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := h.apiKeyData(r, v)
	if err != nil {
		return err
	}
	h.render(w, http.StatusOK, "apikey", v.view("API", d))
	return nil
}

func (h *Handler) apiKeyData(r *http.Request, v *visit) (apiKeyData, error) {
	key, cred, err := h.svc.APIKey(r.Context(), v.user.Name)
	if err != nil {
		return apiKeyData{}, err
	}
	status, failures, err := h.svc.APIKeyStatus(r.Context(), v.user.Name)
	if err != nil {
		return apiKeyData{}, err
	}
	return apiKeyData{Key: key, Status: status, Failures: failures, HasToken: cred.Generation > 0}, nil
}

// newAPIKeyToken is Generate Token: authz's NewAPIKeyToken makes a new
// token (every earlier one stops working) and the page shows it and the
// Usage value `ApiKey key:token` this once. A password session carries
// all of the user's API sets and scopes, as the pair does.
func (h *Handler) newAPIKeyToken(w http.ResponseWriter, r *http.Request, v *visit) error {
	key, token, err := h.svc.NewAPIKeyToken(r.Context(), v.user.Name)
	if err != nil {
		return err
	}
	d, err := h.apiKeyData(r, v)
	if err != nil {
		return err
	}
	d.Key, d.Token, d.Usage = key, token, "ApiKey "+key+":"+token
	h.render(w, http.StatusOK, "apikey", v.view("API", d))
	return nil
}
