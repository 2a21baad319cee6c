package selfservice

import (
	"net/http"
	"strings"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/clientaddr"
	"github.com/keygate/keygate/internal/httpkit"
)

// MetadataPath is where the OAuth authorization server metadata is served
// (RFC 8414 §3: the well-known URI under the issuer, which has no path).
const MetadataPath = "/.well-known/oauth-authorization-server"

// metadataJSON is RFC 8414 §2's authorization server metadata: what a
// client needs to find the token, revocation and introspection endpoints
// and how to authenticate to them, with no hand configuration.
type metadataJSON struct {
	Issuer                                    string   `json:"issuer"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	ScopesSupported                           []string `json:"scopes_supported"`
	ServiceDocumentation                      string   `json:"service_documentation,omitempty"`
}

// clientAuthMethods are the ways an OAuth client authenticates to the
// token, revocation and introspection endpoints (RFC 6749 §2.3.1).
var clientAuthMethods = []string{"client_secret_basic", "client_secret_post"}

// metadata is GET /.well-known/oauth-authorization-server (RFC 8414).
// keygate has no configured public URL, so the issuer is the origin the
// request came to: its Host, over https when the connection is TLS or a
// trusted proxy says so in X-Forwarded-Proto. Clients check that the
// issuer is the one they asked (RFC 8414 §3.3), which holds whatever name
// keygate is reached by; since the answer depends on the request, it is
// never cached (Cache-Control: no-store, as every answer of the API).
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request, _ *caller) error {
	scheme := "http"
	if r.TLS != nil || h.forwardedHTTPS(r) {
		scheme = "https"
	}
	issuer := scheme + "://" + r.Host
	grants := []string{authz.GrantClientCredentials}
	if h.oauth.RefreshTokensIssued() {
		grants = append(grants, authz.GrantRefreshToken)
	}
	httpkit.WriteJSON(w, http.StatusOK, metadataJSON{
		Issuer:                                    issuer,
		TokenEndpoint:                             issuer + "/oauth/token",
		RevocationEndpoint:                        issuer + "/oauth/revoke",
		IntrospectionEndpoint:                     issuer + "/oauth/introspect",
		GrantTypesSupported:                       grants,
		ResponseTypesSupported:                    []string{},
		TokenEndpointAuthMethodsSupported:         clientAuthMethods,
		RevocationEndpointAuthMethodsSupported:    clientAuthMethods,
		IntrospectionEndpointAuthMethodsSupported: clientAuthMethods,
		ScopesSupported:                           []string{"read", "write"},
		ServiceDocumentation:                      issuer + "/openapi.json",
	})
	return nil
}

// forwardedHTTPS reports whether a trusted proxy says the client used
// https (X-Forwarded-Proto, its first value).
func (h *Handler) forwardedHTTPS(r *http.Request) bool {
	if !clientaddr.FromTrustedProxy(r, h.trusted.Prefixes()) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}
