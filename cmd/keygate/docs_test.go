package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate/config"
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
			// Test helper packages (httpkittest, redistest, storetest…) serve nobody.
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

// TestDocsTablesWhole: every row of every Markdown table in README.md and
// docs/ has as many cells as the table's header, so that none renders
// broken (a row with a third cell under a two-column header drops it).
func TestDocsTablesWhole(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs/*.md: %d files, %v; want some", len(docs), err)
	}
	for _, f := range append([]string{filepath.Join(repoRoot, "README.md")}, docs...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, problem := range brokenTableRows(string(b)) {
			t.Errorf("%s:%s", f, problem)
		}
	}
}

// codeSpan is an inline code span, whose pipes are no cell borders.
var codeSpan = regexp.MustCompile("`[^`]*`")

// brokenTableRows names each table row of the Markdown text md whose cell
// count differs from its table's header, outside fenced code blocks.
func brokenTableRows(md string) []string {
	var problems []string
	header, fenced := 0, false
	for i, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "|") {
			header = 0
			continue
		}
		cells := strings.Count(strings.ReplaceAll(codeSpan.ReplaceAllString(line, "x"), `\|`, ""), "|") - 1
		switch {
		case header == 0:
			header = cells
		case cells != header:
			problems = append(problems, fmt.Sprintf("%d: %d cells under a header of %d: %.80s", i+1, cells, header, line))
		}
	}
	return problems
}

// TestConfigurationDocCoversTopLevel: docs/configuration.md's top-level
// table has a row for every top-level key of gateway.yaml, and every key
// that is a section (a struct, list or map) has a heading of its own.
func TestConfigurationDocCoversTopLevel(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, top, ok := strings.Cut(doc, "\n## Top level\n")
	if !ok {
		t.Fatal(`docs/configuration.md has no "## Top level" heading`)
	}
	top, _, _ = strings.Cut(top, "\n## ")
	headings := map[string]bool{}
	for _, line := range strings.Split(doc, "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			headings[h] = true
		} else if h, ok := strings.CutPrefix(line, "### "); ok {
			headings[h] = true
		}
	}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || key == "" || key == "-" {
			continue
		}
		if !strings.Contains(top, "\n| `"+key+"` |") {
			t.Errorf("the top-level table has no row for %q", key)
		}
		switch f.Type.Kind() {
		case reflect.Struct, reflect.Slice, reflect.Map:
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() != reflect.Struct {
				continue // a list of values, such as trusted_proxies
			}
			if !headings[key] {
				t.Errorf("no heading \"## %s\" (or ###) for the section %q", key, key)
			}
		}
	}
}

// TestDocsExamplesCallServedPaths: every `$KG/...` URL in README.md and
// docs/ (keygate's address in the examples) is one keygate answers with
// gateway.yaml as shipped: under a route's path prefix or a self-service
// path. An example that calls a path no route has gets a 404 as written.
func TestDocsExamplesCallServedPaths(t *testing.T) {
	cfg, err := config.Load(filepath.Join(repoRoot, "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	prefixes := slices.Clone(config.SelfServicePaths)
	for _, r := range cfg.Routes {
		prefixes = append(prefixes, r.PathPrefix)
	}
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs/*.md: %d files, %v; want some", len(docs), err)
	}
	n := 0
	for _, f := range append([]string{filepath.Join(repoRoot, "README.md")}, docs...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range exampleURL.FindAllStringSubmatch(string(b), -1) {
			n++
			path, _, _ := strings.Cut(m[1], "?")
			if !slices.ContainsFunc(prefixes, func(p string) bool { return path == p || strings.HasPrefix(path, p+"/") }) {
				t.Errorf("%s calls $KG%s; gateway.yaml's routes and the self-service API serve only %v", f, m[1], prefixes)
			}
		}
	}
	if n == 0 {
		t.Error("no $KG/ URL found in the docs; want the self-service examples")
	}
}

// exampleURL is keygate's address in the docs' examples and the path after it.
var exampleURL = regexp.MustCompile(`\$KG(/[^\s"'\\)]*)`)
