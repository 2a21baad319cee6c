package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPlaceholderSecretsRefused (issue 16.6): keygate, run as a process,
// refuses to start and `keygate check` fails when the bootstrap admin
// token, a digest key or an encryption key is a placeholder or has too
// little entropy, and each message names the variable.
func TestPlaceholderSecretsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	writeFile(t, path, `
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {embedded: {path: `+filepath.Join(dir, "keygate.db")+`}}
auth:
  digest_keys: [{id: k1, secret: "${KEYGATE_DIGEST_KEY}"}]
  encryption_keys: [{id: e1, secret: "${KEYGATE_ENCRYPTION_KEY}"}]
routes:
  - {name: api, path_prefix: /api, upstream: "http://127.0.0.1:1", api_set: s}
`)
	random := func() string {
		var b [48]byte
		_, _ = rand.Read(b[:])
		return base64.StdEncoding.EncodeToString(b[:])
	}
	placeholder := "REPLACE-ME-with-openssl-rand-base64-48-output" // what deploy/kubernetes/base shipped
	for _, tc := range []struct {
		name             string
		digest, enc, tok string
		want             []string // "" means accepted
	}{
		{"placeholders", placeholder, placeholder, "REPLACE-ME-with-openssl-rand-base64-32-output",
			[]string{"${KEYGATE_DIGEST_KEY} is a placeholder", "${KEYGATE_ENCRYPTION_KEY} is a placeholder", "KEYGATE_ADMIN_TOKEN: the value is a placeholder"}},
		{"weak admin token", random(), random(), strings.Repeat("admin-token-", 4),
			[]string{"KEYGATE_ADMIN_TOKEN: the value has too little entropy"}},
		{"weak digest key", strings.Repeat("z", 40), random(), random(),
			[]string{"${KEYGATE_DIGEST_KEY} has too little entropy"}},
		{"random values", random(), random(), random(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(os.Environ(), "KEYGATE_DIGEST_KEY="+tc.digest, "KEYGATE_ENCRYPTION_KEY="+tc.enc, "KEYGATE_ADMIN_TOKEN="+tc.tok)
			check := exec.Command(binary, "check", "-config", path)
			check.Env = env
			out, err := check.CombinedOutput()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("check with random secrets: %v\n%s", err, out)
				}
				return
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
				t.Errorf("check: %v, want exit %d\n%s", err, exitConfig, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("check output does not name %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), tc.tok) || strings.Contains(string(out), tc.digest) {
				t.Errorf("check output holds a secret's value:\n%s", out)
			}

			// It exits at once, before listening; one that started is
			// stopped after a while and fails the test.
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			serve := exec.CommandContext(ctx, binary, "serve", "-config", path)
			serve.Env = env
			out, err = serve.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
				t.Errorf("serve: %v, want exit %d\n%s", err, exitConfig, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("serve output does not name %q:\n%s", w, out)
				}
			}
		})
	}
}
