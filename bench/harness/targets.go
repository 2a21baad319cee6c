package main

import "strings"

// target is one server the load subcommand can measure.
type target struct {
	name string
	port int
	// health is a keygate target's health port (its /metrics), 0 for others.
	health int
	// kind says what runs: bare, default (bench/bareproxy), keygate, nginx,
	// nginx-authreq (nginx asking keygate-check with auth_request).
	kind string
	// auth is a keygate route's auth mode, none or required.
	auth string
	// cred is the credential every request sends: credBearer, credAPIKey,
	// or "" for none. keygate-unknown sends its flood of unknown tokens
	// instead (unknown).
	cred    string
	unknown bool
	// The rest shape a keygate target's config; see keygateConfig.
	accessLog bool
	unix      bool   // the upstream on a Unix socket (a second upstream process)
	identity  string // auth.upstream_identity
	limitMode string // the rate limit's mode, on a private redis-server
	// check loads keygate's forward-auth check endpoint instead of the
	// proxy: the request the ingress would send for GET -path.
	check bool
	// sidecar gives the target the shape of deploy/kubernetes/sidecar's
	// gateway.yaml: JSON log at info with the access log on, the Redis
	// store (the private redis-server), cache_ttl 15s, stale_if_error 1m,
	// an encryption key. runtime, when set, is its runtime section (a YAML
	// flow map) instead of -keygate-runtime's.
	sidecar bool
	runtime string
	// rate says whether the target may be in the rate phase (it answers
	// 200 to a plain load).
	rate bool
}

// The ports below are fixed, so that a run can be watched from outside;
// every one is checked before its server starts.
const (
	upstreamPort = 9001
	redisPort    = 9014 // the keygate-rl-* targets' store
)

// targets lists every target, in the order the docs describe them.
var targets = []target{
	{name: "bare", port: 9002, kind: "bare", rate: true},
	{name: "default", port: 9004, kind: "default", rate: true},
	{name: "keygate", port: 9003, health: 9093, kind: "keygate", auth: "none", rate: true},
	{name: "keygate-log", port: 9005, health: 9095, kind: "keygate", auth: "none", accessLog: true, rate: true},
	{name: "keygate-bearer", port: 9006, health: 9096, kind: "keygate", auth: "required", cred: credBearer, rate: true},
	{name: "keygate-apikey", port: 9007, health: 9097, kind: "keygate", auth: "required", cred: credAPIKey, rate: true},
	{name: "keygate-unknown", port: 9008, health: 9098, kind: "keygate", auth: "required", unknown: true},
	{name: "nginx", port: 9009, kind: "nginx", rate: true},
	{name: "keygate-unix", port: 9010, health: 9100, kind: "keygate", auth: "none", unix: true, rate: true},
	{name: "keygate-bearer-user", port: 9011, health: 9101, kind: "keygate", auth: "required", cred: credBearer, identity: "[user]", rate: true},
	{name: "keygate-rl-fast", port: 9012, health: 9102, kind: "keygate", auth: "required", cred: credBearer, limitMode: "fast", rate: true},
	{name: "keygate-rl-exact", port: 9013, health: 9103, kind: "keygate", auth: "required", cred: credBearer, limitMode: "exact", rate: true},
	{name: "keygate-check", port: 9015, health: 9105, kind: "keygate", auth: "required", cred: credBearer, check: true, rate: true},
	{name: "nginx-authreq", port: 9016, kind: "nginx-authreq", rate: true},
	// The sidecar overlay's config at keygate's runtime defaults and with a
	// smaller GOGC or GOMEMLIMIT: what the sidecar's memory requests and
	// limits are set from.
	{name: "keygate-sidecar", port: 9017, health: 9107, kind: "keygate", auth: "required", cred: credBearer, sidecar: true, accessLog: true, rate: true},
	{name: "keygate-sidecar-gc100", port: 9018, health: 9108, kind: "keygate", auth: "required", cred: credBearer, sidecar: true, accessLog: true, runtime: "{gc_percent: 100}", rate: true},
	{name: "keygate-sidecar-gc50", port: 9019, health: 9109, kind: "keygate", auth: "required", cred: credBearer, sidecar: true, accessLog: true, runtime: "{gc_percent: 50}", rate: true},
	{name: "keygate-sidecar-mem32", port: 9020, health: 9110, kind: "keygate", auth: "required", cred: credBearer, sidecar: true, accessLog: true, runtime: "{memory_limit_mib: 32}", rate: true},
}

// lookupTarget returns the target called name.
func lookupTarget(name string) (target, bool) {
	for _, t := range targets {
		if t.name == name {
			return t, true
		}
	}
	return target{}, false
}

// targetNames lists the names of ts, comma-separated.
func targetNames(ts []target, keep func(target) bool) string {
	var names []string
	for _, t := range ts {
		if keep == nil || keep(t) {
			names = append(names, t.name)
		}
	}
	return strings.Join(names, ", ")
}

// redis says whether the target's store is the private redis-server.
func (t target) redis() bool { return t.limitMode != "" || t.sidecar }

// authenticated says whether the target's requests carry a valid
// credential, the targets the rate phase is about.
func (t target) authenticated() bool { return t.cred != "" }

// pairs are the ratios between targets other than the baseline that the
// report gives when both are loaded: each against the one it adds to.
var pairs = [][2]string{
	{"keygate-bearer", "keygate"}, {"keygate-bearer-user", "keygate"}, {"keygate-bearer-user", "keygate-bearer"},
	{"keygate-apikey", "keygate"}, {"keygate-bearer", "nginx"}, {"keygate", "nginx"}, {"keygate-unix", "keygate"},
	{"keygate-rl-fast", "keygate-bearer"}, {"keygate-rl-exact", "keygate-bearer"},
	{"keygate-bearer", "default"}, {"keygate", "default"},
	{"keygate-check", "keygate-bearer"}, {"nginx-authreq", "nginx"},
	{"keygate-sidecar", "keygate-bearer"}, {"keygate-sidecar-gc100", "keygate-sidecar"},
	{"keygate-sidecar-gc50", "keygate-sidecar"}, {"keygate-sidecar-mem32", "keygate-sidecar"},
}
