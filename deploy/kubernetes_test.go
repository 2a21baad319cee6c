package deploy

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"github.com/keygate/keygate/config"
)

// objects is the output of one kustomization, decoded into k8s.io/api types.
type objects struct {
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	secrets      []*corev1.Secret
	netpols      []*networkingv1.NetworkPolicy
	pdbs         []*policyv1.PodDisruptionBudget
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	monitors     []*monitoringv1.ServiceMonitor
	rules        []*monitoringv1.PrometheusRule
}

// build runs kustomize on dir and decodes every object strictly: an unknown
// field, a wrong type or an unexpected kind fails the test.
func build(t *testing.T, dir string) *objects {
	t.Helper()
	o := &objects{}
	kustomize(t, dir, func(where, kind string, data []byte) { o.add(t, where, kind, data) })
	return o
}

// kustomize runs kustomize on dir and gives each object to add as YAML,
// with where it comes from and its kind (apiVersion/Kind).
func kustomize(t *testing.T, dir string, add func(where, kind string, data []byte)) {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	for _, r := range rm.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %v", r.CurId(), err)
		}
		gvk := r.GetGvk()
		add(dir+": "+r.CurId().String(), gvk.ApiVersion()+"/"+gvk.Kind, data)
	}
}

// add decodes one object strictly into its k8s.io/api (or Prometheus
// Operator) type: an unknown field, a wrong type or an unexpected kind
// fails the test.
func (o *objects) add(t *testing.T, where, kind string, data []byte) {
	t.Helper()
	var target any
	switch kind {
	case "apps/v1/Deployment":
		target = appendNew(&o.deployments)
	case "apps/v1/StatefulSet":
		target = appendNew(&o.statefulSets)
	case "v1/Service":
		target = appendNew(&o.services)
	case "v1/ConfigMap":
		target = appendNew(&o.configMaps)
	case "v1/Secret":
		target = appendNew(&o.secrets)
	case "networking.k8s.io/v1/NetworkPolicy":
		target = appendNew(&o.netpols)
	case "policy/v1/PodDisruptionBudget":
		target = appendNew(&o.pdbs)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		target = appendNew(&o.hpas)
	case "monitoring.coreos.com/v1/ServiceMonitor":
		target = appendNew(&o.monitors)
	case "monitoring.coreos.com/v1/PrometheusRule":
		target = appendNew(&o.rules)
	default:
		t.Fatalf("%s: unexpected kind %s", where, kind)
	}
	mustDecodeStrict(t, where, data, target)
}

// mustDecodeStrict decodes data into v with decodeStrict, failing the test
// with where the object comes from if it does not decode.
func mustDecodeStrict(t *testing.T, where string, data []byte, v any) {
	t.Helper()
	if err := decodeStrict(data, v); err != nil {
		t.Fatalf("%s does not decode strictly: %v\n%s", where, err, data)
	}
}

// decodeStrict decodes YAML as the API server does: field names are
// case-sensitive (encoding/json's are not), an unknown or repeated field is
// an error.
func decodeStrict(data []byte, v any) error {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// appendNew appends a new zero T to list and returns it, for decoding into.
func appendNew[T any](list *[]*T) *T {
	v := new(T)
	*list = append(*list, v)
	return v
}

// only returns the one object of list, the build's objects of kind, and
// fails the test if there is not exactly one.
func only[T any](t *testing.T, kind string, list []*T) *T {
	t.Helper()
	if len(list) != 1 {
		t.Fatalf("want one %s, got %d", kind, len(list))
	}
	return list[0]
}

// keygatePod is a keygate container with everything the checks need.
type keygatePod struct {
	owner     string
	tmpl      *corev1.PodTemplateSpec
	container *corev1.Container
	cfg       *config.Config
}

// kustomizations are the directories under kubernetes/.
var kustomizations = []string{"base", "sidecar", "standalone", "redis", "monitoring"}

func TestKustomizations(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			o := build(t, "kubernetes/"+dir)
			checkWorkloads(t, o)
			checkPDBs(t, o)
			for _, cm := range o.configMaps {
				if _, ok := cm.Data["gateway.yaml"]; !ok {
					t.Errorf("ConfigMap %s has no gateway.yaml", cm.Name)
				}
			}
		})
	}
}

func TestSidecar(t *testing.T) {
	o := build(t, "kubernetes/sidecar")
	p := theKeygatePod(t, o)
	port := checkSidecarApp(t, p)
	if len(p.cfg.Routes) == 0 {
		t.Fatal("sidecar gateway.yaml has no routes")
	}
	for _, r := range p.cfg.Routes {
		u, err := url.Parse(r.Upstream)
		if err != nil {
			t.Fatal(err)
		}
		if u.Hostname() != "127.0.0.1" || u.Port() != port {
			t.Errorf("route %s: upstream %s, want the app container at 127.0.0.1:%s", r.Name, r.Upstream, port)
		}
	}
	for _, s := range o.services {
		for _, sp := range s.Spec.Ports {
			if sp.TargetPort.String() == port {
				t.Errorf("Service %s targets the app's port %s directly", s.Name, port)
			}
		}
	}
	if len(o.pdbs) == 0 {
		t.Error("no PodDisruptionBudget")
	}

	// The chart's sidecar example gives keygate the same resources and
	// runtime settings as this overlay: both come from the measured
	// footprint (docs/benchmarks.md, "Sidecar footprint").
	chart := theKeygatePod(t, renderChart(t, filepath.Join(chartDir, "ci", "sidecar-values.yaml")))
	if !equality.Semantic.DeepEqual(chart.container.Resources, p.container.Resources) {
		t.Errorf("keygate's resources: the chart's sidecar example %v, the sidecar overlay %v", chart.container.Resources, p.container.Resources)
	}
	if chart.cfg.Runtime != p.cfg.Runtime {
		t.Errorf("runtime: the chart's sidecar example %+v, the sidecar overlay %+v", chart.cfg.Runtime, p.cfg.Runtime)
	}
}

// theKeygatePod returns the one Deployment's keygate container of o,
// checked with checkKeygatePod and checkNetworkPolicy.
func theKeygatePod(t *testing.T, o *objects) keygatePod {
	t.Helper()
	pods := keygatePods(t, o)
	if len(pods) != 1 {
		t.Fatalf("want one Deployment with a keygate container, got %d", len(pods))
	}
	p := pods[0]
	checkKeygatePod(t, o, p)
	checkNetworkPolicy(t, o, p)
	return p
}

// checkSidecarApp: the pod holds keygate and one application, which listens
// on 127.0.0.1 only and declares no port; it returns the app's port.
func checkSidecarApp(t *testing.T, p keygatePod) string {
	t.Helper()
	if len(p.tmpl.Spec.Containers) != 2 {
		t.Fatalf("%s: want the app and keygate containers, got %d", p.owner, len(p.tmpl.Spec.Containers))
	}
	var app *corev1.Container
	for i := range p.tmpl.Spec.Containers {
		if c := &p.tmpl.Spec.Containers[i]; c.Name != "keygate" {
			app = c
		}
	}
	host, port := appListen(t, app)
	if host != "127.0.0.1" {
		t.Errorf("app container listens on %q, want 127.0.0.1 only", host)
	}
	if len(app.Ports) != 0 {
		t.Errorf("app container declares ports %v; it must be reachable only through keygate", app.Ports)
	}
	return port
}

// appListen finds host and port of the app container's listen address in
// its args or env (-listen=HOST:PORT, --listen HOST:PORT, LISTEN=HOST:PORT).
func appListen(t *testing.T, c *corev1.Container) (string, string) {
	t.Helper()
	var vals []string
	for i, a := range c.Args {
		if k, v, ok := strings.Cut(a, "="); ok && strings.Contains(k, "listen") {
			vals = append(vals, v)
		} else if strings.Contains(a, "listen") && i+1 < len(c.Args) {
			vals = append(vals, c.Args[i+1])
		}
	}
	for _, e := range c.Env {
		if strings.Contains(strings.ToLower(e.Name), "listen") || strings.Contains(strings.ToLower(e.Name), "addr") {
			vals = append(vals, e.Value)
		}
	}
	if len(vals) != 1 {
		t.Fatalf("app container %s: want exactly one listen address in args/env, got %q", c.Name, vals)
	}
	h, p, err := net.SplitHostPort(vals[0])
	if err != nil {
		t.Fatalf("app container %s: listen address %q: %v", c.Name, vals[0], err)
	}
	return h, p
}

func TestStandalone(t *testing.T) {
	o := build(t, "kubernetes/standalone")
	p := theKeygatePod(t, o)

	var d *appsv1.Deployment
	for _, x := range o.deployments {
		if "Deployment/"+x.Name == p.owner {
			d = x
		}
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("Deployment %s: want several replicas, got %v", d.Name, d.Spec.Replicas)
	}
	if p.cfg.Store.Driver != config.DriverRedis {
		t.Errorf("replicas need store.driver redis, got %q", p.cfg.Store.Driver)
	}
	checkRedisAddrs(t, o, p.cfg)

	h := only(t, "HorizontalPodAutoscaler", o.hpas)
	ref := h.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA %s targets %+v, want apps/v1 Deployment %s", h.Name, ref, d.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
		t.Errorf("HPA %s: min %v max %d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	cpu := false
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU {
			cpu = true
		}
	}
	if !cpu {
		t.Errorf("HPA %s has no CPU metric", h.Name)
	}
	if len(p.container.Resources.Requests.Cpu().String()) == 0 || p.container.Resources.Requests.Cpu().IsZero() {
		t.Error("the HPA's CPU utilization needs a CPU request on keygate")
	}
	if len(o.pdbs) == 0 {
		t.Error("no PodDisruptionBudget")
	}
}

func TestRedis(t *testing.T) {
	o := build(t, "kubernetes/redis")
	if len(o.statefulSets) != 1 || len(o.services) != 1 {
		t.Fatalf("want one StatefulSet and one Service, got %d and %d", len(o.statefulSets), len(o.services))
	}
	c := o.statefulSets[0].Spec.Template.Spec.Containers[0]
	args := strings.Join(append(slices.Clone(c.Command), c.Args...), " ")
	if !strings.Contains(args, "--maxmemory-policy noeviction") {
		t.Errorf("redis must run with maxmemory-policy noeviction: %s", args)
	}
	if !strings.Contains(args, "--requirepass") {
		t.Errorf("redis must require a password: %s", args)
	}
	raw, err := os.ReadFile("kubernetes/redis/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"managed", "Sentinel", "Cluster", "noeviction"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("redis/kustomization.yaml should say production uses a %s Redis / %s", want, want)
		}
	}
}

// keygatePods returns every Deployment's keygate container with its parsed
// gateway.yaml.
func keygatePods(t *testing.T, o *objects) []keygatePod {
	t.Helper()
	var out []keygatePod
	for _, d := range o.deployments {
		for i := range d.Spec.Template.Spec.Containers {
			c := &d.Spec.Template.Spec.Containers[i]
			if c.Name != "keygate" {
				continue
			}
			p := keygatePod{owner: "Deployment/" + d.Name, tmpl: &d.Spec.Template, container: c}
			p.cfg = parseConfig(t, o, p)
			out = append(out, p)
		}
	}
	return out
}

// parseConfig finds the gateway.yaml the keygate container reads (its
// -config argument, inside a ConfigMap volume) and parses it with keygate's
// own config.Parse, the variables being exactly those the container sets
// from a Secret.
func parseConfig(t *testing.T, o *objects, p keygatePod) *config.Config {
	t.Helper()
	c := p.container
	path := "/etc/keygate/gateway.yaml" // the image's ENTRYPOINT
	for i, a := range c.Args {
		if (a == "-config" || a == "--config") && i+1 < len(c.Args) {
			path = c.Args[i+1]
		}
	}
	var cmName, key string
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range p.tmpl.Spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				cmName, key = v.ConfigMap.Name, rel
			}
		}
	}
	if cmName == "" {
		t.Fatalf("%s: %s is not in a ConfigMap volume", p.owner, path)
	}
	var data string
	found := false
	for _, cm := range o.configMaps {
		if cm.Name == cmName {
			data, found = cm.Data[key]
		}
	}
	if !found {
		t.Fatalf("%s: ConfigMap %s with key %s is not in the build", p.owner, cmName, key)
	}

	fromSecret := map[string]bool{}
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		fromSecret[e.Name] = true
		if ref.Name != externalSecret {
			t.Errorf("%s: env %s refers to Secret %s, want %s (created outside the repository)", p.owner, e.Name, ref.Name, externalSecret)
		}
	}
	// Every ${VAR} in a value must come from a Secret: config.Parse asks
	// lookup for each of them, and any other name is reported unset. The
	// values are what `openssl rand -base64 48` makes.
	lookup := func(name string) (string, bool) {
		if fromSecret[name] {
			return randomSecret(t), true
		}
		t.Errorf("%s: gateway.yaml uses ${%s}, which the container does not set from a Secret", p.owner, name)
		return "", false
	}
	cfg, err := config.Parse(cmName+"/"+key, []byte(data), lookup)
	if err != nil {
		t.Fatalf("%s: gateway.yaml does not pass keygate's validation:\n%v", p.owner, err)
	}

	// With the placeholders the manifests once shipped, or a value with
	// too little entropy, keygate refuses the config, naming each
	// variable (issue 16: a publicly known digest key opens every door).
	for _, bad := range []string{"REPLACE-ME-with-openssl-rand-base64-48-output", strings.Repeat("0123456789abcdef", 4)} {
		_, err := config.Parse(cmName+"/"+key, []byte(data), func(name string) (string, bool) { return bad, fromSecret[name] })
		for name := range fromSecret {
			if name == "REDIS_PASSWORD" || !strings.Contains(data, "${"+name+"}") {
				continue
			}
			if err == nil || !strings.Contains(err.Error(), "${"+name+"}") {
				t.Errorf("%s: gateway.yaml with %s = %q: %v; want a problem naming ${%s}", p.owner, name, bad, err, name)
			}
		}
	}
	return cfg
}

// metricsComponent labels the Service a ServiceMonitor scrapes: the one
// Service of keygate's pods that targets the health port.
var metricsComponent = [2]string{"app.kubernetes.io/component", "metrics"}

// externalSecret is the Secret the keygate containers read their keys from.
// No kustomization holds it: its values are generated outside the
// repository (docs/deploy.md#secrets).
const externalSecret = "keygate-secrets"

// randomSecret is what `openssl rand -base64 48` prints.
func randomSecret(t *testing.T) string {
	var b [48]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// TestNoSecretValues: no kustomization ships a Secret, so applying the
// manifests unchanged cannot start keygate with a publicly known digest
// key or admin token; the Secret is made outside the repository.
func TestNoSecretValues(t *testing.T) {
	for _, dir := range kustomizations {
		o := build(t, "kubernetes/"+dir)
		for _, sec := range o.secrets {
			t.Errorf("kubernetes/%s: the build holds Secret %s; generate secrets outside the repository", dir, sec.Name)
		}
	}
}

// grpcPort is the port of forward_auth.grpc_listen, -1 without it.
func grpcPort(t *testing.T, cfg *config.Config) int32 {
	t.Helper()
	if cfg.ForwardAuth.GRPCListen == "" {
		return -1
	}
	return portOf(t, "forward_auth.grpc_listen", cfg.ForwardAuth.GRPCListen)
}

func portOf(t *testing.T, what, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", what, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s %q: %v", what, addr, err)
	}
	return int32(n)
}

// containerPort resolves a probe's or Service's port (number or name).
func containerPort(c *corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

// healthPortName is the name of keygate's container port for the health
// listener (health_listen): the probes, the metrics Service and the
// NetworkPolicy name it.
const healthPortName = "health"

// isLoopback reports whether a listen address's host is a loopback
// address (or localhost).
func isLoopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// checkListeners: the health listener on 0.0.0.0 (the kubelet and
// Prometheus reach it on the pod IP) as a container port named health;
// the admin listener (the admin API) on loopback, and no container port
// for it (kubectl port-forward reaches it). It returns the health port.
func checkListeners(t *testing.T, p keygatePod) int32 {
	t.Helper()
	c := p.container
	health := portOf(t, "health_listen", p.cfg.HealthListen)
	admin := portOf(t, "admin_listen", p.cfg.AdminListen)
	if h, _, _ := net.SplitHostPort(p.cfg.HealthListen); h != "0.0.0.0" && h != "" {
		t.Errorf("%s: health_listen %q: the kubelet cannot reach the probes on it; want 0.0.0.0:PORT", p.owner, p.cfg.HealthListen)
	}
	if !isLoopback(p.cfg.AdminListen) {
		t.Errorf("%s: admin_listen %q: the admin API must stay on loopback", p.owner, p.cfg.AdminListen)
	}
	named := false
	for _, cp := range c.Ports {
		switch {
		case cp.Name == healthPortName:
			named = true
			if cp.ContainerPort != health {
				t.Errorf("%s: container port %q is %d, want health_listen's %d", p.owner, healthPortName, cp.ContainerPort, health)
			}
		case cp.ContainerPort == admin:
			t.Errorf("%s: container port %q (%d) is the admin listener's, which is on loopback", p.owner, cp.Name, admin)
		}
	}
	if !named {
		t.Errorf("%s: keygate has no container port named %q (health_listen)", p.owner, healthPortName)
	}
	return health
}

// checkKeygatePod: the listeners (checkListeners), probes on the health
// port by its name, a Service on the listen port.
func checkKeygatePod(t *testing.T, o *objects, p keygatePod) {
	t.Helper()
	c := p.container
	health := checkListeners(t, p)
	listen := portOf(t, "listen", p.cfg.Listen)
	// A cluster-wide range (10.0.0.0/8) in trusted_proxies lets any pod
	// in it choose its client address and step around the per-address
	// failure limits: only the ingress's own addresses belong there.
	trusted, err := p.cfg.TrustedPrefixes()
	if err != nil {
		t.Fatalf("%s: %v", p.owner, err)
	}
	for _, pfx := range trusted {
		if pfx.Bits() < 16 || (pfx.Addr().Is6() && pfx.Bits() < 48) {
			t.Errorf("%s: trusted_proxies holds %s: any pod in it could set its own X-Forwarded-For; list the ingress's addresses only", p.owner, pfx)
		}
	}
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("%s: keygate has no HTTP %s", p.owner, pr.name)
			continue
		}
		g := pr.probe.HTTPGet
		if g.Path != pr.path {
			t.Errorf("%s: %s path %s, want %s", p.owner, pr.name, g.Path, pr.path)
		}
		if g.Port.String() != healthPortName || containerPort(c, g.Port) != health {
			t.Errorf("%s: %s port %s (%d), want the port named %s, health_listen's %d", p.owner, pr.name, g.Port.String(), containerPort(c, g.Port), healthPortName, health)
		}
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: keygate needs memory requests and limits", p.owner)
	}
	// A memory_limit_mib set in gateway.yaml (GOMEMLIMIT) must leave room
	// under the container's limit for what the Go runtime does not count,
	// the binary's pages among them; 0 takes 90% of the limit.
	if m := p.cfg.Runtime.MemoryLimitMiB; m > 0 && m<<20 > c.Resources.Limits.Memory().Value()*9/10 {
		t.Errorf("%s: runtime.memory_limit_mib %d is above 90%% of the container's memory limit %s", p.owner, m, c.Resources.Limits.Memory())
	}

	podLabels := labels.Set(p.tmpl.Labels)
	n := 0
	for _, s := range o.services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			continue
		}
		if s.Labels[metricsComponent[0]] == metricsComponent[1] {
			continue // Prometheus's, checked with its ServiceMonitor
		}
		n++
		grpc := grpcPort(t, p.cfg)
		for _, sp := range s.Spec.Ports {
			if got := containerPort(c, sp.TargetPort); got != listen && got != grpc {
				t.Errorf("Service %s port %d targets %s (%d), want keygate's listen port %d (or forward_auth.grpc_listen's)", s.Name, sp.Port, sp.TargetPort.String(), got, listen)
			}
		}
	}
	if n == 0 {
		t.Errorf("%s: no Service selects the keygate pods", p.owner)
	}
}

// checkNetworkPolicy: the public port open, the health port only from a
// namespace or pod selector (monitoring), nothing else (the admin
// listener is on loopback: no policy opens it).
func checkNetworkPolicy(t *testing.T, o *objects, p keygatePod) {
	t.Helper()
	health := portOf(t, "health_listen", p.cfg.HealthListen)
	admin := portOf(t, "admin_listen", p.cfg.AdminListen)
	listen := portOf(t, "listen", p.cfg.Listen)
	grpc := grpcPort(t, p.cfg)
	found := false
	for _, np := range o.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(p.tmpl.Labels)) {
			continue
		}
		found = true
		publicOpen, healthOpen := false, false
		for _, r := range np.Spec.Ingress {
			for _, pp := range r.Ports {
				if pp.Port == nil {
					t.Errorf("NetworkPolicy %s: a rule without ports opens every port", np.Name)
					continue
				}
				port := containerPort(p.container, *pp.Port)
				switch {
				case port == listen || port == grpc:
					publicOpen = true
				case port == health:
					healthOpen = true
					if len(r.From) == 0 {
						t.Errorf("NetworkPolicy %s opens the health port %d to everyone", np.Name, health)
					}
					for _, f := range r.From {
						if f.NamespaceSelector == nil && f.PodSelector == nil {
							t.Errorf("NetworkPolicy %s: health port %d open to an IP block", np.Name, health)
						}
					}
				case port == admin:
					t.Errorf("NetworkPolicy %s opens the admin port %d, which is on loopback", np.Name, admin)
				default:
					t.Errorf("NetworkPolicy %s opens port %d (%s), which keygate does not serve", np.Name, port, pp.Port.String())
				}
			}
			if len(r.Ports) == 0 {
				t.Errorf("NetworkPolicy %s: a rule without ports opens every port", np.Name)
			}
		}
		if !publicOpen || !healthOpen {
			t.Errorf("NetworkPolicy %s: public port open %v, health port open to monitoring %v", np.Name, publicOpen, healthOpen)
		}
	}
	if !found {
		t.Errorf("%s: no NetworkPolicy selects the keygate pods", p.owner)
	}
}

// checkRedisAddrs: store.redis.addrs name a Service of the build.
func checkRedisAddrs(t *testing.T, o *objects, cfg *config.Config) {
	t.Helper()
	for _, a := range cfg.Store.Redis.Addrs {
		h, _, _ := net.SplitHostPort(a)
		port := portOf(t, "store.redis.addrs", a)
		ok := false
		for _, s := range o.services {
			if s.Name == strings.Split(h, ".")[0] {
				for _, sp := range s.Spec.Ports {
					ok = ok || sp.Port == port
				}
			}
		}
		if !ok {
			t.Errorf("store.redis.addrs %s: no such Service and port in the build", a)
		}
	}
}

// checkWorkloads: every container of every workload is non-root, with a
// read-only root filesystem, no privilege escalation, no capabilities and
// the runtime's seccomp profile.
func checkWorkloads(t *testing.T, o *objects) {
	t.Helper()
	var tmpls []struct {
		owner string
		spec  *corev1.PodSpec
	}
	for _, d := range o.deployments {
		tmpls = append(tmpls, struct {
			owner string
			spec  *corev1.PodSpec
		}{"Deployment/" + d.Name, &d.Spec.Template.Spec})
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: selector does not match its pods", d.Name)
		}
	}
	for _, s := range o.statefulSets {
		tmpls = append(tmpls, struct {
			owner string
			spec  *corev1.PodSpec
		}{"StatefulSet/" + s.Name, &s.Spec.Template.Spec})
	}
	for _, w := range tmpls {
		ps := w.spec
		psc := ps.SecurityContext
		if psc == nil {
			psc = &corev1.PodSecurityContext{}
		}
		for _, c := range append(slices.Clone(ps.InitContainers), ps.Containers...) {
			where := fmt.Sprintf("%s container %s", w.owner, c.Name)
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			nonRoot := psc.RunAsNonRoot
			if sc.RunAsNonRoot != nil {
				nonRoot = sc.RunAsNonRoot
			}
			if nonRoot == nil || !*nonRoot {
				t.Errorf("%s: runAsNonRoot is not true", where)
			}
			uid := psc.RunAsUser
			if sc.RunAsUser != nil {
				uid = sc.RunAsUser
			}
			if uid != nil && *uid == 0 {
				t.Errorf("%s: runs as uid 0", where)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem is not true", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation is not false", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities must drop ALL and add none", where)
			}
			seccomp := psc.SeccompProfile
			if sc.SeccompProfile != nil {
				seccomp = sc.SeccompProfile
			}
			if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: seccompProfile is not RuntimeDefault", where)
			}
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: needs memory requests and limits", where)
			}
		}
	}
}

// checkPDBs: every PodDisruptionBudget selects the pods of a workload.
func checkPDBs(t *testing.T, o *objects) {
	t.Helper()
	var podLabels []labels.Set
	for _, d := range o.deployments {
		podLabels = append(podLabels, d.Spec.Template.Labels)
	}
	for _, s := range o.statefulSets {
		podLabels = append(podLabels, s.Spec.Template.Labels)
	}
	for _, pdb := range o.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("PDB %s: bad or empty selector: %v", pdb.Name, err)
			continue
		}
		if !slices.ContainsFunc(podLabels, func(l labels.Set) bool { return sel.Matches(l) }) {
			t.Errorf("PDB %s selects no pods of the build", pdb.Name)
		}
	}
}
