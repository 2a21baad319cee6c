package deploy

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	securityv1 "istio.io/api/security/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/keygate/keygate/config"
)

// The forward-auth examples: keygate (Deployment, Service, gateway.yaml
// with forward_auth on) plus one ingress each.
const faDir = "kubernetes/forward-auth/"

var faExamples = []string{"ingress-nginx", "traefik", "istio", "envoy-gateway"}

// customResource is a custom resource whose Go types are not imported:
// TypeMeta and ObjectMeta from apimachinery, the spec a local struct (or
// raw JSON for a protobuf type) that is decoded strictly.
type customResource[S any] struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            S                 `json:"spec"`
}

// traefikMiddleware holds the fields of Traefik's Middleware
// (traefik.io/v1alpha1) the examples use; any other field fails the
// strict decoding. Traefik's own Go module is a whole proxy: these are
// its JSON names (pkg/provider/kubernetes/crd/traefikio/v1alpha1).
type traefikMiddleware = customResource[struct {
	ForwardAuth *struct {
		Address             string   `json:"address"`
		TrustForwardHeader  *bool    `json:"trustForwardHeader,omitempty"`
		AuthResponseHeaders []string `json:"authResponseHeaders,omitempty"`
	} `json:"forwardAuth,omitempty"`
	Headers *struct {
		CustomRequestHeaders map[string]string `json:"customRequestHeaders,omitempty"`
	} `json:"headers,omitempty"`
}]

// egSecurityPolicy holds the fields of Envoy Gateway's SecurityPolicy
// (gateway.envoyproxy.io/v1alpha1) the example uses, with Gateway API's own
// types for the references; any other field fails the strict decoding.
// Envoy Gateway's Go module is the whole controller: these are its JSON
// names (api/v1alpha1: SecurityPolicySpec, ExtAuth, GRPCExtAuthService).
type egSecurityPolicy = customResource[struct {
	TargetRefs []gatewayv1.LocalPolicyTargetReferenceWithSectionName `json:"targetRefs"`
	ExtAuth    *struct {
		GRPC *struct {
			BackendRefs []gatewayv1.BackendObjectReference `json:"backendRefs"`
		} `json:"grpc,omitempty"`
		FailOpen *bool `json:"failOpen,omitempty"`
	} `json:"extAuth,omitempty"`
}]

// faBuild is one forward-auth example built with kustomize: the
// k8s.io/api objects and the ingresses' own, each decoded strictly, and
// keygate's pod, parsed gateway.yaml and Service.
type faBuild struct {
	*objects
	dir              string
	ingresses        []*networkingv1.Ingress
	middlewares      []*traefikMiddleware
	authzPolicies    []*customResource[*securityv1.AuthorizationPolicy]
	gateways         []*gatewayv1.Gateway
	httpRoutes       []*gatewayv1.HTTPRoute
	refGrants        []*gatewayv1beta1.ReferenceGrant
	securityPolicies []*egSecurityPolicy
	keygate          keygatePod
	svc              *corev1.Service
}

func buildForwardAuth(t *testing.T, example string) *faBuild {
	t.Helper()
	dir := faDir + example
	b := &faBuild{objects: &objects{}, dir: dir}
	kustomize(t, dir, func(where, kind string, data []byte) {
		var target any
		switch kind {
		case "networking.k8s.io/v1/Ingress":
			target = appendNew(&b.ingresses)
		case "traefik.io/v1alpha1/Middleware":
			target = appendNew(&b.middlewares)
		case "gateway.networking.k8s.io/v1/Gateway":
			target = appendNew(&b.gateways)
		case "gateway.networking.k8s.io/v1/HTTPRoute":
			target = appendNew(&b.httpRoutes)
		case "gateway.networking.k8s.io/v1beta1/ReferenceGrant":
			target = appendNew(&b.refGrants)
		case "gateway.envoyproxy.io/v1alpha1/SecurityPolicy":
			target = appendNew(&b.securityPolicies)
		case "security.istio.io/v1/AuthorizationPolicy":
			var env customResource[json.RawMessage]
			mustDecodeStrict(t, where, data, &env)
			p := &customResource[*securityv1.AuthorizationPolicy]{TypeMeta: env.TypeMeta, Metadata: env.Metadata, Spec: &securityv1.AuthorizationPolicy{}}
			if err := protojson.Unmarshal(env.Spec, p.Spec); err != nil {
				t.Fatalf("%s: spec does not decode strictly into istio.io/api: %v\n%s", where, err, data)
			}
			b.authzPolicies = append(b.authzPolicies, p)
			return
		default:
			b.add(t, where, kind, data)
			return
		}
		mustDecodeStrict(t, where, data, target)
	})
	checkWorkloads(t, b.objects)
	checkPDBs(t, b.objects)
	b.keygate = theKeygatePod(t, b.objects)
	checkRedisAddrs(t, b.objects, b.keygate.cfg)

	var d string
	for _, x := range b.deployments {
		if "Deployment/"+x.Name == b.keygate.owner {
			d = x.Namespace
		}
	}
	podLabels := labels.Set(b.keygate.tmpl.Labels)
	for _, s := range b.services {
		if s.Namespace == d && len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) && s.Labels[metricsComponent[0]] != metricsComponent[1] {
			if b.svc != nil {
				t.Fatalf("%s: two Services select keygate: %s and %s", dir, b.svc.Name, s.Name)
			}
			b.svc = s
		}
	}
	if b.svc == nil {
		t.Fatalf("%s: no Service selects keygate", dir)
	}
	return b
}

// keygatePort resolves a reference to keygate's Service from namespace
// fromNS, host being name, name.namespace, name.namespace.svc or
// name.namespace.svc.cluster.local, to the container port it reaches.
func (b *faBuild) keygatePort(t *testing.T, where, fromNS, host string, port int32) int32 {
	t.Helper()
	name, ns, _ := strings.Cut(host, ".")
	ns, rest, _ := strings.Cut(ns, ".")
	if ns == "" {
		ns = fromNS
	}
	if rest != "" && rest != "svc" && rest != "svc.cluster.local" {
		t.Errorf("%s: host %q is not a Service's cluster name", where, host)
		return -1
	}
	if name != b.svc.Name || ns != b.svc.Namespace {
		t.Errorf("%s: names Service %s/%s, want keygate's %s/%s", where, ns, name, b.svc.Namespace, b.svc.Name)
		return -1
	}
	for _, sp := range b.svc.Spec.Ports {
		if sp.Port == port {
			return containerPort(b.keygate.container, sp.TargetPort)
		}
	}
	t.Errorf("%s: Service %s/%s has no port %d", where, ns, name, port)
	return -1
}

// checkAuthURL: raw is an http URL of keygate's Service whose port reaches
// the public listener and whose path is forward_auth.path.
func (b *faBuild) checkAuthURL(t *testing.T, where, fromNS, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.RawQuery != "" {
		t.Errorf("%s: %q: want an http URL without a query (%v)", where, raw, err)
		return
	}
	port := int32(80)
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		port = int32(n)
	}
	cfg := b.keygate.cfg
	if got, want := b.keygatePort(t, where, fromNS, u.Hostname(), port), portOf(t, "listen", cfg.Listen); got != want {
		t.Errorf("%s: %s reaches keygate's port %d, want listen's %d", where, raw, got, want)
	}
	if u.Path != cfg.ForwardAuth.Path {
		t.Errorf("%s: path %q, want forward_auth.path %q", where, u.Path, cfg.ForwardAuth.Path)
	}
}

// checkGRPC: a reference to keygate's Service reaches forward_auth.grpc_listen.
func (b *faBuild) checkGRPC(t *testing.T, where, fromNS, host string, port int32) {
	t.Helper()
	if got, want := b.keygatePort(t, where, fromNS, host, port), grpcPort(t, b.keygate.cfg); got != want || want < 0 {
		t.Errorf("%s: %s:%d reaches keygate's port %d, want forward_auth.grpc_listen's %d", where, host, port, got, want)
	}
}

// checkCovered: a path the ingress sends to the application is one of
// keygate's routes, or every check of it would be answered 404.
func (b *faBuild) checkCovered(t *testing.T, where, path string) {
	t.Helper()
	for _, rt := range b.keygate.cfg.Routes {
		p := strings.TrimSuffix(rt.PathPrefix, "/")
		if p == "" || path == p || strings.HasPrefix(path, p+"/") {
			return
		}
	}
	t.Errorf("%s: path %s is in no route of keygate's gateway.yaml", where, path)
}

// identityHeaders are the headers keygate's answer carries for
// auth.upstream_identity.
func identityHeaders(cfg *config.Config) []string {
	var out []string
	for _, n := range cfg.Auth.UpstreamIdentity {
		out = append(out, identityHeader(n))
	}
	return out
}

// identityHeader names the header of an auth.upstream_identity name:
// credential_id is X-Keygate-Credential-Id (TestIdentityHeaderNames checks
// the rule against proxy's constants).
func identityHeader(name string) string {
	parts := strings.Split(name, "_")
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return "X-Keygate-" + strings.Join(parts, "-")
}

// sameHeaders compares header lists as sets of canonical names.
func sameHeaders(got, want []string) bool {
	norm := func(l []string) []string {
		out := make([]string, 0, len(l))
		for _, h := range l {
			out = append(out, strings.ToLower(strings.TrimSpace(h)))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(got), norm(want))
}

// TestIdentityHeaderNames: identityHeader gives exactly the identity header
// constants of ../proxy/headers.go, read from the source so that this
// module does not depend on the proxy's libraries.
func TestIdentityHeaderNames(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../proxy/headers.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var consts []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Header") {
			return true
		}
		if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			v, _ := strconv.Unquote(lit.Value)
			if strings.HasPrefix(v, "X-Keygate-") {
				consts = append(consts, v)
			}
		}
		return true
	})
	var derived []string
	for _, n := range config.IdentityNames {
		derived = append(derived, identityHeader(n))
	}
	if !slices.Equal(slices.Sorted(slices.Values(consts)), slices.Sorted(slices.Values(derived))) {
		t.Errorf("proxy's identity headers %q, derived from config.IdentityNames %q", consts, derived)
	}
}

// TestForwardAuthKeygate: the keygate every example shares is in
// forward-auth mode, with the gRPC listener, and only checks.
func TestForwardAuthKeygate(t *testing.T) {
	for _, ex := range faExamples {
		t.Run(ex, func(t *testing.T) {
			b := buildForwardAuth(t, ex)
			cfg := b.keygate.cfg
			if !cfg.ForwardAuth.Enabled || cfg.ForwardAuth.GRPCListen == "" {
				t.Errorf("forward_auth %+v: want enabled with grpc_listen", cfg.ForwardAuth)
			}
			if len(cfg.TrustedProxies) == 0 {
				t.Error("forward_auth needs trusted_proxies")
			}
			if len(cfg.Routes) == 0 {
				t.Error("no routes")
			}
			for _, r := range cfg.Routes {
				if r.Upstream != "" {
					t.Errorf("route %s has upstream %s: the ingress proxies, keygate only checks", r.Name, r.Upstream)
				}
			}
			if len(cfg.Auth.UpstreamIdentity) == 0 {
				t.Error("auth.upstream_identity is empty: the examples copy its headers")
			}
			if b.svc.Namespace == "" {
				t.Error("keygate's Service has no namespace: the examples name it by namespace")
			}
		})
	}
}

func TestForwardAuthIngressNginx(t *testing.T) {
	b := buildForwardAuth(t, "ingress-nginx")
	ing := only(t, "Ingress", b.ingresses)
	where := "Ingress " + ing.Namespace + "/" + ing.Name
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
		t.Errorf("%s: ingressClassName %v, want nginx", where, ing.Spec.IngressClassName)
	}
	const a = "nginx.ingress.kubernetes.io/"
	b.checkAuthURL(t, where+" "+a+"auth-url", ing.Namespace, ing.Annotations[a+"auth-url"])
	if got, want := strings.Split(ing.Annotations[a+"auth-response-headers"], ","), identityHeaders(b.keygate.cfg); !sameHeaders(got, want) {
		t.Errorf("%s: auth-response-headers %q, want auth.upstream_identity's %q", where, got, want)
	}
	for _, forbidden := range []string{"auth-cache-key", "auth-method"} {
		if v, ok := ing.Annotations[a+forbidden]; ok {
			t.Errorf("%s: %s %q: checks must not be cached, and keygate reads the method from X-Original-Method", where, forbidden, v)
		}
	}
	checkIngressPaths(t, b, ing)
}

func checkIngressPaths(t *testing.T, b *faBuild, ing *networkingv1.Ingress) {
	t.Helper()
	n := 0
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			n++
			b.checkCovered(t, "Ingress "+ing.Name, p.Path)
		}
	}
	if n == 0 {
		t.Errorf("Ingress %s has no paths", ing.Name)
	}
}

func TestForwardAuthTraefik(t *testing.T) {
	b := buildForwardAuth(t, "traefik")
	ing := only(t, "Ingress", b.ingresses)
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "traefik" {
		t.Errorf("Ingress %s: ingressClassName %v, want traefik", ing.Name, ing.Spec.IngressClassName)
	}
	checkIngressPaths(t, b, ing)

	refs := strings.Split(ing.Annotations["traefik.ingress.kubernetes.io/router.middlewares"], ",")
	var chain []*traefikMiddleware
	for _, ref := range refs {
		ref = strings.TrimSpace(ref)
		nsName, ok := strings.CutSuffix(ref, "@kubernetescrd")
		i := slices.IndexFunc(b.middlewares, func(m *traefikMiddleware) bool {
			return m.Metadata.Namespace+"-"+m.Metadata.Name == nsName
		})
		if !ok || i < 0 {
			t.Errorf("Ingress %s: middleware %q is no Middleware of the build (<namespace>-<name>@kubernetescrd)", ing.Name, ref)
			continue
		}
		chain = append(chain, b.middlewares[i])
	}
	if len(chain) == 0 || chain[0].Spec.ForwardAuth == nil {
		t.Fatalf("Ingress %s: the first middleware must be keygate's forwardAuth, got %q", ing.Name, refs)
	}
	m := chain[0]
	where := "Middleware " + m.Metadata.Namespace + "/" + m.Metadata.Name
	fa := m.Spec.ForwardAuth
	b.checkAuthURL(t, where+" forwardAuth.address", m.Metadata.Namespace, fa.Address)
	if fa.TrustForwardHeader != nil && *fa.TrustForwardHeader {
		t.Errorf("%s: trustForwardHeader true would pass a client's X-Forwarded-* to keygate", where)
	}
	if want := identityHeaders(b.keygate.cfg); !sameHeaders(fa.AuthResponseHeaders, want) {
		t.Errorf("%s: authResponseHeaders %q, want auth.upstream_identity's %q", where, fa.AuthResponseHeaders, want)
	}
	if !slices.ContainsFunc(chain[1:], func(m *traefikMiddleware) bool {
		if m.Spec.Headers == nil {
			return false
		}
		v, ok := m.Spec.Headers.CustomRequestHeaders["Authorization"]
		return ok && v == ""
	}) {
		t.Errorf("Ingress %s: no middleware after keygate removes Authorization", ing.Name)
	}
}

func TestForwardAuthIstio(t *testing.T) {
	b := buildForwardAuth(t, "istio")
	ap := only(t, "AuthorizationPolicy", b.authzPolicies)
	where := "AuthorizationPolicy " + ap.Metadata.Namespace + "/" + ap.Metadata.Name
	if ap.Spec.GetAction() != securityv1.AuthorizationPolicy_CUSTOM {
		t.Errorf("%s: action %s, want CUSTOM", where, ap.Spec.GetAction())
	}
	if len(ap.Spec.GetRules()) == 0 {
		t.Errorf("%s: no rules: a CUSTOM policy without rules checks nothing", where)
	}
	if len(ap.Spec.GetSelector().GetMatchLabels()) == 0 {
		t.Errorf("%s: no selector: it would check every workload of the namespace", where)
	}

	raw, err := os.ReadFile(faDir + "istio/istiod-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		MeshConfig json.RawMessage `json:"meshConfig"`
	}
	if err := decodeStrict(raw, &values); err != nil {
		t.Fatalf("istiod-values.yaml: %v", err)
	}
	mesh := &meshv1alpha1.MeshConfig{}
	if err := protojson.Unmarshal(values.MeshConfig, mesh); err != nil {
		t.Fatalf("istiod-values.yaml: meshConfig does not decode strictly into istio.io/api: %v", err)
	}
	name := ap.Spec.GetProvider().GetName()
	i := slices.IndexFunc(mesh.GetExtensionProviders(), func(p *meshv1alpha1.MeshConfig_ExtensionProvider) bool { return p.GetName() == name })
	if i < 0 {
		t.Fatalf("%s: provider %q is not in meshConfig.extensionProviders", where, name)
	}
	g := mesh.GetExtensionProviders()[i].GetEnvoyExtAuthzGrpc()
	if g == nil {
		t.Fatalf("extension provider %q is not envoyExtAuthzGrpc", name)
	}
	if strings.Count(g.GetService(), ".") < 1 {
		t.Errorf("provider %q: service %q needs the namespace", name, g.GetService())
	}
	b.checkGRPC(t, "extension provider "+name, "", g.GetService(), int32(g.GetPort()))
	for _, sp := range b.svc.Spec.Ports {
		if sp.Port == int32(g.GetPort()) && sp.Name != "grpc" && !strings.HasPrefix(sp.Name, "grpc-") && (sp.AppProtocol == nil || *sp.AppProtocol != "grpc") {
			t.Errorf("Service %s port %d is named %q: Istio speaks HTTP/2 to it only when the name is grpc or grpc-* (or appProtocol grpc)", b.svc.Name, sp.Port, sp.Name)
		}
	}
	if g.GetFailOpen() {
		t.Errorf("provider %q: failOpen lets every request through while keygate is unreachable", name)
	}
	if s := g.GetStatusOnError(); s != "" && s != "503" {
		t.Errorf("provider %q: statusOnError %q, want 503", name, s)
	}
	if v := b.keygate.tmpl.Annotations["sidecar.istio.io/inject"]; v != "false" {
		t.Errorf("%s: sidecar.istio.io/inject %q: with a sidecar keygate sees 127.0.0.6, not the checking proxy, as the peer", b.keygate.owner, v)
	}
}

func TestForwardAuthEnvoyGateway(t *testing.T) {
	b := buildForwardAuth(t, "envoy-gateway")
	sp := only(t, "SecurityPolicy", b.securityPolicies)
	ns := sp.Metadata.Namespace
	where := "SecurityPolicy " + ns + "/" + sp.Metadata.Name
	if len(sp.Spec.TargetRefs) == 0 {
		t.Errorf("%s: no targetRefs", where)
	}
	for _, ref := range sp.Spec.TargetRefs {
		if ref.Group != gatewayv1.GroupName || ref.Kind != "HTTPRoute" {
			t.Errorf("%s: targets %s %s, want an HTTPRoute", where, ref.Group, ref.Kind)
			continue
		}
		i := slices.IndexFunc(b.httpRoutes, func(r *gatewayv1.HTTPRoute) bool { return r.Name == string(ref.Name) && r.Namespace == ns })
		if i < 0 {
			t.Errorf("%s: HTTPRoute %s is not in the build", where, ref.Name)
			continue
		}
		checkHTTPRoute(t, b, b.httpRoutes[i])
	}
	ea := sp.Spec.ExtAuth
	if ea == nil || ea.GRPC == nil || len(ea.GRPC.BackendRefs) != 1 {
		t.Fatalf("%s: want extAuth.grpc with one backendRef", where)
	}
	if ea.FailOpen != nil && *ea.FailOpen {
		t.Errorf("%s: failOpen lets every request through while keygate is unreachable", where)
	}
	ref := ea.GRPC.BackendRefs[0]
	if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Service") || ref.Port == nil {
		t.Fatalf("%s: backendRef %+v: want a Service and its port", where, ref)
	}
	svcNS := ns
	if ref.Namespace != nil {
		svcNS = string(*ref.Namespace)
	}
	b.checkGRPC(t, where+" extAuth.grpc.backendRefs[0]", ns, string(ref.Name)+"."+svcNS, *ref.Port)
	if svcNS != ns && !slices.ContainsFunc(b.refGrants, func(g *gatewayv1beta1.ReferenceGrant) bool {
		return g.Namespace == svcNS &&
			slices.ContainsFunc(g.Spec.From, func(f gatewayv1.ReferenceGrantFrom) bool {
				return f.Group == "gateway.envoyproxy.io" && f.Kind == "SecurityPolicy" && string(f.Namespace) == ns
			}) &&
			slices.ContainsFunc(g.Spec.To, func(to gatewayv1.ReferenceGrantTo) bool {
				return to.Group == "" && to.Kind == "Service" && (to.Name == nil || string(*to.Name) == string(ref.Name))
			})
	}) {
		t.Errorf("%s: Service %s/%s is in another namespace and no ReferenceGrant there allows it", where, svcNS, ref.Name)
	}
}

// checkHTTPRoute: its parent is a Gateway of the build, and every path it
// matches is one of keygate's routes.
func checkHTTPRoute(t *testing.T, b *faBuild, r *gatewayv1.HTTPRoute) {
	t.Helper()
	for _, p := range r.Spec.ParentRefs {
		ns := r.Namespace
		if p.Namespace != nil {
			ns = string(*p.Namespace)
		}
		if !slices.ContainsFunc(b.gateways, func(g *gatewayv1.Gateway) bool { return g.Name == string(p.Name) && g.Namespace == ns }) {
			t.Errorf("HTTPRoute %s: parent %s/%s is no Gateway of the build", r.Name, ns, p.Name)
		}
	}
	n := 0
	for _, rule := range r.Spec.Rules {
		for _, m := range rule.Matches {
			if m.Path == nil || m.Path.Value == nil {
				t.Errorf("HTTPRoute %s: a match without a path matches every path", r.Name)
				continue
			}
			n++
			b.checkCovered(t, "HTTPRoute "+r.Name, *m.Path.Value)
		}
	}
	if n == 0 {
		t.Errorf("HTTPRoute %s matches no path", r.Name)
	}
}
