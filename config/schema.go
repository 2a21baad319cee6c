package config

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
)

// The JSON Schema of gateway.yaml, for editors (yaml-language-server) to
// complete and check the file. It is generated from the types of this
// package: properties from the yaml tags, descriptions from the fields' doc
// comments (read from the sources embedded below, so that the binary
// prints the same schema as the tests generate), defaults from
// ApplyDefaults, and the fixed choices and required fields from
// schemaRules. docs/gateway.schema.json is a copy that a test keeps equal.

// typeSources are the files that declare the types of gateway.yaml.
//
//go:embed config.go ratelimit.go forwardauth.go cors.go jwt.go audit.go readiness.go oidc.go tracing.go
var typeSources embed.FS

// SchemaDraft is the JSON Schema version the schema declares: draft-07,
// which every editor's YAML language server understands.
const SchemaDraft = "http://json-schema.org/draft-07/schema#"

// envRefPattern matches a value holding a ${VAR} reference, which Load
// replaces before the value is typed: any scalar may be one.
const envRefPattern = `\$\{[A-Za-z_][A-Za-z0-9_]*\}`

// durationPattern is a Go duration without sign: "500ms", "1h30m", "0".
const durationPattern = `^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

var durationType = reflect.TypeFor[time.Duration]()

// Schema returns the JSON Schema of gateway.yaml, indented, with a final
// newline: what `keygate schema` prints and docs/gateway.schema.json holds.
func Schema() ([]byte, error) {
	docs, err := fieldDocs()
	if err != nil {
		return nil, fmt.Errorf("reading the config's doc comments: %w", err)
	}
	r := &jsonschema.Reflector{
		FieldNameTag:               "yaml",
		Anonymous:                  true,
		DoNotReference:             true, // one tree: simplest for editors
		RequiredFromJSONSchemaTags: true, // required comes from schemaRules
		Mapper:                     scalarSchema,
		LookupComment: func(t reflect.Type, field string) string {
			if field == "" {
				return "" // type names mean nothing to users
			}
			return docs[t.Name()+"."+field]
		},
	}
	s := r.Reflect(&Config{})
	s.Version = SchemaDraft
	s.Title = "keygate gateway.yaml"
	s.Description = "The configuration of keygate, an authentication gateway: " +
		"docs/configuration.md describes every field. `keygate check` validates a file."
	annotate(s, reflect.ValueOf(defaultsProbe()))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// scalarSchema maps durations to strings with a pattern, and lets every
// scalar that is not plain text be a ${VAR} reference as well.
func scalarSchema(t reflect.Type) *jsonschema.Schema {
	switch {
	case t == durationType:
		return &jsonschema.Schema{Type: "string", Pattern: durationPattern}
	case t.Kind() == reflect.Bool:
		return &jsonschema.Schema{Type: "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return &jsonschema.Schema{Type: "integer"}
	}
	return nil
}

// defaultsProbe is a Config with one of everything optional, defaulted:
// the value of each of its fields is that field's default.
func defaultsProbe() Config {
	c := Config{
		Routes:  []Route{{RateLimit: &RateLimit{}, Quota: &Quota{}}},
		APISets: map[string]APISet{"": {RateLimit: &RateLimit{}, Quota: &Quota{}}},
		Auth:    Auth{JWT: JWT{Issuers: []JWTIssuer{{}}}},
		Account: Account{OIDC: &OIDC{}},
	}
	c.ApplyDefaults()
	// The ACME defaults apply in mode acme only.
	acme := Config{TLS: TLS{Mode: TLSACME}}
	acme.ApplyDefaults()
	c.TLS.ACME = acme.TLS.ACME
	return c
}

// rule adds what the types cannot say to a field's schema.
type rule func(*jsonschema.Schema)

// schemaRules are the fixed choices and formats of fields, by
// "Type.yaml_key", as Validate checks them.
var schemaRules = map[string]rule{
	"Log.level":                            oneOf("debug", "info", "warn", "error"),
	"Log.format":                           oneOf("json", "console"),
	"Store.driver":                         oneOf(DriverEmbedded, DriverRedis),
	"TLS.mode":                             oneOf(TLSOff, TLSFiles, TLSACME),
	"TLS.min_version":                      oneOf("1.2", "1.3"),
	"ACME.challenges":                      items(oneOf(ChallengeTLSALPN01, ChallengeHTTP01)),
	"Auth.upstream_identity":               items(oneOf(IdentityNames...)),
	"JWTIssuer.algorithms":                 items(oneOf(JWTAlgorithms...)),
	"JWTIssuer.issuer":                     matches(regexp.MustCompile(`^https?://`)),
	"OIDC.issuer":                          matches(regexp.MustCompile(`^https?://`)),
	"OIDC.match_claim":                     oneOf(MatchEmail, MatchPreferredUsername),
	"JWT.cache_size":                       between(100, 0),
	"SelfService.manage_key_authority_for": items(oneOf(KeyKinds...)),
	"DigestKey.id":                         matches(keyID),
	"Config.api_sets":                      keys(setName),
	"Route.name":                           matches(routeName),
	"Route.path_prefix":                    matches(regexp.MustCompile(`^/`)),
	"Route.upstream":                       matches(regexp.MustCompile(`^(https?|unix)://`)),
	"Route.auth":                           oneOf(AuthRequired, AuthOptional, AuthNone),
	"Route.api_set":                        matches(setName),
	"Route.methods":                        items(oneOfAnyCase(methodNames...)),
	"Route.method_override":                oneOfAnyCase(MethodOverrideHeaders...),
	"RateLimit.key":                        oneOf(LimitByCredential, LimitByUser, LimitByRoute, LimitByAddress),
	"RateLimit.on_store_error":             oneOf(OnErrorLocal, OnErrorFailOpen, OnErrorFailClosed),
	"RateLimit.mode":                       oneOf(LimitFast, LimitExact),
	"Quota.per":                            oneOf(QuotaPerMonth, QuotaPerDay),
	"Quota.on_store_error":                 oneOf(OnErrorFailClosed, OnErrorFailOpen),
	"Quota.requests":                       between(1, 0),
	"RateLimit.rate":                       between(1, 0),
	"RateLimit.burst":                      between(1, 0),
	"RateLimit.batch":                      between(0, 0),
	"FailureLimit.rate":                    between(-1, 0),
	"FailureLimit.burst":                   between(1, 0),
	"Auth.lockout_threshold":               between(1, 1000),
	"Auth.cache_size":                      between(100, 0),
	"Server.max_header_bytes":              between(1024, 0),
	"Server.max_body_bytes":                between(0, 0),
	"Upstream.max_idle_conns_per_host":     between(1, 0),
	"Runtime.gomaxprocs":                   between(0, 0),
	"Runtime.gc_percent":                   between(-1, 0),
	"Runtime.memory_limit_mib":             between(0, 0),
	"Redis.db":                             between(0, 0),
	"Redis.pool_size":                      between(0, 0),
	"Tracing.sample_ratio":                 ratio,
	"Tracing.endpoint":                     matches(regexp.MustCompile(`^https?://`)),
	"Tracing.queue_size":                   between(1, MaxTracingQueueSize),
}

// schemaRequired are the keys each type must have.
var schemaRequired = map[string][]string{
	"Config":      {"routes"},
	"Route":       {"name", "path_prefix"}, // upstream: unless forward_auth is on (Validate)
	"RateLimit":   {"rate"},
	"Quota":       {"requests"},
	"DigestKey":   {"id", "secret"},
	"JWTIssuer":   {"issuer", "audiences"},
	"JWTClaimMap": {"claim", "values"},
	"OIDC":        {"issuer", "client_id"},
}

// noDefault are the fields whose default follows another field's value,
// so that no one value can be shown.
var noDefault = map[string]bool{
	"FailureLimit.burst": true, // the rate, at least auth.lockout_threshold
	"ACME.challenges":    true, // http-01 only with tls.http_listen
}

// pointerDefaults are the defaults of the fields whose absence (nil)
// means the default.
var pointerDefaults = map[string]any{
	"Log.access_log":             DefaultAccessLog,
	"OAuth.issue_refresh_tokens": DefaultIssueRefreshTokens,
	"RateLimit.headers":          DefaultRateLimitHeaders,
	"Tracing.sample_ratio":       DefaultTracingSampleRatio,
}

// methodNames are the methods a route may name, in their usual order.
var methodNames = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// annotate walks the schema s of the struct value v (a defaulted probe):
// it adds defaults, rules and required keys, and lets every scalar that is
// not plain text be a ${VAR} reference.
func annotate(s *jsonschema.Schema, v reflect.Value) {
	t := v.Type()
	if req, ok := schemaRequired[t.Name()]; ok {
		s.Required = req
	}
	switch t {
	case reflect.TypeFor[Route]():
		s.If, s.Else = whenIs("auth", AuthNone), &jsonschema.Schema{Required: []string{"api_set"}}
	case reflect.TypeFor[TLS]():
		s.If, s.Then = whenIs("mode", TLSFiles), &jsonschema.Schema{Required: []string{"cert_file", "key_file"}}
	case reflect.TypeFor[Store]():
		redis := &jsonschema.Schema{Properties: jsonschema.NewProperties(), Required: []string{"redis"}}
		redis.Properties.Set("redis", &jsonschema.Schema{Required: []string{"addrs"}})
		s.If, s.Then = whenIs("driver", DriverRedis), redis
	}
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || key == "" || key == "-" {
			continue
		}
		p, ok := s.Properties.Get(key)
		if !ok {
			continue
		}
		name := t.Name() + "." + key
		fv := v.Field(i)
		if d, ok := pointerDefaults[name]; ok {
			p.Default = d
		} else if !noDefault[name] {
			p.Default = defaultOf(fv)
		}
		if r, ok := schemaRules[name]; ok {
			r(p)
		}
		for fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				fv = reflect.New(fv.Type().Elem())
			}
			fv = fv.Elem()
		}
		switch fv.Kind() {
		case reflect.Struct:
			annotate(p, fv)
		case reflect.Slice:
			if fv.Type().Elem().Kind() == reflect.Struct {
				elem := reflect.New(fv.Type().Elem()).Elem()
				if fv.Len() > 0 {
					elem = fv.Index(0)
				}
				annotate(p.Items, elem)
			} else {
				allowEnvRef(p.Items)
			}
		case reflect.Map:
			if fv.Type().Elem().Kind() == reflect.Struct {
				elem := reflect.New(fv.Type().Elem()).Elem()
				if fv.Len() > 0 {
					elem = fv.MapIndex(fv.MapKeys()[0])
				}
				annotate(p.AdditionalProperties, elem)
			} else {
				allowEnvRef(p.AdditionalProperties)
			}
		default:
			allowEnvRef(p)
		}
	}
}

// whenIs is the condition "key is set to value", for the requirements
// that follow a choice: api_set unless auth is none, cert_file and
// key_file in tls mode files, redis.addrs with the redis driver.
func whenIs(key, value string) *jsonschema.Schema {
	s := &jsonschema.Schema{Properties: jsonschema.NewProperties(), Required: []string{key}}
	s.Properties.Set(key, &jsonschema.Schema{Const: value})
	return s
}

// defaultOf is the schema default of a defaulted field's value: nil for an
// empty string, a zero number or duration and an empty list (no one
// default: "none", or chosen at run time), false for a boolean.
func defaultOf(v reflect.Value) any {
	switch {
	case v.Type() == durationType:
		if v.Int() == 0 {
			return nil
		}
		return shortDuration(time.Duration(v.Int()))
	case v.Kind() == reflect.Bool:
		return v.Bool()
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		if v.Len() == 0 {
			return nil
		}
		return v.Interface()
	case v.Kind() == reflect.String, v.Kind() >= reflect.Int && v.Kind() <= reflect.Int64:
		if v.IsZero() {
			return nil
		}
		return v.Interface()
	}
	return nil
}

// shortDuration writes d as a person would: 720h rather than 720h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// allowEnvRef lets a scalar that is not plain text (a number, boolean,
// duration, or a string with fixed choices or a format) be a ${VAR}
// reference instead; Load expands it before the value is typed.
func allowEnvRef(s *jsonschema.Schema) {
	if s == nil || s.Type == "" || (s.Type == "string" && s.Pattern == "" && len(s.Enum) == 0 && s.AnyOf == nil) {
		return
	}
	if s.Type == "string" && len(s.Enum) == 0 && s.AnyOf == nil {
		s.Pattern = "(" + s.Pattern + ")|" + envRefPattern
		return
	}
	value := &jsonschema.Schema{Type: s.Type, Pattern: s.Pattern, Enum: s.Enum, AnyOf: s.AnyOf, Minimum: s.Minimum, Maximum: s.Maximum}
	s.Type, s.Pattern, s.Enum, s.Minimum, s.Maximum = "", "", nil, "", ""
	s.AnyOf = []*jsonschema.Schema{value, {Type: "string", Pattern: envRefPattern}}
}

func oneOf(values ...string) rule {
	return func(s *jsonschema.Schema) {
		s.Enum = make([]any, len(values))
		for i, v := range values {
			s.Enum[i] = v
		}
	}
}

// oneOfAnyCase is oneOf for a value compared without regard to case: the
// canonical spellings for completion, and any other case accepted.
func oneOfAnyCase(values ...string) rule {
	return func(s *jsonschema.Schema) {
		canonical := &jsonschema.Schema{Type: "string"}
		oneOf(values...)(canonical)
		alts := make([]string, len(values))
		for i, v := range values {
			alts[i] = anyCase(v)
		}
		s.Type = ""
		s.AnyOf = []*jsonschema.Schema{canonical, {Type: "string", Pattern: "^(" + strings.Join(alts, "|") + ")$"}}
	}
}

// anyCase writes a regular expression of s in any case ("Get" →
// "[Gg][Ee][Tt]"), for the regular expressions of every editor.
func anyCase(s string) string {
	var b strings.Builder
	for _, c := range s {
		up, low := strings.ToUpper(string(c)), strings.ToLower(string(c))
		if up == low {
			b.WriteString(regexp.QuoteMeta(string(c)))
			continue
		}
		b.WriteString("[" + up + low + "]")
	}
	return b.String()
}

// between bounds a number: at least lo, and at most hi unless hi is 0.
func between(lo, hi int) rule {
	return func(s *jsonschema.Schema) {
		s.Minimum = json.Number(strconv.Itoa(lo))
		if hi != 0 {
			s.Maximum = json.Number(strconv.Itoa(hi))
		}
	}
}

// ratio is a number from 0 to 1.
func ratio(s *jsonschema.Schema) {
	s.Minimum, s.Maximum = json.Number("0"), json.Number("1")
}

func matches(re *regexp.Regexp) rule {
	return func(s *jsonschema.Schema) { s.Pattern = re.String() }
}

func items(r rule) rule {
	return func(s *jsonschema.Schema) { r(s.Items) }
}

func keys(re *regexp.Regexp) rule {
	return func(s *jsonschema.Schema) {
		s.PropertyNames = &jsonschema.Schema{Pattern: re.String()}
	}
}

// fieldDocs reads the doc comments of the config types' fields from their
// sources, by "Type.Field", in words for users: one paragraph, the Go
// names of the type's fields written as their YAML keys. A field without a
// comment of its own shares the one before it when that one names it
// ("CertFile and KeyFile are ...").
func fieldDocs() (map[string]string, error) {
	docs := map[string]string{}
	entries, err := typeSources.ReadDir(".")
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		src, err := typeSources.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, e.Name(), src, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			if st, ok := ts.Type.(*ast.StructType); ok {
				structDocs(docs, ts.Name.Name, st)
			}
			return false
		})
	}
	return docs, nil
}

func structDocs(docs map[string]string, typ string, st *ast.StructType) {
	keys := map[string]string{} // Go field name → YAML key
	for _, f := range st.Fields.List {
		if f.Tag == nil || len(f.Names) == 0 {
			continue
		}
		tag, err := strconv.Unquote(f.Tag.Value)
		if err != nil {
			continue
		}
		if key, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ","); key != "" && key != "-" {
			keys[f.Names[0].Name] = key
		}
	}
	var names []string
	for n := range keys {
		if strings.ToUpper(n) != n { // TLS, ACME, DB stay words
			names = append(names, regexp.QuoteMeta(n))
		}
	}
	var goName *regexp.Regexp
	if len(names) > 0 {
		goName = regexp.MustCompile(`\b(` + strings.Join(names, "|") + `)\b`)
	}
	prev := ""
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 || !ast.IsExported(f.Names[0].Name) {
			continue
		}
		name := f.Names[0].Name
		text := strings.Join(strings.Fields(f.Doc.Text()), " ")
		if text == "" && strings.Contains(prev, name) {
			text = prev
		}
		prev = text
		if goName != nil {
			text = goName.ReplaceAllStringFunc(text, func(n string) string { return keys[n] })
		}
		docs[typ+"."+name] = text
	}
}
