package account

import (
	"cmp"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/httpkit"
)

// mayCreate refuses a user without the MANAGE_USER_API_KEY (or ADMIN)
// authority where self_service.manage_key_authority_for lists kind, with
// the self-service API's rule and words (authz.KeyAuthorityRefusal).
func (h *Handler) mayCreate(v *visit, kind string) error {
	if why := authz.KeyAuthorityRefusal(h.selfSvc, v.user, kind); why != "" {
		return &pageError{http.StatusForbidden, why + " Ask an administrator."}
	}
	return nil
}

// profileData is the Profile page: the user and their API Keys section.
type profileData struct {
	Keys    []keyRow
	Clients []authz.Client
	// CanGenerate: the Generate key button is shown (MANAGE_USER_API_KEY
	// or ADMIN, the self-service API's rule for POST /user/keys).
	CanGenerate bool
	// CanCreateClients: the new-client form is shown (unless
	// self_service.manage_key_authority_for lists oauth_clients and the
	// user lacks the authority).
	CanCreateClients bool
}

// keyRow is a named key in the Profile's list.
type keyRow struct {
	authz.Credential
	// Showable: Show key is offered (authz's KeyTokenShown: secrets are
	// retrievable and the key is active and unexpired).
	Showable bool
}

// profile is the Profile page with its API Keys section: OAuth clients,
// named keys and a link to the ApiKey screen. Deleted named keys
// (revoked, their handle freed) are not listed; ones revoked by an
// administrator are, marked revoked (as GET /user/keys has it).
func (h *Handler) profile(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	creds, err := h.svc.Accounts.Credentials(ctx, v.user.Name)
	if err != nil {
		return err
	}
	d := profileData{CanGenerate: h.mayCreate(v, config.KeyKindNamedKeys) == nil, CanCreateClients: h.mayCreate(v, config.KeyKindOAuthClients) == nil}
	for _, c := range creds {
		if c.Kind != authz.KindKeyToken || c.Handle == "" {
			continue
		}
		if c.Status == authz.StatusRevoked {
			cur, err := h.svc.Accounts.KeyByHandle(ctx, v.user.Name, c.Handle)
			if errors.Is(err, authz.ErrNotFound) || err == nil && cur.ID != c.ID {
				continue // deleted
			}
			if err != nil {
				return err
			}
		}
		d.Keys = append(d.Keys, keyRow{Credential: c, Showable: h.svc.Accounts.KeyTokenShown(&c) == nil})
	}
	slices.SortFunc(d.Keys, func(a, b keyRow) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Handle, b.Handle))
	})
	if d.Clients, err = h.svc.OAuth.Clients(ctx, v.user.Name); err != nil {
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
	if err := h.mayCreate(v, config.KeyKindNamedKeys); err != nil {
		return err
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
	// Again: the token was read again (Show key, retrievable secrets),
	// not made by this request.
	Again bool
}

// createKey is the New API Key window's Save: a named key made by authz's
// CreateKey for the signed-in user only, with the MANAGE_USER_API_KEY or
// ADMIN authority (seed 002). The answer is the Save generated key window
// holding the token; the session does not keep it, and the page is never
// cached, so once the window is closed the token is not shown again.
func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.mayCreate(v, config.KeyKindNamedKeys); err != nil {
		return err
	}
	f := r.PostForm
	spec := authz.KeySpec{Handle: f.Get("handle"), Description: f.Get("description"), APISets: f["apiSets"]}
	var token string
	var cred *authz.Credential
	var err error
	if len(spec.APISets) == 0 {
		// An empty Selected API list is not "all of mine": the window
		// asks for a choice (docs/account.md).
		err = &authz.InputError{Field: "apiSets", Reason: "choose at least one API set in Selected API"}
	} else {
		token, cred, err = h.svc.Accounts.CreateKey(r.Context(), v.user.Name, spec)
	}
	if err != nil {
		status, msg := 0, ""
		switch {
		case errors.Is(err, authz.ErrInvalidInput):
			status, msg = http.StatusBadRequest, httpkit.InputMessage(err)
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
	h.render(w, http.StatusCreated, "savekey", v.view("Save generated key", newSavedKey(cred, token)))
	return nil
}

func newSavedKey(cred *authz.Credential, token string) savedKey {
	return savedKey{
		Cred: cred, Token: token, Filename: cred.Handle + ".APIKEY",
		Download: template.URL("data:text/plain;charset=utf-8," + url.PathEscape(token+"\n")),
	}
}

// errNotRetrievable and errKeyInactive are Show key's refusals, in the
// words of authz's ErrNotRetrievable and ErrKeyInactive.
var (
	errNotRetrievable = &pageError{http.StatusForbidden,
		"The secret is not retrievable: it was shown once, when the key was made (keygate keeps only its digest). Delete the key and generate a new one if it is lost."}
	errKeyInactive = &pageError{http.StatusConflict,
		"The key is revoked or expired: its token is not shown again."}
)

// showKey is Show key (seed 003: get an existing key's long-lived token
// again): where authz's KeyToken gives the signed-in user's key's token
// (retrievable secrets on, the key active and unexpired), the Save
// generated key window shows it, as after Generate key — not kept in the
// session, the page never cached. Otherwise the refusal says why; another
// user's key is not found.
func (h *Handler) showKey(w http.ResponseWriter, r *http.Request, v *visit) error {
	token, cred, err := h.svc.Accounts.KeyToken(r.Context(), v.user.Name, r.PathValue("handle"))
	switch {
	case err == nil:
	case errors.Is(err, authz.ErrNotRetrievable):
		return errNotRetrievable
	case errors.Is(err, authz.ErrKeyInactive):
		return errKeyInactive
	case errors.Is(err, authz.ErrNotFound), httpkit.Unavailable(err):
		return err
	default: // sealed under an encryption key no longer configured
		h.log.Warn("a retrievable secret could not be opened; is its encryption key still in auth.encryption_keys?", zap.Error(err))
		return errNotRetrievable
	}
	d := newSavedKey(cred, token)
	d.Again = true
	h.render(w, http.StatusOK, "savekey", v.view("Save generated key", d))
	return nil
}

// deleteKey deletes a named key of the signed-in user (authz's
// DeleteKey): its token stops working and the name is free again.
func (h *Handler) deleteKey(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.svc.Accounts.DeleteKey(r.Context(), v.user.Name, r.PathValue("handle")); err != nil {
		return err
	}
	http.Redirect(w, r, h.path("/profile#keys"), http.StatusSeeOther)
	return nil
}
