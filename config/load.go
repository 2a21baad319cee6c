package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds gateway.yaml; a larger file is refused before parsing.
const MaxFileSize = 1 << 20

// Load reads, decodes, expands, defaults and validates the file at path.
// Every problem found is reported at once: unknown keys as
// "FILE:LINE: FIELD.PATH: unknown field", type errors with their line, and
// validation errors with their field path. On any error the returned
// *Config is nil.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: file is %d bytes, limit %d", path, len(data), MaxFileSize)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse is Load on bytes already read; name is used in messages and lookup
// resolves ${VAR} references (os.LookupEnv in Load; nil means no variable
// is set).
func Parse(name string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	cfg := &Config{}
	if len(root.Content) == 0 { // empty file: all defaults
		cfg.ApplyDefaults()
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		return cfg, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: top level must be a mapping of keys", name, doc.Line)
	}

	// Unknown keys and unset variables are reported together with the
	// validation problems, so one run of `keygate check` shows everything.
	// Type errors stop short of validation: a field that did not decode
	// would be reported again as missing.
	w := walker{file: name, lookup: lookup}
	w.walk(doc, reflect.TypeOf(Config{}), "")
	errs := w.errs
	if err := doc.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, m := range te.Errors {
			errs = append(errs, fmt.Errorf("%s:%s", name, strings.TrimPrefix(m, "line ")))
		}
		return nil, errors.Join(errs...)
	}
	cfg.envSources = w.sources
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		errs = append(errs, Problems(err)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// walker checks a YAML tree against the Go type it will decode into: it
// reports every mapping key that names no field (with its full path and,
// when one is close, a suggestion) and expands ${VAR} references in scalar
// values.
type walker struct {
	file    string
	lookup  func(string) (string, bool)
	errs    []error
	sources map[string]string // field path → the variable its value came from
}

func (w *walker) errorf(line int, format string, args ...any) {
	w.errs = append(w.errs, fmt.Errorf("%s:%d: %s", w.file, line, fmt.Sprintf(format, args...)))
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				msg := p + ": unknown field"
				if s := closest(k.Value, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				w.errorf(k.Line, "%s", msg)
				continue
			}
			w.walk(v, ft, p)
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.walk(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value))
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, v := range n.Content {
			w.walk(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case n.Kind == yaml.ScalarNode:
		w.expand(n, t, path)
	}
}

var envRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{[^}]*\}?`)

// expand replaces ${VAR} in a scalar value (never in keys, never producing
// YAML structure) and "$$" with "$". An unset variable or a malformed
// reference is an error naming the field. The result is text for string
// fields, and is resolved again (so "db: ${REDIS_DB}" is a number) for
// the others.
func (w *walker) expand(n *yaml.Node, t reflect.Type, path string) {
	if !strings.Contains(n.Value, "$") {
		return
	}
	n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
		if ref == "$$" {
			return "$"
		}
		m := envRef.FindStringSubmatch(ref)
		if m[1] == "" {
			w.errorf(n.Line, "%s: malformed reference %q (want ${NAME}, or $$ for a literal $)", path, ref)
			return ref
		}
		v, ok := w.lookup(m[1])
		if !ok {
			w.errorf(n.Line, "%s: environment variable %s is not set", path, m[1])
		}
		if w.sources == nil {
			w.sources = map[string]string{}
		}
		w.sources[path] = m[1]
		return v
	})
	if t.Kind() == reflect.String {
		n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
	} else if n.Style == 0 {
		n.Tag = ""
	}
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		m[name] = f.Type
	}
	return m
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// closest returns the known field within edit distance 2 of key, if any.
func closest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, name := range names {
		if d := editDistance(key, name); d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Problems splits an error from Load, Parse or Validate into its problems,
// one per field.
func Problems(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
