package config

import (
	"strings"
	"testing"
)

func TestWeakSecret(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		weak         string // part of the reason, "" for a good secret
	}{
		{"openssl rand -base64 48", "q0cYbqKcP0o3zJH2mQk8m1lO3b8XyqvG+9w2fW3pQ3Xg1m2V2b4QmY7R7uZpD1sX", ""},
		{"openssl rand -base64 32", "3q2+7wAbc9ZLk1uP0QxRz8yT5vWn4mEo6sJdFhGiKlM=", ""},
		{"openssl rand -hex 16", "9f86d081884c7d659a2feaa0c55ad015", ""},
		{"the tests' key", "a-test-digest-key-of-at-least-32-bytes", ""},
		{"the Secret's placeholder", "REPLACE-ME-with-openssl-rand-base64-48-output", "placeholder"},
		{"placeholder in another case", "replace_me_0123456789abcdefghijklmnopqrstuvwxyz", "placeholder"},
		{"changeme", "changeme-Q9z8Y7x6W5v4U3t2S1r0PqOnMlKjIhGf", "placeholder"},
		{"one character", strings.Repeat("a", 48), "1 distinct"},
		{"few characters", "abababababcdcdcdcdcdefefefefefababababab", "distinct"},
		{"hex with few digits", "0000111122223333000011112222333344445555", "distinct"},
		{"repeated pattern", strings.Repeat("K8#pQ2$vW9@nR5&t", 3), "repeats a pattern of 16"},
		{"a run", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", "consecutive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := WeakSecret(tc.secret)
			if tc.weak == "" && got != "" || tc.weak != "" && !strings.Contains(got, tc.weak) {
				t.Errorf("WeakSecret(%q) = %q, want %q", tc.secret, got, tc.weak)
			}
		})
	}
}

// TestWeakKeyNamesVariable: a digest or encryption key that is a
// placeholder or weak is a validation problem naming the field and the
// environment variable it came from.
func TestWeakKeyNamesVariable(t *testing.T) {
	y := `
auth:
  digest_keys: [{id: k1, secret: "${KEYGATE_DIGEST_KEY}"}]
  encryption_keys: [{id: e1, secret: "${KEYGATE_ENCRYPTION_KEY}"}]
routes:
  - {name: api, path_prefix: /api, upstream: http://h, api_set: s}
`
	_, err := Parse("t.yaml", []byte(y), env(map[string]string{
		"KEYGATE_DIGEST_KEY":     "REPLACE-ME-with-openssl-rand-base64-48-output",
		"KEYGATE_ENCRYPTION_KEY": strings.Repeat("0123456789abcdef", 3),
	}))
	if err == nil {
		t.Fatal("placeholder keys were accepted")
	}
	for _, w := range []string{
		"auth.digest_keys[0].secret: ${KEYGATE_DIGEST_KEY} is a placeholder",
		"auth.encryption_keys[0].secret: ${KEYGATE_ENCRYPTION_KEY} has too little entropy",
		"openssl rand -base64 48",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q not in:\n%v", w, err)
		}
	}
	if _, err := Parse("t.yaml", []byte(y), env(map[string]string{
		"KEYGATE_DIGEST_KEY":     "q0cYbqKcP0o3zJH2mQk8m1lO3b8XyqvG+9w2fW3pQ3Xg1m2V2b4QmY7R7uZpD1sX",
		"KEYGATE_ENCRYPTION_KEY": "3q2+7wAbc9ZLk1uP0QxRz8yT5vWn4mEo6sJdFhGiKlM=",
	})); err != nil {
		t.Errorf("random keys: %v", err)
	}
}
