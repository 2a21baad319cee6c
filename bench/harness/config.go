package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// keygateConfig is one keygate target's configuration: one route for every
// path to the upstream. The harness writes it as YAML (see yaml).
type keygateConfig struct {
	Listen, Health string
	AccessLog      bool
	// StorePath is the embedded store's file; with RedisAddr set the store
	// is that Redis instead, under the key prefix Name + ":".
	StorePath string
	RedisAddr string
	Name      string
	// Runtime and UpstreamSection are YAML flow maps for the runtime and
	// upstream sections, "" for keygate's defaults.
	Runtime, UpstreamSection string
	Upstream                 string // http://host:port or unix:///path
	// Auth is the route's auth mode, none or required. With required the
	// route asks for API set bench, and the config has one digest key,
	// Secret.
	Auth   string
	Secret string
	// FailureLimitOff turns the per-address failure limit off.
	FailureLimitOff bool
	// Identity is auth.upstream_identity as YAML ("[user]", "[]"); "" keeps
	// keygate's default, all five headers.
	Identity string
	// LimitMode, when set, puts a per-credential rate limit of 1,000,000/s
	// (never reached) in that mode (fast, exact) on the route.
	LimitMode string
	// ForwardAuth turns the check endpoint on, answering 127.0.0.1.
	ForwardAuth bool
	// CORSOrigin, when set, puts a cors policy allowing that origin on
	// the route.
	CORSOrigin string
	// Sidecar writes deploy/kubernetes/sidecar's log and auth settings
	// (JSON log at info, cache_ttl 15s, stale_if_error 1m) and an
	// encryption key, EncryptionSecret.
	Sidecar          bool
	EncryptionSecret string
}

// yaml renders the config as keygate reads it.
func (c keygateConfig) yaml() string {
	var b strings.Builder
	level := "level: warn"
	if c.Sidecar {
		level = "level: info, format: json"
	}
	fmt.Fprintf(&b, "listen: %s\nadmin_listen: 127.0.0.1:0\nhealth_listen: %s\nlog: {%s, access_log: %t}\n", c.Listen, c.Health, level, c.AccessLog)
	if c.RedisAddr != "" {
		fmt.Fprintf(&b, "store: {driver: redis, redis: {addrs: [%q], key_prefix: %q}}\n", c.RedisAddr, c.Name+":")
	} else {
		fmt.Fprintf(&b, "store: {driver: embedded, embedded: {path: %s}}\n", c.StorePath)
	}
	if c.ForwardAuth {
		b.WriteString("trusted_proxies: [127.0.0.1/32]\nforward_auth: {enabled: true}\n")
	}
	if c.Runtime != "" {
		fmt.Fprintf(&b, "runtime: %s\n", c.Runtime)
	}
	if c.UpstreamSection != "" {
		fmt.Fprintf(&b, "upstream: %s\n", c.UpstreamSection)
	}
	if c.Auth == "required" {
		fmt.Fprintf(&b, "auth:\n  digest_keys: [{id: b1, secret: %q}]\n", c.Secret)
		if c.Sidecar {
			fmt.Fprintf(&b, "  encryption_keys: [{id: e1, secret: %q}]\n  cache_ttl: 15s\n  stale_if_error: 1m\n", c.EncryptionSecret)
		}
		// The flood comes from one address, 127.0.0.1: with the per-address
		// failure limit on, all but its first 20 requests would get 429
		// without a look-up. Off, every request is a look-up: the worst
		// case, a flood from many addresses.
		if c.FailureLimitOff {
			b.WriteString("  failure_limit: {rate: -1}\n")
		}
		if c.Identity != "" {
			fmt.Fprintf(&b, "  upstream_identity: %s\n", c.Identity)
		}
	}
	fmt.Fprintf(&b, "routes:\n  - name: bench\n    path_prefix: /\n    upstream: %s\n    auth: %s\n", c.Upstream, c.Auth)
	if c.Auth == "required" {
		b.WriteString("    api_set: bench\n")
	}
	if c.CORSOrigin != "" {
		fmt.Fprintf(&b, "    cors: {allowed_origins: [%q]}\n", c.CORSOrigin)
	}
	if c.LimitMode != "" {
		fmt.Fprintf(&b, "    rate_limit: {rate: 1000000, per: 1s, burst: 1000000, key: credential, mode: %s}\n", c.LimitMode)
	}
	return b.String()
}

// write writes the config to path.
func (c keygateConfig) write(path string) error {
	return os.WriteFile(path, []byte(c.yaml()), 0o600)
}

// newSecret returns a random digest key secret (48 bytes, base64).
func newSecret() string {
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Kinds of credential a target sends.
const (
	credBearer = "bearer" // a key token, "Bearer kgl_..."
	credAPIKey = "apikey" // an ApiKey key:token pair
)

var (
	bearerToken = regexp.MustCompile(`^kgl_[A-Za-z0-9]+$`)
	apiKeyPair  = regexp.MustCompile(`^ApiKey kgk_[A-Za-z0-9]+:kgt_[A-Za-z0-9]+$`)
)

// addUser creates user bench (API set bench, scopes read and write) in the
// store of the config at cfg with the keygate CLI, before a server opens
// the store. The CLI's messages are appended to logPath.
func addUser(ctx context.Context, keygate, cfg, logPath string) error {
	_, err := runCLI(ctx, keygate, logPath, "users", "add", "bench", "--api-sets", "bench", "--scopes", "read,write", "-config", cfg)
	if err != nil {
		return fmt.Errorf("keygate users add: %w (see %s)", err, logPath)
	}
	return nil
}

// credential creates a credential of kind for user bench and returns the
// Authorization header value that sends it.
func credential(ctx context.Context, keygate, cfg, logPath, kind string) (string, error) {
	switch kind {
	case credBearer:
		out, err := runCLI(ctx, keygate, logPath, "keys", "create", "bench", "--handle", "bench", "-config", cfg)
		if err != nil {
			return "", fmt.Errorf("keygate keys create: %w (see %s)", err, logPath)
		}
		if !bearerToken.MatchString(out) {
			return "", fmt.Errorf("keygate keys create printed no key token (see %s)", logPath)
		}
		return "Bearer " + out, nil
	case credAPIKey:
		out, err := runCLI(ctx, keygate, logPath, "apikey", "token", "bench", "-config", cfg)
		if err != nil {
			return "", fmt.Errorf("keygate apikey token: %w (see %s)", err, logPath)
		}
		if !apiKeyPair.MatchString(out) {
			return "", fmt.Errorf("keygate apikey token printed no ApiKey pair (see %s)", logPath)
		}
		return out, nil
	}
	return "", fmt.Errorf("unknown credential kind %q", kind)
}

// runCLI runs the keygate CLI and returns its trimmed stdout; stderr goes
// to logPath, so that secrets stay out of the terminal.
func runCLI(ctx context.Context, keygate, logPath string, args ...string) (string, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, keygate, args...)
	cmd.Stderr = logf
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// writeNginxConfig writes dir/nginx.conf, the nginx target both the load
// and the instruction counts measure: one process (no master process, so
// the one worker is the process measured), proxy_pass to upstream
// (host:port) over a keepalive pool, and a static map of the Authorization
// header, the way a hand-written nginx gateway checks a shared secret: 401
// without authorization, else forwarded with the header removed and
// X-Keygate-User and X-Forwarded-* set, as keygate-bearer does.
func writeNginxConfig(dir, listen, upstream, authorization string) error {
	return writeNginx(dir, listen, upstream, fmt.Sprintf(`  map_hash_bucket_size 128;
  map $http_authorization $bench_user {
    default "";
    "%s" bench;
  }
`, authorization), "", `      if ($bench_user = "") { return 401; }
`)
}

// writeNginxAuthConfig writes dir/nginx.conf for nginx-authreq: the
// nginx target with the static map replaced by auth_request to keygate's
// check endpoint at check (host:port, a keepalive pool), copying
// X-Keygate-User from its answer the way docs/forward-auth.md shows.
func writeNginxAuthConfig(dir, listen, upstream, check string) error {
	return writeNginx(dir, listen, upstream, fmt.Sprintf(`  upstream keygate_check {
    server %s;
    keepalive 256;
  }
`, check), `    location = /_keygate/auth {
      internal;
      proxy_pass http://keygate_check;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
`, `      auth_request /_keygate/auth;
      auth_request_set $bench_user $upstream_http_x_keygate_user;
`)
}

// writeNginx writes dir/nginx.conf: one nginx process proxying every path
// to upstream with $bench_user as X-Keygate-User; http adds to the http
// block, locations to the server block, and check opens location / (it
// decides $bench_user).
func writeNginx(dir, listen, upstream, http, locations, check string) error {
	for _, d := range []string{"tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	user := ""
	if os.Getuid() == 0 {
		user = "user root root;\n"
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
%[2]sevents { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  keepalive_requests 1000000;
  upstream bench_upstream {
    server %[3]s;
    keepalive 256;
  }
%[4]s  server {
    listen %[5]s;
%[6]s    location / {
%[7]s      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
      proxy_set_header X-Keygate-User $bench_user;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`, dir, user, upstream, http, listen, locations, check)
	return os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600)
}

// nginxArgs is the command line that runs the nginx config in dir.
func nginxArgs(dir string) []string {
	return []string{"nginx", "-p", dir, "-e", filepath.Join(dir, "logs", "error.log"), "-c", filepath.Join(dir, "nginx.conf")}
}
