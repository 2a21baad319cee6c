package config

import (
	"strings"
	"testing"
	"time"
)

// TestPasswordCheckLimits: the self_service fields bounding password
// checks at once take their defaults when left out and refuse what
// cannot work, naming the field.
func TestPasswordCheckLimits(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Parse("t.yaml", []byte(minimal), nil)
		if err != nil {
			t.Fatal(err)
		}
		ss := cfg.SelfService
		if ss.MaxConcurrentPasswordChecks != 2 || ss.MaxConcurrentPasswordChecksPerAddress != 2 || ss.PasswordCheckQueueTimeout != 2*time.Second {
			t.Errorf("defaults: got %d, %d, %s; want 2, 2, 2s", ss.MaxConcurrentPasswordChecks, ss.MaxConcurrentPasswordChecksPerAddress, ss.PasswordCheckQueueTimeout)
		}
	})
	for _, tt := range []struct {
		selfService string
		want        string // "" means valid
	}{
		{`{max_concurrent_password_checks: 8, max_concurrent_password_checks_per_address: 1, password_check_queue_timeout: 500ms}`, ""},
		{`{max_concurrent_password_checks: -1}`, "self_service.max_concurrent_password_checks: must be at least 1"},
		{`{max_concurrent_password_checks_per_address: -2}`, "self_service.max_concurrent_password_checks_per_address: must be at least 1"},
		{`{password_check_queue_timeout: -1s}`, "self_service.password_check_queue_timeout: must be a positive duration"},
		{`{max_concurrent_password_check: 3}`, "max_concurrent_password_check: unknown field"},
	} {
		t.Run(tt.selfService, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte("self_service: "+tt.selfService+"\n"+minimal), nil)
			checkProblem(t, err, tt.want)
		})
	}
}

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
