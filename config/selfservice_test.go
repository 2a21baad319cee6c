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
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
