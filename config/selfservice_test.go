package config

import (
	"strings"
	"testing"
)

// TestManageKeyAuthorityFor: absent is named keys only; an empty list is
// none; unknown and repeated kinds are refused naming the entry.
func TestManageKeyAuthorityFor(t *testing.T) {
	const route = "routes:\n  - {name: r, path_prefix: /, upstream: http://h, auth: none}\n"
	for _, c := range []struct {
		name, yaml, want, err string
	}{
		{"absent", "", "named_keys", ""},
		{"empty", "self_service: {manage_key_authority_for: []}\n", "", ""},
		{"all", "self_service: {manage_key_authority_for: [named_keys, oauth_clients, apikey]}\n", "named_keys,oauth_clients,apikey", ""},
		{"unknown", "self_service: {manage_key_authority_for: [named_keys, clients]}\n", "",
			`self_service.manage_key_authority_for[1]: "clients" is not one of named_keys, oauth_clients, apikey`},
		{"twice", "self_service: {manage_key_authority_for: [apikey, apikey]}\n", "", `self_service.manage_key_authority_for[1]: "apikey" is listed twice`},
		{"not a list", "self_service: {manage_key_authority_for: apikey}\n", "", "t.yaml:1: cannot unmarshal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("t.yaml", []byte(c.yaml+route), nil)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("Parse: got %v, want an error with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(cfg.SelfService.ManageKeyAuthorityFor, ","); got != c.want {
				t.Errorf("manage_key_authority_for = %q, want %q", got, c.want)
			}
		})
	}
}
