package audit

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
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
