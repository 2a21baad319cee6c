package deploy

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/yaml"
)

const chartDir = "helm/keygate"

// renderChart renders the chart with helm v4's engine (as `helm template`
// does, values checked against values.schema.json) for the values file
// (none: the defaults) and decodes every object strictly.
func renderChart(t *testing.T, valuesFile string) *objects {
	t.Helper()
	ch, err := loader.LoadDir(chartDir)
	if err != nil {
		t.Fatalf("loading %s: %v", chartDir, err)
	}
	vals := map[string]any{}
	if valuesFile != "" {
		v, err := common.ReadValuesFile(valuesFile)
		if err != nil {
			t.Fatal(err)
		}
		vals = v
	}
	rv, err := chartutil.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "keygate", Namespace: "gateway", IsInstall: true}, nil)
	if err != nil {
		t.Fatalf("values %s: %v", valuesFile, err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		t.Fatalf("rendering with %s: %v", valuesFile, err)
	}
	o := &objects{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, "NOTES.txt") {
			if !strings.Contains(files[name], "create secret generic keygate-secrets") {
				t.Errorf("NOTES.txt does not say how to create the Secret:\n%s", files[name])
			}
			continue
		}
		for i, doc := range bytes.Split([]byte(files[name]), []byte("\n---\n")) {
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			if head.Kind == "" {
				continue // a template that rendered nothing
			}
			o.add(t, fmt.Sprintf("%s#%d", name, i), head.APIVersion+"/"+head.Kind, doc)
		}
	}
	return o
}

// TestHelmChart renders the chart for its default values (standalone) and
// for each example values file in ci/, and holds the rendered objects to the
// kustomize manifests' invariants: every container non-root with a
// read-only root filesystem, the health listener on 0.0.0.0 as the port
// named health with the probes on it, the admin API on loopback, memory requests and limits, gateway.yaml passing keygate's own
// config.Parse with exactly the variables the Deployment sets from the
// Secret, no Secret in the chart, and the monitoring objects when enabled.
func TestHelmChart(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example values in %s/ci: %v", chartDir, err)
	}
	for _, valuesFile := range append([]string{""}, examples...) {
		name := "defaults"
		if valuesFile != "" {
			name = filepath.Base(valuesFile)
		}
		t.Run(name, func(t *testing.T) {
			o := renderChart(t, valuesFile)
			checkWorkloads(t, o)
			checkPDBs(t, o)
			for _, sec := range o.secrets {
				t.Errorf("the chart renders Secret %s; secrets are referenced, never shipped", sec.Name)
			}
			p := theKeygatePod(t, o) // checkKeygatePod, checkNetworkPolicy

			// In the sidecar case every route goes to the app on 127.0.0.1;
			// standalone, none does.
			sidecar := len(p.tmpl.Spec.Containers) > 1
			appHost := ""
			if sidecar {
				appHost = "127.0.0.1:" + checkSidecarApp(t, p)
			}
			for _, r := range p.cfg.Routes {
				u, err := url.Parse(r.Upstream)
				if err != nil {
					t.Fatal(err)
				}
				if (u.Host == appHost) != sidecar || (!sidecar && u.Hostname() == "127.0.0.1") {
					t.Errorf("route %s: upstream %s in a %d-container pod", r.Name, r.Upstream, len(p.tmpl.Spec.Containers))
				}
			}
			for _, h := range o.hpas {
				if h.Spec.ScaleTargetRef.Name != strings.TrimPrefix(p.owner, "Deployment/") {
					t.Errorf("HPA %s targets %s, not %s", h.Name, h.Spec.ScaleTargetRef.Name, p.owner)
				}
			}
			for _, sm := range o.monitors {
				checkServiceMonitor(t, sm, o, p)
			}
			for _, r := range o.rules {
				if want := readRules(t); !reflect.DeepEqual(r.Spec, *want) {
					t.Errorf("PrometheusRule %s differs from %s", r.Name, rulesFile)
				}
			}
			if valuesFile != "" && strings.Contains(valuesFile, "monitoring") && (len(o.monitors) != 1 || len(o.rules) != 1 || len(o.hpas) != 1) {
				t.Errorf("%s: want a ServiceMonitor, a PrometheusRule and an HPA, got %d, %d, %d", name, len(o.monitors), len(o.rules), len(o.hpas))
			}
		})
	}
}

// TestHelmSchema: values.schema.json refuses what the chart cannot render
// into a working keygate, naming the value.
func TestHelmSchema(t *testing.T) {
	ch, err := loader.LoadDir(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vals map[string]any
		want string
	}{
		{map[string]any{"mode": "daemonset"}, "mode"},
		{map[string]any{"replicas": 0}, "replicas"},
		{map[string]any{"secrets": map[string]any{"existingSecret": ""}}, "existingSecret"},
		{map[string]any{"probes": map[string]any{"liveness": map[string]any{"path": "healthz"}}}, "path"},
		{map[string]any{"replica": 3}, "replica"},
	} {
		_, err := chartutil.ToRenderValues(ch, tc.vals, common.ReleaseOptions{Name: "keygate"}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %v: %v; want an error naming %s", tc.vals, err, tc.want)
		}
	}
	// The chart's PrometheusRule reads its copy of the rules file (a chart
	// holds only files under its folder).
	copied, err := os.ReadFile(filepath.Join(chartDir, "files", "keygate-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if orig, err := os.ReadFile(rulesFile); err != nil || !bytes.Equal(copied, orig) {
		t.Errorf("%s/files/keygate-rules.yaml differs from %s (%v): cp %[2]s %[1]s/files/", chartDir, rulesFile, err)
	}
}
