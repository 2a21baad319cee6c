package httpkit

import (
	"time"

	"github.com/keygate/keygate/authz"
)

// CredentialState is what the JSON APIs show of every credential they
// list (the admin API's credentials, the self-service API's named keys):
// what it carries, its status and its times. A view embeds it where these
// fields stand in its JSON, so each API keeps its own fields around them.
type CredentialState struct {
	APISets   []string  `json:"apiSets"`
	Scopes    []string  `json:"scopes"`
	Status    string    `json:"status"`
	Created   time.Time `json:"created"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	LastUsed  time.Time `json:"lastUsed,omitzero"`
}

// ViewCredentialState is c's CredentialState (empty lists, never null).
func ViewCredentialState(c *authz.Credential) CredentialState {
	return CredentialState{
		APISets: NonNil(c.APISets), Scopes: NonNil(c.Scopes), Status: string(c.Status),
		Created: c.Created, ExpiresAt: c.Expires, LastUsed: c.LastUsed,
	}
}
