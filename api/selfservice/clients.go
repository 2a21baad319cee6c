package selfservice

import (
	"cmp"
	"context"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/httpkit"
)

// createClientRequest is createClientId's optional body.
type createClientRequest struct {
	Description                 string   `json:"description"`
	Scope                       []string `json:"scope"`
	ResourceIDs                 []string `json:"resourceIds"`
	AccessTokenValiditySeconds  *int64   `json:"accessTokenValiditySeconds"`
	RefreshTokenValiditySeconds *int64   `json:"refreshTokenValiditySeconds"`
	// CreatesCredentials makes a client whose access tokens may create
	// named keys and OAuth clients: only after a password sign-in.
	CreatesCredentials bool `json:"createsCredentials"`
}

// clientRegistration is seed 001's response, field for field, in the
// seed's order and with its types. ClientSecret is only there when a
// secret was just made (create, new secret).
type clientRegistration struct {
	AccessTokenValiditySeconds  int64                 `json:"accessTokenValiditySeconds"`
	AdditionalInformation       additionalInformation `json:"additionalInformation"`
	Authorities                 []grantedAuthority    `json:"authorities"`
	AuthorizedGrantTypes        []string              `json:"authorizedGrantTypes"`
	AutoApproveScopes           []string              `json:"autoApproveScopes"` // always null: no user approval step
	ClientID                    string                `json:"clientId"`
	ClientSecret                string                `json:"clientSecret,omitempty"`
	RefreshTokenValiditySeconds int64                 `json:"refreshTokenValiditySeconds"`
	RegisteredRedirectURI       []string              `json:"registeredRedirectUri"` // always null: no redirects in client_credentials
	ResourceIDs                 []string              `json:"resourceIds"`
	Scope                       []string              `json:"scope"`
	Scoped                      bool                  `json:"scoped"`
	SecretRequired              bool                  `json:"secretRequired"`
}

type additionalInformation struct {
	// CreatedByUser is the owner's user name. Seed 001 shows a numeric
	// user id; keygate's users are known by name only.
	CreatedByUser string `json:"createdByUser"`
	// DateCreated is in milliseconds since the Unix epoch.
	DateCreated int64 `json:"dateCreated"`
	// Description is null when there is none.
	Description *string `json:"description"`
}

type grantedAuthority struct {
	Authority string `json:"authority"`
}

// roleClient is the one authority a client has (seed 001).
var roleClient = []grantedAuthority{{Authority: "ROLE_CLIENT"}}

// registration is a client as seed 001 shows it.
func (h *Handler) registration(c *authz.Client, secret string) clientRegistration {
	var desc *string
	if c.Description != "" {
		desc = &c.Description
	}
	return clientRegistration{
		AccessTokenValiditySeconds:  int64(c.AccessTokenValidity / time.Second),
		AdditionalInformation:       additionalInformation{CreatedByUser: c.Owner, DateCreated: c.Created.UnixMilli(), Description: desc},
		Authorities:                 roleClient,
		AuthorizedGrantTypes:        h.grantTypes(c),
		ClientID:                    c.ID,
		ClientSecret:                secret,
		RefreshTokenValiditySeconds: int64(c.RefreshTokenValidity / time.Second),
		ResourceIDs:                 httpkit.NonNil(c.APISets),
		Scope:                       httpkit.NonNil(c.Scopes),
		Scoped:                      true,
		SecretRequired:              true,
	}
}

// grantTypes are the grants the token endpoint accepts from the client
// now, in seed 001's order: refresh_token only while refresh tokens are
// issued (oauth.issue_refresh_tokens).
func (h *Handler) grantTypes(c *authz.Client) []string {
	out := make([]string, 0, 2)
	if h.oauth.RefreshTokensIssued() && slices.Contains(c.GrantTypes, authz.GrantRefreshToken) {
		out = append(out, authz.GrantRefreshToken)
	}
	if slices.Contains(c.GrantTypes, authz.GrantClientCredentials) {
		out = append(out, authz.GrantClientCredentials)
	}
	return out
}

// createClient is POST /connect/register/createClientId (seed 001): an
// OAuth client for the caller, with the secret shown once. Any signed-in
// user may make clients for themselves; the client gets no API set or
// scope that what the caller authenticated with lacks.
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := h.mayCreate(c, config.KeyKindOAuthClients); err != nil {
		return err
	}
	var req createClientRequest
	if e := httpkit.DecodeJSON(w, r, &req, false); e != nil {
		return e
	}
	if req.CreatesCredentials && c.identity != nil {
		return errCreatesCredentialsNeedsPassword
	}
	createdBy, _, err := h.creator(r.Context(), c)
	if err != nil {
		return err
	}
	spec := authz.ClientSpec{Description: req.Description, CreatedBy: createdBy, CreatesCredentials: req.CreatesCredentials}
	if err = within("scope", req.Scope, c.scopes(), c); err != nil {
		return err
	}
	if err = within("resourceIds", req.ResourceIDs, c.apiSets(), c); err != nil {
		return err
	}
	spec.Scopes, spec.APISets = req.Scope, req.ResourceIDs
	if c.identity != nil {
		// authz's defaults are the owner's; a credential gets at most its own.
		if len(spec.APISets) == 0 {
			if spec.APISets, err = c.bound("resourceIds", nil, c.apiSets(), c.user.APISets); err != nil {
				return err
			}
		}
		if len(spec.Scopes) == 0 {
			spec.Scopes = authz.Intersect([]string{"read", "write"}, c.scopes())
			if len(spec.Scopes) == 0 {
				spec.Scopes = slices.Clone(c.scopes())
			}
			if len(spec.Scopes) == 0 && len(c.user.Scopes) > 0 {
				return httpkit.BadRequest("scope: the credential you authenticated with carries none, so nothing can be granted")
			}
		}
	}
	if spec.AccessTokenValidity, err = validity("accessTokenValiditySeconds", req.AccessTokenValiditySeconds, h.oauth.MaxAccessTokenValidity); err != nil {
		return err
	}
	if spec.RefreshTokenValidity, err = validity("refreshTokenValiditySeconds", req.RefreshTokenValiditySeconds, h.oauth.MaxRefreshTokenValidity); err != nil {
		return err
	}
	secret, client, err := h.svc.OAuth.CreateClient(r.Context(), c.user.Name, spec)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, h.registration(client, secret))
	return nil
}

// validity turns a requested lifetime in seconds into a duration: absent
// means the config's default (zero for authz); present must be from 1 to
// the config's maximum.
func validity(field string, secs *int64, limit time.Duration) (time.Duration, error) {
	if secs == nil {
		return 0, nil
	}
	maxSecs := int64(limit / time.Second)
	if *secs < 1 || *secs > maxSecs || *secs > math.MaxInt64/int64(time.Second) {
		return 0, httpkit.BadRequest("%s: must be from 1 to %d", field, maxSecs)
	}
	return time.Duration(*secs) * time.Second, nil
}

// listClients is GET /connect/register/clients ("Get existing keys"):
// the caller's clients, oldest first, without secrets.
func (h *Handler) listClients(w http.ResponseWriter, r *http.Request, c *caller) error {
	clients, err := h.svc.OAuth.Clients(r.Context(), c.user.Name)
	if err != nil {
		return err
	}
	slices.SortFunc(clients, func(a, b authz.Client) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	out := make([]clientRegistration, 0, len(clients))
	for i := range clients {
		out = append(out, h.registration(&clients[i], ""))
	}
	httpkit.WriteJSON(w, http.StatusOK, struct {
		Clients []clientRegistration `json:"clients"`
	}{out})
	return nil
}

// getClient is GET /connect/register/clients/{clientId} (seed 001's "Get
// existing keys"): the client, with its current clientSecret where
// retrievable secrets are on (auth.encryption_keys) and mayRetrieve
// allows it (a password, or a named key or ApiKey pair that carries all of
// the client's API sets and scopes and outlives it; never an OAuth access
// token); otherwise without it.
func (h *Handler) getClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("clientId")
	client, err := h.svc.OAuth.GetClient(r.Context(), c.user.Name, id)
	if err != nil {
		return err
	}
	secret, err := h.retrieve(r, c, client.APISets, client.Scopes, client.Expires, func(ctx context.Context) (string, error) {
		return h.svc.OAuth.ClientSecret(ctx, c.user.Name, id)
	})
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, h.registration(client, secret))
	return nil
}

// newClientSecret is POST /connect/register/clients/{clientId}/secret
// ("Generate New API Access Keys" for an existing client): a new secret,
// shown once; the previous one keeps working for oauth.secret_grace. A
// credential may do this only for a client no broader than itself.
func (h *Handler) newClientSecret(w http.ResponseWriter, r *http.Request, c *caller) error {
	if e := httpkit.DecodeJSON(w, r, &struct{}{}, false); e != nil {
		return e
	}
	_, parent, err := h.creator(r.Context(), c)
	if err != nil {
		return err // a new secret is a new credential
	}
	if err := h.mayCreate(c, config.KeyKindOAuthClients); err != nil {
		return err
	}
	id := r.PathValue("clientId")
	client, err := h.svc.OAuth.GetClient(r.Context(), c.user.Name, id)
	if err != nil {
		return err
	}
	if parent != nil && parent.Client && client.ID != parent.ID && client.Parent != parent.ID {
		return errTokenNewSecret
	}
	if err := c.covers(client.APISets, client.Scopes); err != nil {
		return err
	}
	secret, client, err := h.svc.OAuth.NewClientSecret(r.Context(), c.user.Name, id)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, h.registration(client, secret))
	return nil
}

// errTokenNewSecret: an access token (of a client made to create
// credentials) gives a new secret only to what ends with its client.
var errTokenNewSecret = &httpkit.Error{Status: http.StatusForbidden, Code: "forbidden",
	Description: "An OAuth access token can give a new secret only to its own client or to a client made with it."}

// deleteClient is DELETE /connect/register/clients/{clientId}: the client
// and every token it obtained stop working.
func (h *Handler) deleteClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := h.svc.OAuth.DeleteClient(r.Context(), c.user.Name, r.PathValue("clientId")); err != nil {
		return err
	}
	httpkit.WriteNoContent(w)
	return nil
}
