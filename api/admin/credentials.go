package admin

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/httpkit"
	"github.com/keygate/keygate/ratelimit"
)

// CredentialView is a credential as the admin API shows one (and
// `keygate keys list -o json` prints it): never a secret, nor where its
// digest is stored.
type CredentialView struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	Handle      string `json:"handle,omitempty"`
	Alias       string `json:"alias,omitempty"`
	Description string `json:"description,omitempty"`
	httpkit.CredentialState
	// Parent: the credential this one was made with (revoked with it).
	Parent string `json:"parent,omitempty"`
	// Admin: a named key made for the admin API.
	Admin bool `json:"admin,omitempty"`
	// ClientID: for OAuth tokens, the client that obtained them.
	ClientID string `json:"clientId,omitempty"`
	// Failures: for the ApiKey pair, wrong tokens counted against its
	// current token (three void it).
	Failures *int64 `json:"failures,omitempty"`
	// RateLimit is the credential's own rate limit, if any.
	RateLimit *authz.RateLimit `json:"rateLimit,omitempty"`
	// Quota is the credential's own quota, if any; Quotas its quotas and
	// what it has used.
	Quota  *authz.Quota           `json:"quota,omitempty"`
	Quotas []ratelimit.QuotaUsage `json:"quotas,omitempty"`
}

// ViewCredential is c as the admin API shows it.
func ViewCredential(c *authz.Credential) CredentialView {
	return CredentialView{
		ID: c.ID, Kind: string(c.Kind), Handle: c.Handle, Alias: c.Alias, Description: c.Description,
		Parent: c.Parent, Admin: c.Admin, ClientID: c.ClientID, RateLimit: c.RateLimit, Quota: c.Quota,
		CredentialState: httpkit.ViewCredentialState(c),
	}
}

// clientView is an OAuth client as the admin API shows one: never its
// secret.
type clientView struct {
	ClientID      string    `json:"clientId"`
	Description   string    `json:"description,omitempty"`
	APISets       []string  `json:"apiSets"`
	Scopes        []string  `json:"scopes"`
	GrantTypes    []string  `json:"grantTypes"`
	Created       time.Time `json:"created"`
	SecretRotated time.Time `json:"secretRotated,omitzero"`
	// Parent: the credential or client this one was made with (deleted
	// with it); ExpiresAt: when it stops working, if ever.
	Parent    string    `json:"parent,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// CreatesCredentials: its access tokens may create credentials.
	CreatesCredentials bool `json:"createsCredentials,omitempty"`
}

// credentials is GET /admin/users/{name}/credentials: every credential of
// the user (named keys, OAuth access and refresh tokens, the ApiKey pair;
// revoked ones too, marked so) and their OAuth clients, oldest first.
func (h *Handler) credentials(w http.ResponseWriter, r *http.Request, _ *actor) error {
	ctx := r.Context()
	name := r.PathValue("name")
	if _, err := h.svc.Accounts.GetUser(ctx, name); err != nil {
		return err
	}
	creds, err := h.svc.Accounts.Credentials(ctx, name)
	if err != nil {
		return err
	}
	clients, err := h.svc.OAuth.Clients(ctx, name)
	if err != nil {
		return err
	}
	out := make([]CredentialView, 0, len(creds))
	for i := range creds {
		c := &creds[i]
		v := ViewCredential(c)
		if h.quotas != nil && c.Status == authz.StatusActive {
			if v.Quotas, err = h.quotas(ctx, c); err != nil {
				return err
			}
		}
		if c.Kind == authz.KindAPIKey {
			// The record says active until a void is recorded; the strike
			// counter knows at once.
			status, failures, err := h.svc.Accounts.APIKeyStatus(ctx, name)
			if err != nil && !errors.Is(err, authz.ErrNotFound) {
				return err
			}
			if err == nil {
				v.Status, v.Failures = string(status), &failures
			}
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b CredentialView) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	cv := make([]clientView, 0, len(clients))
	for _, c := range clients {
		cv = append(cv, clientView{
			ClientID: c.ID, Description: c.Description, APISets: httpkit.NonNil(c.APISets), Scopes: httpkit.NonNil(c.Scopes),
			GrantTypes: httpkit.NonNil(c.GrantTypes), Created: c.Created, SecretRotated: c.SecretRotated,
			Parent: c.Parent, ExpiresAt: c.Expires, CreatesCredentials: c.CreatesCredentials,
		})
	}
	slices.SortFunc(cv, func(a, b clientView) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ClientID, b.ClientID))
	})
	httpkit.WriteJSON(w, http.StatusOK, struct {
		User        string           `json:"user"`
		Credentials []CredentialView `json:"credentials"`
		Clients     []clientView     `json:"clients"`
	}{name, out, cv})
	return nil
}

// revoke is DELETE /admin/credentials/{id}: any credential, by the id the
// credentials list shows. Its secret stops working on every replica; the
// record stays, marked revoked. Revoking a revoked credential is not an
// error.
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request, a *actor) error {
	id := r.PathValue("id")
	if _, err := h.svc.Accounts.Credential(r.Context(), id); err != nil {
		return err
	}
	if err := h.svc.Accounts.Revoke(r.Context(), id); err != nil {
		return err
	}
	httpkit.WriteNoContent(w)
	return nil
}

// deleteClient is DELETE /admin/clients/{clientId}: any user's OAuth
// client is deleted, and every token it obtained stops working on every
// replica.
func (h *Handler) deleteClient(w http.ResponseWriter, r *http.Request, a *actor) error {
	id := r.PathValue("clientId")
	c, err := h.svc.OAuth.ClientByID(r.Context(), id)
	if err != nil {
		return err
	}
	if err := h.svc.OAuth.DeleteClient(r.Context(), c.Owner, id); err != nil {
		return err
	}
	httpkit.WriteNoContent(w)
	return nil
}

// unvoid is POST /admin/users/{name}/apikey/unvoid: the user's ApiKey
// token, voided after too many wrong tokens (seed 004), works again and
// its wrong-token count starts again. A token that is not void is left
// as it is.
func (h *Handler) unvoid(w http.ResponseWriter, r *http.Request, a *actor) error {
	if e := httpkit.DecodeJSON(w, r, &struct{}{}, false); e != nil {
		return e
	}
	ctx := r.Context()
	name := r.PathValue("name")
	creds, err := h.svc.Accounts.Credentials(ctx, name)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(creds, func(c authz.Credential) bool { return c.Kind == authz.KindAPIKey })
	if i < 0 {
		return &httpkit.Error{Status: http.StatusNotFound, Code: "not_found", Description: "The user has no ApiKey.",
			Cause: fmt.Errorf("%w: %q has no ApiKey", authz.ErrNotFound, name)}
	}
	if err := h.svc.Accounts.Unvoid(ctx, name); err != nil {
		return err
	}
	httpkit.WriteNoContent(w)
	return nil
}

// updateCredentialRequest is PATCH /admin/credentials/{id}'s body: the
// fields given are set, the others stay; null removes.
type updateCredentialRequest struct {
	RateLimit json.RawMessage `json:"rateLimit"`
	Quota     json.RawMessage `json:"quota"`
}

// updateCredential is PATCH /admin/credentials/{id}: set or remove the
// credential's own rate limit (it replaces the configured rate, per and
// burst of limits counted per credential) and its own quota (the number
// of requests of every quota that counts it), on every replica.
func (h *Handler) updateCredential(w http.ResponseWriter, r *http.Request, a *actor) error {
	var req updateCredentialRequest
	if e := httpkit.DecodeJSON(w, r, &req, true); e != nil {
		return e
	}
	if req.RateLimit == nil && req.Quota == nil {
		return httpkit.BadRequest("The request changes nothing: give rateLimit or quota (an object, or null to remove it).")
	}
	var l *authz.RateLimit
	var q *authz.Quota
	var err error
	if req.RateLimit != nil {
		if l, err = decodeRateLimit(req.RateLimit); err != nil {
			return err
		}
	}
	if req.Quota != nil {
		if q, err = decodeQuota(req.Quota); err != nil {
			return err
		}
	}
	id := r.PathValue("id")
	c, err := h.svc.Accounts.Credential(r.Context(), id)
	if err != nil {
		return err
	}
	if req.RateLimit != nil {
		if c, err = h.svc.Accounts.SetCredentialRateLimit(r.Context(), id, l); err != nil {
			return err
		}
	}
	if req.Quota != nil {
		if c, err = h.svc.Accounts.SetCredentialQuota(r.Context(), id, q); err != nil {
			return err
		}
	}
	v := ViewCredential(c)
	if h.quotas != nil && c.Status == authz.StatusActive {
		if v.Quotas, err = h.quotas(r.Context(), c); err != nil {
			return err
		}
	}
	httpkit.WriteJSON(w, http.StatusOK, v)
	return nil
}

// decodeQuota reads a quota field.
func decodeQuota(raw json.RawMessage) (*authz.Quota, error) {
	return decodeNullable[authz.Quota](raw, "quota", `{"requests": N}`)
}
