package audit

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestActionsDocumented: docs/operations.md's table of actions lists
// every action, in the order of Actions, with its target kind, and no
// other.
func TestActionsDocumented(t *testing.T) {
	data, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	start := strings.Index(doc, "## Audit lines")
	if start < 0 {
		t.Fatal(`docs/operations.md has no "## Audit lines" section`)
	}
	section := doc[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (user|credential|client) \\|")
	var documented, want []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1]+" "+m[2])
	}
	for _, a := range Actions {
		want = append(want, a.Name+" "+a.Target)
	}
	if !slices.Equal(documented, want) {
		t.Errorf("docs/operations.md's actions:\n%s\nwant (internal/audit.Actions):\n%s", strings.Join(documented, "\n"), strings.Join(want, "\n"))
	}
}

// TestLog: the actor a context carries (System without one), empty
// actor fields left out, the action's message and level.
func TestLog(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core).Named("audit")
	Log(t.Context(), log, Void, Credential("cred_1", "alice"), zap.Int64("strikes", 3))
	ctx := WithActor(t.Context(), Actor{Name: "bob", Auth: "password", Via: "self_service", Client: "10.0.0.7", RequestID: "r1"})
	Log(ctx, log, CreateKey, Credential("cred_2", "bob"), zap.String("handle", "ci"))
	all := logs.All()
	if len(all) != 2 {
		t.Fatalf("%d lines, want 2", len(all))
	}
	void, key := all[0], all[1]
	if void.Level != zapcore.WarnLevel || void.Message != "credential voided after repeated wrong tokens" {
		t.Errorf("void: %v %q", void.Level, void.Message)
	}
	wantMap(t, void.ContextMap(), map[string]any{"audit": "void", "actor": "system", "actor_auth": "system", "via": "system",
		"target_kind": "credential", "target": "cred_1", "user": "alice", "strikes": int64(3)})
	wantMap(t, key.ContextMap(), map[string]any{"audit": "create_key", "actor": "bob", "actor_auth": "password", "via": "self_service",
		"client": "10.0.0.7", "request_id": "r1", "target_kind": "credential", "target": "cred_2", "user": "bob", "handle": "ci"})
}

func wantMap(t *testing.T, got, want map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("fields %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
