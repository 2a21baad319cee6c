package account

import (
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/httpkit"
)

// clientData is an OAuth client's window: its ID and, just after it was
// made or given a new secret (or where secrets are retrievable), the
// secret.
type clientData struct {
	Client *authz.Client
	Secret string
	// Fresh: the secret was made by this request and is shown this once.
	Fresh bool
	// Retrievable: Secret was read again (auth.encryption_keys).
	Retrievable bool
}

// createClient is Generate New API Access Keys (seeds 000, 001): an OAuth
// client made by authz's CreateClient with the config's defaults (all of
// the user's API sets, read and write as far as they have them). With the
// createsCredentials box ticked, the client's access tokens may create
// named keys and OAuth clients (authz's derive.go): the page is a
// session, so it may make such a client.
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.mayCreate(v, config.KeyKindOAuthClients); err != nil {
		return err
	}
	spec := authz.ClientSpec{Description: r.PostForm.Get("description")}
	switch r.PostForm.Get("createsCredentials") {
	case "":
	case "on":
		spec.CreatesCredentials = true
	default:
		return errBadCreatesCredentials
	}
	secret, c, err := h.svc.OAuth.CreateClient(r.Context(), v.user.Name, spec)
	if err != nil {
		return err
	}
	h.render(w, http.StatusCreated, "client", v.view("New API access keys", clientData{Client: c, Secret: secret, Fresh: true}))
	return nil
}

// errBadCreatesCredentials: the box sends "on" or nothing.
var errBadCreatesCredentials = &authz.InputError{Field: "createsCredentials", Reason: `must be "on" or absent`}

// clientPage is Get existing keys for one client: its ID, and its secret
// only where secrets are retrievable (authz's ClientSecret).
func (h *Handler) clientPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	id := r.PathValue("id")
	c, err := h.svc.OAuth.GetClient(r.Context(), v.user.Name, id)
	if err != nil {
		return err
	}
	d := clientData{Client: c}
	secret, err := h.svc.OAuth.ClientSecret(r.Context(), v.user.Name, id)
	switch {
	case err == nil:
		d.Secret, d.Retrievable = secret, true
	case errors.Is(err, authz.ErrNotRetrievable):
	case errors.Is(err, authz.ErrNotFound), httpkit.Unavailable(err):
		return err
	default: // sealed under an encryption key no longer configured
		h.log.Warn("a retrievable secret could not be opened; is its encryption key still in auth.encryption_keys?", zap.Error(err))
	}
	h.render(w, http.StatusOK, "client", v.view("API access keys", d))
	return nil
}

// newClientSecret gives a client a new secret (authz's NewClientSecret),
// shown this once; the old one stops working (after oauth.secret_grace).
func (h *Handler) newClientSecret(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.mayCreate(v, config.KeyKindOAuthClients); err != nil {
		return err
	}
	id := r.PathValue("id")
	if sent, ok := r.PostForm["secretSet"]; ok {
		c, err := h.svc.OAuth.GetClient(r.Context(), v.user.Name, id)
		if err != nil {
			return err
		}
		if len(sent) != 1 || sent[0] != secretSet(c) {
			vw := v.view("API access keys", clientData{Client: c})
			vw.Error = errSecretSentAgain
			h.render(w, http.StatusConflict, "client", vw)
			return nil
		}
	}
	secret, c, err := h.svc.OAuth.NewClientSecret(r.Context(), v.user.Name, id)
	if err != nil {
		return err
	}
	h.render(w, http.StatusOK, "client", v.view("New API access keys", clientData{Client: c, Secret: secret, Fresh: true}))
	return nil
}

// errSecretSentAgain is said when a New secret form comes a second time (a
// reload of its answer, or a stale page).
const errSecretSentAgain = "This form was already sent, or the secret changed since the page was shown: no new secret was made. " +
	"A secret is shown only once; if you did not copy it, make a new one."

// secretSet names the client's current secret without telling anything of
// it (when it was set), so a New secret form acts only on the secret the
// page showed and reloading its answer makes nothing.
func secretSet(c *authz.Client) string {
	t := c.SecretRotated
	if t.IsZero() {
		t = c.Created
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// deleteClient deletes a client of the signed-in user: it and every token
// it obtained stop working.
func (h *Handler) deleteClient(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.svc.OAuth.DeleteClient(r.Context(), v.user.Name, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, h.path("/profile#clients"), http.StatusSeeOther)
	return nil
}
