package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/keygate/keygate/authz"
)

// outputFlag is the -o flag of the list commands: "text" (a table, the
// default) or "json" (an array, for scripts).
type outputFlag string

func (o *outputFlag) String() string { return string(*o) }

func (o *outputFlag) Set(v string) error {
	switch v {
	case "text", "json":
		*o = outputFlag(v)
		return nil
	}
	return fmt.Errorf("must be text or json, not %q", v)
}

func newOutputFlag(fs *flag.FlagSet) *outputFlag {
	o := outputFlag("text")
	fs.Var(&o, "o", "output `format`: text (a table) or json (an array)")
	return &o
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// userJSON is a user as "users list -o json" prints one: the admin API's
// field names, never a password digest or session epoch.
type userJSON struct {
	Name        string    `json:"name"`
	Authorities []string  `json:"authorities"`
	APISets     []string  `json:"apiSets"`
	Scopes      []string  `json:"scopes"`
	Disabled    bool      `json:"disabled"`
	Created     time.Time `json:"created"`
}

func viewUser(u authz.User) userJSON {
	return userJSON{Name: u.Name, Authorities: nonNil(u.Authorities), APISets: nonNil(u.APISets),
		Scopes: nonNil(u.Scopes), Disabled: u.Disabled, Created: u.Created}
}

// credentialJSON is a credential as "keys list -o json" prints one: the
// admin API's field names, never a secret, a sealed secret or a digest.
type credentialJSON struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Handle      string    `json:"handle,omitempty"`
	Alias       string    `json:"alias,omitempty"`
	Description string    `json:"description,omitempty"`
	APISets     []string  `json:"apiSets"`
	Scopes      []string  `json:"scopes"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
	ExpiresAt   time.Time `json:"expiresAt,omitzero"`
	LastUsed    time.Time `json:"lastUsed,omitzero"`
	Parent      string    `json:"parent,omitempty"`
	Admin       bool      `json:"admin,omitempty"`
	ClientID    string    `json:"clientId,omitempty"`
}

func viewCredential(c *authz.Credential) credentialJSON {
	return credentialJSON{
		ID: c.ID, Kind: string(c.Kind), Handle: c.Handle, Alias: c.Alias, Description: c.Description,
		APISets: nonNil(c.APISets), Scopes: nonNil(c.Scopes), Status: string(c.Status),
		Created: c.Created, ExpiresAt: c.Expires, LastUsed: c.LastUsed, Parent: c.Parent, Admin: c.Admin, ClientID: c.ClientID,
	}
}

// nonNil makes an absent list print as [] rather than null.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
