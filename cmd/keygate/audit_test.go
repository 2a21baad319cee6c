package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIAuditLines (issue 19.4): every command that changes something,
// run in this process, writes exactly one audit line to audit.file, with
// the actor cli, the operating system user, the action and the target; a
// command that fails writes none; no line holds a secret the commands
// printed or read.
func TestCLIAuditLines(t *testing.T) {
	dir := t.TempDir()
	path, file := filepath.Join(dir, "gateway.yaml"), filepath.Join(dir, "audit.log")
	writeFile(t, path, fmt.Sprintf("store: {embedded: {path: %q}}\naudit: {file: %q}\nroutes:\n%s",
		filepath.Join(dir, "k.db"), file, strings.ReplaceAll(ordersRoute, "UP", "http://127.0.0.1:1")))
	const password = "pw-bob-cli-secret-1"
	var secrets []string
	run := func(wantOK bool, input string, group string, args ...string) string {
		t.Helper()
		if input != "" {
			old := stdin
			stdin = strings.NewReader(input + "\n")
			defer func() { stdin = old }()
		}
		var out, errOut bytes.Buffer
		code := admin(group, append(args, "-config", path), &out, &errOut)
		if (code == exitOK) != wantOK {
			t.Fatalf("keygate %s %s: exit %d: %s", group, strings.Join(args, " "), code, errOut.String())
		}
		return out.String()
	}
	var lines []map[string]any
	read := func() []map[string]any {
		t.Helper()
		data, err := os.ReadFile(file)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var all []map[string]any
		for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Fatalf("audit file line %q: %v", l, err)
			}
			for _, s := range secrets {
				if strings.Contains(string(l), s) {
					t.Errorf("an audit line holds a secret: %s", l)
				}
			}
			all = append(all, m)
		}
		got := all[len(lines):]
		lines = all
		return got
	}
	var keyID string
	steps := []struct {
		name   string
		do     func()
		action string // "" for none
		target func() string
	}{
		{"users add", func() { run(true, "", "users", "add", "bob", "--api-sets", "orders") }, "create_user", func() string { return "bob" }},
		{"users password", func() { secrets = append(secrets, password); run(true, password, "users", "password", "bob") }, "set_password", func() string { return "bob" }},
		{"users disable", func() { run(true, "", "users", "disable", "bob") }, "disable_user", func() string { return "bob" }},
		{"users enable", func() { run(true, "", "users", "enable", "bob") }, "enable_user", func() string { return "bob" }},
		{"keys create", func() {
			secrets = append(secrets, strings.TrimSpace(run(true, "", "keys", "create", "bob", "--handle", "ci")))
		}, "create_key", func() string { return keyID }},
		{"keys delete", func() { run(true, "", "keys", "delete", "bob", "ci") }, "delete_key", func() string { return keyID }},
		{"keys create again", func() {
			secrets = append(secrets, strings.TrimSpace(run(true, "", "keys", "create", "bob", "--handle", "k2")))
		}, "create_key", func() string { return keyID }},
		{"keys revoke", func() { run(true, "", "keys", "revoke", keyID) }, "revoke", func() string { return keyID }},
		{"apikey token", func() { secrets = append(secrets, apiKeySecrets(run(true, "", "apikey", "token", "bob"))...) }, "new_apikey_token", nil},
		{"apikey rotate", func() { secrets = append(secrets, apiKeySecrets(run(true, "", "apikey", "rotate", "bob"))...) }, "rotate_apikey", nil},
		{"apikey unvoid", func() { run(true, "", "apikey", "unvoid", "bob") }, "unvoid", nil},
		{"a failed command", func() { run(false, "", "keys", "delete", "bob", "nope") }, "", nil},
		{"a failed password", func() { run(false, "short", "users", "password", "bob") }, "", nil},
	}
	for _, st := range steps {
		st.do()
		got := read()
		if st.action == "" {
			if len(got) != 0 {
				t.Errorf("%s: %d audit lines, want none: %v", st.name, len(got), got)
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s: %d audit lines, want 1: %v", st.name, len(got), got)
			continue
		}
		m := got[0]
		if m["audit"] == "create_key" {
			keyID, _ = m["target"].(string)
		}
		want := map[string]any{"audit": st.action, "actor": "cli", "actor_auth": "cli", "via": "cli", "user": "bob", "logger": "audit"}
		if st.target != nil {
			want["target"] = st.target()
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %s = %v, want %v (%v)", st.name, k, m[k], v, m)
			}
		}
		if u, _ := m["os_user"].(string); u == "" {
			t.Errorf("%s: no os_user: %v", st.name, m)
		}
	}
}

// apiKeySecrets are the key and token of an "ApiKey key:token" line.
func apiKeySecrets(out string) []string {
	k, tok, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(out), "ApiKey "), ":")
	return []string{k, tok}
}
