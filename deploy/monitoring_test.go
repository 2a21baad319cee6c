package deploy

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	promparser "github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const (
	rulesFile     = "monitoring/keygate-rules.yaml"
	rulesTestFile = "monitoring/keygate-rules.test.yaml"
	dashboardFile = "monitoring/grafana-dashboard.json"
)

// TestAlertRules runs promtool on the rules file: `check rules` accepts it
// and `test rules` runs the unit tests of every alert, the Redis eviction
// alert among them.
func TestAlertRules(t *testing.T) {
	needTool(t, "promtool", "prometheus", "the alert rules are not checked")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// Every alert has a unit test.
	spec := readRules(t)
	tests, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			if !strings.Contains(string(tests), "alertname: "+r.Alert+"\n") {
				t.Errorf("alert %s has no test in %s", r.Alert, rulesTestFile)
			}
			checkMetricNames(t, "alert "+r.Alert, r.Expr.String())
		}
	}
	if !strings.Contains(string(tests), "keygate_store_redis_eviction_possible") {
		t.Errorf("%s does not test the Redis eviction alert", rulesTestFile)
	}
}

// readRules decodes the rules file strictly into the operator's
// PrometheusRule spec.
func readRules(t *testing.T) *monitoringv1.PrometheusRuleSpec {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var spec monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(raw, &spec); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return &spec
}

// TestMonitoringKustomization: the PrometheusRule holds exactly the rules
// file's groups; the ServiceMonitor selects the metrics Service, whose port
// it names targets the health port (/metrics) of the keygate pods.
func TestMonitoringKustomization(t *testing.T) {
	o := build(t, "kubernetes/monitoring")
	if len(o.rules) != 1 || len(o.monitors) != 1 {
		t.Fatalf("want one PrometheusRule and one ServiceMonitor, got %d and %d", len(o.rules), len(o.monitors))
	}
	if want := readRules(t); !reflect.DeepEqual(o.rules[0].Spec, *want) {
		t.Errorf("PrometheusRule %s differs from %s: regenerate it from the rules file", o.rules[0].Name, rulesFile)
	}
	standalone := build(t, "kubernetes/standalone")
	checkServiceMonitor(t, o.monitors[0], o, keygatePods(t, standalone)[0])
}

// checkServiceMonitor: the monitor selects a Service of o whose endpoint
// port targets keygate's health port by its name and selects the keygate
// pods.
func checkServiceMonitor(t *testing.T, sm *monitoringv1.ServiceMonitor, o *objects, p keygatePod) {
	t.Helper()
	health := portOf(t, "health_listen", p.cfg.HealthListen)
	if len(sm.Spec.Endpoints) == 0 {
		t.Fatalf("ServiceMonitor %s has no endpoints", sm.Name)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Path != "/metrics" {
		t.Errorf("ServiceMonitor %s scrapes %q, want /metrics", sm.Name, ep.Path)
	}
	sel := labels.SelectorFromSet(sm.Spec.Selector.MatchLabels)
	n := 0
	for _, s := range o.services {
		if !sel.Matches(labels.Set(s.Labels)) {
			continue
		}
		n++
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(p.tmpl.Labels)) {
			t.Errorf("Service %s does not select the keygate pods", s.Name)
		}
		found := false
		for _, sp := range s.Spec.Ports {
			if sp.Name == ep.Port {
				found = true
				if got := containerPort(p.container, sp.TargetPort); got != health || sp.TargetPort.String() != healthPortName {
					t.Errorf("Service %s port %s targets %s (%d), want the port named %s, health_listen's %d", s.Name, sp.Name, sp.TargetPort.String(), got, healthPortName, health)
				}
			}
		}
		if !found {
			t.Errorf("Service %s has no port named %q (the ServiceMonitor's)", s.Name, ep.Port)
		}
	}
	if n != 1 {
		t.Errorf("ServiceMonitor %s selects %d Services, want 1", sm.Name, n)
	}
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Title      string
	Templating struct {
		List []struct {
			Name  string
			Type  string
			Query any
		}
	}
	Panels []struct {
		Title   string
		Targets []struct{ Expr string }
	}
}

// TestDashboard: every PromQL expression of the Grafana dashboard parses,
// names only metrics keygate exports, and the panels cover what an
// operator asks first.
func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range checkMetricNames(t, "panel "+p.Title, tg.Expr) {
				used[m] = true
			}
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+), *[a-z_]+\)$`)
	for _, v := range d.Templating.List {
		q, ok := v.Query.(string)
		if v.Type != "query" || !ok {
			continue
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, q)
			continue
		}
		checkMetricNames(t, "variable "+v.Name, m[1])
	}
	for _, want := range []string{
		"keygate_requests_total", "keygate_auth_decisions_total", "keygate_auth_duration_seconds_bucket",
		"keygate_request_duration_seconds_bucket", "keygate_auth_cache_total", "keygate_ratelimit_decisions_total",
		"keygate_credentials_voided_total", "keygate_upstream_errors_total", "keygate_auth_degraded",
		"keygate_store_redis_eviction_possible",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}

// grafanaVars are the dashboard's variables, replaced before parsing.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*", "$pod", ".*")

// checkMetricNames parses a PromQL expression and returns the metric names
// it selects, each of which keygate must export.
func checkMetricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := promparser.NewParser(promparser.Options{}).ParseExpr(grafanaVars.Replace(expr))
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	exported := exportedMetrics(t)
	var names []string
	promparser.Inspect(e, func(n promparser.Node, _ []promparser.Node) error {
		vs, ok := n.(*promparser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name == "" {
			t.Errorf("%s: selector %s names no metric", where, vs)
			return nil
		}
		names = append(names, vs.Name)
		base := vs.Name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(vs.Name, suffix); ok && exported[b] == "histogram" {
				base = b
			}
		}
		if _, ok := exported[base]; !ok {
			t.Errorf("%s: %s is not a metric keygate exports", where, vs.Name)
		}
		return nil
	})
	return names
}

var exportedCache map[string]string

// exportedMetrics reads the names of keygate's metrics from its source:
// every Name: "keygate_…" in a prometheus Opts literal of a non-test file
// of the keygate module, with "histogram" for the HistogramOpts ones.
func exportedMetrics(t *testing.T) map[string]string {
	t.Helper()
	if exportedCache != nil {
		return exportedCache
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() && (path == filepath.Join("..", "deploy") || strings.HasPrefix(de.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if de.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			// A collector of its own describes its metric with
			// prometheus.NewDesc("keygate_...", help, labels, nil); such
			// metrics are const gauges here.
			if call, ok := n.(*ast.CallExpr); ok && len(call.Args) > 0 {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewDesc" {
					if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if name, _ := strconv.Unquote(lit.Value); strings.HasPrefix(name, "keygate_") {
							out[name] = "gauge"
						}
					}
				}
				return true
			}
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := cl.Type.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
				return true
			}
			for _, el := range cl.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if k, ok := kv.Key.(*ast.Ident); !ok || k.Name != "Name" {
					continue
				}
				if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					name, _ := strconv.Unquote(lit.Value)
					if strings.HasPrefix(name, "keygate_") {
						out[name] = strings.ToLower(strings.TrimSuffix(sel.Sel.Name, "Opts"))
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"keygate_requests_total", "keygate_store_redis_eviction_possible", "keygate_auth_duration_seconds"} {
		if _, ok := out[want]; !ok {
			t.Fatalf("reading keygate's metric names from its source found %v, not %s", slices.Sorted(maps.Keys(out)), want)
		}
	}
	exportedCache = out
	return out
}
