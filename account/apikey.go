package account

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
)

// apiKeyData is the ApiKey screen (Settings > API).
type apiKeyData struct {
	// HasKey: the user has a key; until the first token there is none
	// (showing the screen makes none).
	HasKey   bool
	Key      string
	Status   authz.Status
	Failures int64
	HasToken bool
	// Token and Usage are set only in the answer to Generate Token and
	// Rotate Key.
	Token, Usage string
	// Rotated: the answer to Rotate Key (the key is new too).
	Rotated bool
	// Generation is the token's generation (0: no key yet). Generate
	// Token and Rotate Key send the one the page showed and act only if
	// it is still the current one, so reloading their answer, which sends
	// the form again, makes nothing.
	Generation int64
}

// errNoAPIKey answers Rotate Key before there is a key.
var errNoAPIKey = &pageError{http.StatusNotFound, "You have no ApiKey key yet: Generate Token makes the key and its first token."}

// apiKeyPage shows the key and its token's state, or that there is none
// yet. A signed-in session may see the key: it could generate the token.
func (h *Handler) apiKeyPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := h.apiKeyData(r, v)
	if err != nil {
		return err
	}
	h.render(w, http.StatusOK, "apikey", v.view("API", d))
	return nil
}

func (h *Handler) apiKeyData(r *http.Request, v *visit) (apiKeyData, error) {
	key, cred, err := h.svc.Accounts.ShowAPIKey(r.Context(), v.user.Name)
	if errors.Is(err, authz.ErrNoAPIKey) {
		return apiKeyData{}, nil
	}
	if err != nil {
		return apiKeyData{}, err
	}
	status, failures, err := h.svc.Accounts.APIKeyStatus(r.Context(), v.user.Name)
	if err != nil {
		return apiKeyData{}, err
	}
	return apiKeyData{HasKey: true, Key: key, Status: status, Failures: failures, HasToken: cred.Generation > 0, Generation: cred.Generation}, nil
}

// newAPIKeyToken is Generate Token: authz's NewAPIKeyToken makes a new
// token (every earlier one stops working; the first also makes the key)
// and the page shows it and the Usage value `ApiKey key:token` this once.
// A password session carries all of the user's API sets and scopes, as
// the pair does.
func (h *Handler) newAPIKeyToken(w http.ResponseWriter, r *http.Request, v *visit) error {
	return h.makePair(w, r, v, h.svc.Accounts.NewAPIKeyToken, false)
}

// rotateAPIKey is Rotate Key: authz's RotateAPIKey replaces the key and
// the token (the old pair stops working everywhere) and the page shows
// the new pair this once.
func (h *Handler) rotateAPIKey(w http.ResponseWriter, r *http.Request, v *visit) error {
	return h.makePair(w, r, v, func(ctx context.Context, user string) (string, string, error) {
		key, token, err := h.svc.Accounts.RotateAPIKey(ctx, user)
		if errors.Is(err, authz.ErrNoAPIKey) {
			err = errNoAPIKey
		}
		return key, token, err
	}, true)
}

// makePair answers a Generate Token or Rotate Key form (rotated): where
// the user may create the pair and the form is not sent again, newPair
// makes the key and token the page then shows this once.
func (h *Handler) makePair(w http.ResponseWriter, r *http.Request, v *visit, newPair func(ctx context.Context, user string) (key, token string, err error), rotated bool) error {
	if err := h.mayCreate(v, config.KeyKindAPIKey); err != nil {
		return err
	}
	if done, err := h.sentAgain(w, r, v); done || err != nil {
		return err
	}
	key, token, err := newPair(r.Context(), v.user.Name)
	if err != nil {
		return err
	}
	return h.showPair(w, r, v, key, token, rotated)
}

// errSentAgain is said when a Generate Token or Rotate Key form comes a
// second time (a reload of its answer, or a second tab's stale form).
const errSentAgain = "This form was already sent, or the token changed since the page was shown: nothing was made. " +
	"A token is shown only once; if you did not copy it, generate a new one."

// sentAgain answers a Generate Token or Rotate Key form whose generation
// is not the current one with the screen as it is now and 409, and
// reports that it did. A form without the field (a script's) acts.
func (h *Handler) sentAgain(w http.ResponseWriter, r *http.Request, v *visit) (bool, error) {
	sent, ok := r.PostForm["generation"]
	if !ok {
		return false, nil
	}
	d, err := h.apiKeyData(r, v)
	if err != nil {
		return false, err
	}
	if len(sent) == 1 && sent[0] == strconv.FormatInt(d.Generation, 10) {
		return false, nil
	}
	vw := v.view("API", d)
	vw.Error = errSentAgain
	h.render(w, http.StatusConflict, "apikey", vw)
	return true, nil
}

func (h *Handler) showPair(w http.ResponseWriter, r *http.Request, v *visit, key, token string, rotated bool) error {
	d, err := h.apiKeyData(r, v)
	if err != nil {
		return err
	}
	d.HasKey, d.Key, d.Token, d.Usage, d.Rotated = true, key, token, "ApiKey "+key+":"+token, rotated
	h.render(w, http.StatusOK, "apikey", v.view("API", d))
	return nil
}
