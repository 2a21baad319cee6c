package config

import (
	"testing"
	"time"
)

func TestAccountDefaults(t *testing.T) {
	cfg, err := Parse("gateway.yaml", []byte(minimal), env(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	a := cfg.Account
	if a.On() || a.Path != DefaultAccountPath || a.SessionIdleTimeout != 30*time.Minute || a.SessionAbsoluteTimeout != 12*time.Hour || a.SecureCookie {
		t.Errorf("account defaults = %+v, want off, /account, 30m, 12h, secure_cookie false", a)
	}
	cfg, err = Parse("gateway.yaml", []byte("account: {enabled: true, path: /portal/}\n"+minimal), env(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Account.Path != "/portal" {
		t.Errorf("account.path = %q, want the trailing slash trimmed", cfg.Account.Path)
	}
}

func TestAccountValidation(t *testing.T) {
	tests := []struct {
		account string
		want    string // "" means valid
	}{
		{`{enabled: true}`, ""},
		{`{enabled: true, path: /me/pages}`, ""},
		{`{enabled: true, path: account}`, "account.path: \"account\" must be / followed by segments"},
		{`{enabled: true, path: "/a/../b"}`, "account.path:"},
		{`{enabled: true, path: "/a b"}`, "account.path:"},
		{`{enabled: true, path: "/%61"}`, "account.path:"},
		{`{enabled: true, path: /user/account}`, "account.path: \"/user/account\" overlaps the self-service API at /user"},
		{`{enabled: true, session_idle_timeout: -1s}`, "account.session_idle_timeout: must be a positive duration"},
		{`{enabled: true, session_absolute_timeout: -1s}`, "account.session_absolute_timeout: must be a positive duration"},
		{`{enabled: true, session_idle_timeout: 2h, session_absolute_timeout: 1h}`, "account.session_idle_timeout: 2h0m0s is longer than account.session_absolute_timeout (1h0m0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.account, func(t *testing.T) {
			y := "self_service: {enabled: true}\naccount: " + tt.account + "\n" + minimal
			_, err := Parse("t.yaml", []byte(y), nil)
			checkProblem(t, err, tt.want)
		})
	}
}
