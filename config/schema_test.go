package config

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const repoRoot = ".."

// compileSchema compiles config.Schema(); fragment drops the top level's
// required keys, for the excerpts of gateway.yaml in the docs.
func compileSchema(t *testing.T, fragment bool) *jsonschema.Schema {
	t.Helper()
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if fragment {
		delete(doc.(map[string]any), "required")
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("gateway.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("gateway.schema.json")
	if err != nil {
		t.Fatalf("the generated schema does not compile: %v", err)
	}
	return s
}

// validateYAML validates YAML text against s.
func validateYAML(s *jsonschema.Schema, text string) error {
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		return err
	}
	if v == nil {
		v = map[string]any{}
	}
	return s.Validate(v)
}

// TestSchemaFileCurrent: docs/gateway.schema.json is what Schema
// generates from the types and their doc comments today.
func TestSchemaFileCurrent(t *testing.T) {
	want, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot, "docs", "gateway.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("docs/gateway.schema.json differs from config.Schema(); regenerate it: go run ./cmd/keygate schema > docs/gateway.schema.json")
	}
}

// TestSchemaAcceptsShippedConfigs: the example gateway.yaml, the image's
// and the Kubernetes examples' configs validate against the schema.
func TestSchemaAcceptsShippedConfigs(t *testing.T) {
	s := compileSchema(t, false)
	for _, f := range []string{"gateway.yaml", "deploy/image/gateway.yaml", "deploy/kubernetes/base/gateway.yaml", "deploy/kubernetes/standalone/gateway.yaml", "deploy/kubernetes/forward-auth/keygate/gateway.yaml"} {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(repoRoot, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := validateYAML(s, string(b)); err != nil {
				t.Errorf("%s does not validate against the schema: %v", f, err)
			}
		})
	}
}

// yamlBlock is a fenced YAML block of a Markdown file.
var yamlBlock = regexp.MustCompile("(?ms)^```yaml\n(.*?)^```")

// TestSchemaAcceptsDocsExamples: every ```yaml block of README.md and
// docs/*.md (excerpts of gateway.yaml: the top level's required routes
// may be left out) validates against the schema.
func TestSchemaAcceptsDocsExamples(t *testing.T) {
	s := compileSchema(t, true)
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range append(docs, filepath.Join(repoRoot, "README.md")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range yamlBlock.FindAllStringSubmatch(string(b), -1) {
			n++
			if err := validateYAML(s, m[1]); err != nil {
				t.Errorf("%s, YAML block %d does not validate against the schema: %v\n%s", f, i+1, err, m[1])
			}
		}
	}
	if n < 5 {
		t.Errorf("found %d YAML blocks in the docs; want the configuration examples", n)
	}
}

// TestSchemaAcceptsTestConfigs: every string literal in the module's
// tests that Parse accepts as a config (with every ${VAR} set) validates
// against the schema: the schema refuses nothing the loader takes there.
func TestSchemaAcceptsTestConfigs(t *testing.T) {
	s := compileSchema(t, false)
	lookup := func(string) (string, bool) { return "q7Vd2LmX9pR4tY8wZ1cB6nE3hJ5kA0sF", true }
	fset := token.NewFileSet()
	n := 0
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != repoRoot {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(node ast.Node) bool {
			lit, ok := node.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || !strings.Contains(lit.Value, "routes:") {
				return true
			}
			text, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			if _, err := Parse("test.yaml", []byte(text), lookup); err != nil {
				return true // a fragment, a template or a config meant to fail
			}
			n++
			if err := validateYAML(s, text); err != nil {
				t.Errorf("%s: a config the loader accepts fails the schema: %v\n%s", fset.Position(lit.Pos()), err, text)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d configs in the tests parse and validate", n)
	if n < 10 {
		t.Errorf("found %d configs in the tests that parse; want more (did the search break?)", n)
	}
}

// TestSchemaRefuses: a config with an unknown key, a wrong choice, a
// malformed duration or a missing required field fails the schema, as it
// fails Parse.
func TestSchemaRefuses(t *testing.T) {
	s := compileSchema(t, false)
	const route = "routes: [{name: r, path_prefix: /r, upstream: http://127.0.0.1:9001, auth: none}]\n"
	for _, tc := range []struct{ name, yaml string }{
		{"unknown top-level key", "listn: ':8080'\n" + route},
		{"unknown nested key", "routes: [{name: r, path_prefix: /r, upstrem: http://127.0.0.1:9001, auth: none}]\n"},
		{"unknown key in a rate limit", route + "api_sets: {x: {rate_limit: {rate: 1, burts: 2}}}\n"},
		{"store.driver not a choice", "store: {driver: mongo}\n" + route},
		{"tls.mode not a choice", "tls: {mode: on}\n" + route},
		{"log.level not a choice", "log: {level: verbose}\n" + route},
		{"method not a choice", "routes: [{name: r, path_prefix: /r, upstream: http://127.0.0.1:9001, auth: none, methods: [FETCH]}]\n"},
		{"duration without unit", "server: {read_timeout: '30'}\n" + route},
		{"duration as a number", "server: {read_timeout: 30}\n" + route},
		{"no routes", "listen: ':8080'\n"},
		// A route without upstream is valid with forward_auth on, so the
		// schema leaves it to Validate (TestForwardAuthConfig).
		{"api_set missing where auth is required", "routes: [{name: r, path_prefix: /r, upstream: http://127.0.0.1:9001}]\n"},
		{"rate limit without rate", "routes: [{name: r, path_prefix: /r, upstream: http://127.0.0.1:9001, auth: none, rate_limit: {per: 1s}}]\n"},
		{"number not a number", "server: {max_header_bytes: lots}\n" + route},
		{"number below its least", "auth: {lockout_threshold: 0}\nserver: {max_header_bytes: 100}\n" + route},
		{"tls files without a certificate", "tls: {mode: files}\n" + route},
		{"redis without addresses", "store: {driver: redis}\n" + route},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := validateYAML(s, tc.yaml); err == nil {
				t.Errorf("the schema accepts\n%s", tc.yaml)
			}
			if _, err := Parse("test.yaml", []byte(tc.yaml), nil); err == nil {
				t.Errorf("Parse accepts\n%s\n(the case is no mistake)", tc.yaml)
			}
		})
	}
	// And the same with the mistake fixed, so that each case fails for
	// its mistake only.
	for _, ok := range []string{
		route,
		"store: {driver: redis, redis: {addrs: ['127.0.0.1:6379']}}\n" + route,
		"server: {read_timeout: 1m30s, max_header_bytes: 4096}\n" + route,
		"routes: [{name: r, path_prefix: /r, upstream: http://127.0.0.1:9001, api_set: s, methods: [get, POST], rate_limit: {rate: 5}}]\n",
		"store: {redis: {db: '${REDIS_DB}'}}\nserver: {read_timeout: '${READ_TIMEOUT}'}\n" + route,
	} {
		if err := validateYAML(s, ok); err != nil {
			t.Errorf("the schema refuses\n%s: %v", ok, err)
		}
	}
}

// TestSchemaContent: every property has a description, in words for
// users; the defaults are the Default* constants; additional properties
// are refused everywhere.
func TestSchemaContent(t *testing.T) {
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	at := func(path ...string) map[string]any {
		m := root
		for _, p := range path {
			if p == "[]" {
				m = m["items"].(map[string]any)
				continue
			}
			m = m["properties"].(map[string]any)[p].(map[string]any)
		}
		return m
	}
	for _, tc := range []struct {
		path []string
		want any
	}{
		{[]string{"listen"}, DefaultListen},
		{[]string{"store", "driver"}, DefaultStoreDriver},
		{[]string{"tls", "mode"}, DefaultTLSMode},
		{[]string{"server", "read_timeout"}, shortDuration(DefaultReadTimeout)},
		{[]string{"auth", "cache_size"}, float64(DefaultCacheSize)},
		{[]string{"log", "access_log"}, DefaultAccessLog},
		{[]string{"routes", "[]", "rate_limit", "mode"}, DefaultRateLimitMode},
		{[]string{"tls", "acme", "ca"}, DefaultACMEDirectory},
	} {
		if got := at(tc.path...)["default"]; got != tc.want {
			t.Errorf("%s: default %v, want %v", strings.Join(tc.path, "."), got, tc.want)
		}
	}
	if got := at("store", "driver")["anyOf"]; got == nil {
		t.Error("store.driver has no choices")
	}

	var walk func(s map[string]any, path string)
	walk = func(s map[string]any, path string) {
		if props, ok := s["properties"].(map[string]any); ok {
			if s["additionalProperties"] != false {
				t.Errorf("%s: additionalProperties is %v, want false", path, s["additionalProperties"])
			}
			for k, p := range props {
				p := p.(map[string]any)
				d, _ := p["description"].(string)
				switch {
				case d == "":
					t.Errorf("%s.%s has no description", path, k)
				case strings.Contains(strings.ToLower(d), "seed"):
					t.Errorf("%s.%s says \"seed\"; name the flow: %s", path, k, d)
				}
				walk(p, path+"."+k)
			}
		}
		for _, k := range []string{"items", "additionalProperties"} {
			if sub, ok := s[k].(map[string]any); ok {
				walk(sub, path+"."+k)
			}
		}
	}
	walk(root, "")
}
