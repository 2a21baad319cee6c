package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the module's root, from this package's directory.
const repoRoot = "../.."

// TestDocsPlainWords: README.md, docs/ and gateway.yaml name the credential
// flows (OAuth2 client credentials, named API keys, long-lived key tokens,
// the ApiKey key and token), never the internal "seed" documents they came
// from; nor does any string literal in the module's non-test Go code, where
// error descriptions and page text live (comments may, for developers; test
// helper packages, named *test, are skipped).
func TestDocsPlainWords(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs/*.md: %d files, %v; want some", len(docs), err)
	}
	files := append([]string{filepath.Join(repoRoot, "README.md"), filepath.Join(repoRoot, "gateway.yaml")}, docs...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if saysSeed(line) {
				t.Errorf("%s:%d says \"seed\"; name the flow instead: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}

	fset := token.NewFileSet()
	n := 0
	err = filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Test helper packages (httpapitest, redistest, storetest…) serve nobody.
			if name := d.Name(); path != repoRoot && (strings.HasPrefix(name, ".") || name == "testdata" || strings.HasSuffix(name, "test")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		n++
		ast.Inspect(f, func(node ast.Node) bool {
			if lit, ok := node.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && saysSeed(s) {
					t.Errorf("%s: string literal says \"seed\"; name the flow instead: %s", fset.Position(lit.Pos()), lit.Value)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no Go files read; want the module's")
	}
}

func saysSeed(s string) bool { return strings.Contains(strings.ToLower(s), "seed") }

// TestUsageMatchesREADME: each command line of `keygate help`'s first block
// (serve, check, demo, version) is in README.md's command table as written,
// flags and all.
func TestUsageMatchesREADME(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(usage, "\n") {
		synopsis, _, ok := strings.Cut(strings.TrimSpace(line), "   ")
		if !ok || !strings.HasPrefix(synopsis, "keygate ") {
			continue
		}
		n++
		if !strings.Contains(string(readme), "| `"+synopsis+"` |") {
			t.Errorf("usage has %q; README.md's command table has no row \"| `%s` |\"", synopsis, synopsis)
		}
	}
	if n < 4 {
		t.Errorf("usage has %d command lines with a description; want at least 4 (serve, check, demo, version)", n)
	}
}
