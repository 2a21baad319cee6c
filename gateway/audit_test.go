package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestAuditFile (issue 19.4, the sink): with audit.file set, the admin
// API's revocation writes its audit line to the file as well as to the
// main log, and nothing else (no access line, no secret) goes there.
func TestAuditFile(t *testing.T) {
	const token = "a-bootstrap-admin-token-of-the-audit-test-01234"
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.log")
	up := echoUpstream(t)
	y := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {embedded: {path: %q}}
audit: {file: %q}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, api_set: orders}
`, filepath.Join(dir, "k.db"), file, up.URL)
	g, logs := startLogged(t, parse(t, y), Options{AdminToken: token})
	if code, _, body := adminCall(t, g, "POST", "/admin/users", "Bearer "+token, `{"name": "alice", "apiSets": ["orders"]}`); code != 201 {
		t.Fatalf("create a user: %d %s", code, body)
	}
	kt := namedKey(t, g, "alice", "ci")
	if code, _, _ := do(t, "GET", "http://"+g.Addr().String()+"/orders/1", "Bearer "+kt); code != 200 {
		t.Fatalf("GET with alice's key: %d", code)
	}
	code, _, body := adminCall(t, g, "GET", "/admin/users/alice/credentials", "Bearer "+token, "")
	var list struct {
		Credentials []struct{ ID string } `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Credentials) != 1 {
		t.Fatalf("alice's credentials: %d %s", code, body)
	}
	id := list.Credentials[0].ID
	if code, _, body := adminCall(t, g, "DELETE", "/admin/credentials/"+id, "Bearer "+token, ""); code != 204 {
		t.Fatalf("revoke: %d %s", code, body)
	}

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	var revokes int
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("audit file line %q: %v", l, err)
		}
		if m["audit"] == nil {
			t.Errorf("a line without an audit field in the audit file: %s", l)
		}
		if m["audit"] == "revoke" && m["via"] == "admin_api" {
			revokes++
			if m["actor"] != "<admin token>" || m["target"] != id || m["logger"] != "audit" {
				t.Errorf("revocation's audit line: %s", l)
			}
		}
	}
	if revokes != 1 {
		t.Errorf("%d admin revocation lines in the audit file, want 1:\n%s", revokes, data)
	}
	if strings.Contains(string(data), kt) || strings.Contains(string(data), token) {
		t.Errorf("the audit file holds a secret:\n%s", data)
	}
	if n := logs.FilterField(zap.String("audit", "revoke")).FilterField(zap.String("via", "admin_api")).Len(); n != 1 {
		t.Errorf("%d revocation audit lines in the main log, want 1 (the file is in addition)", n)
	}
	if logs.FilterMessage("request").Len() == 0 {
		t.Error("no access line in the main log")
	}
}
