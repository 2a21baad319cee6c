package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaCommand: `keygate schema` prints the JSON Schema that
// docs/gateway.schema.json holds, and gateway.yaml points editors at it.
func TestSchemaCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"schema"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("keygate schema: exit %d, stderr %q", code, stderr.String())
	}
	var s map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("keygate schema printed no JSON: %v", err)
	}
	if s["$schema"] == nil || s["properties"] == nil {
		t.Errorf("keygate schema printed %.200s; want a JSON Schema", stdout.String())
	}
	want, err := os.ReadFile(filepath.Join(repoRoot, "docs", "gateway.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), want) {
		t.Error("keygate schema differs from docs/gateway.schema.json")
	}
	if code := run([]string{"schema", "extra"}, &stdout, &stderr); code != exitConfig {
		t.Errorf("keygate schema extra: exit %d, want %d", code, exitConfig)
	}

	g, err := os.ReadFile(filepath.Join(repoRoot, "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const modeline = "# yaml-language-server: $schema=docs/gateway.schema.json"
	if first, _, _ := strings.Cut(string(g), "\n"); first != modeline {
		t.Errorf("gateway.yaml begins %q; want %q", first, modeline)
	}
}
