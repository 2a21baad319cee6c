// Command keygate is an authentication gateway: a reverse proxy that lets a
// request through to an upstream API only with a valid credential for it.
//
// Usage:
//
//	keygate serve [-config gateway.yaml]   run the gateway
//	keygate check -config FILE             validate a config file
//	keygate schema                         print the JSON Schema of gateway.yaml
//	keygate demo                           run a gateway with a sample upstream
//	keygate users add|list|disable|enable|password  manage users
//	keygate keys create|list|delete|revoke manage API keys and credentials
//	keygate apikey token|rotate|unvoid     manage a user's ApiKey
//	keygate version                        print the version
//
// This package only parses flags and signals; the gateway and authz
// packages do the work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	adminapi "github.com/keygate/keygate/api/admin"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/gateway"
	"github.com/keygate/keygate/internal/version"
)

var usage = `keygate — an authentication gateway in front of HTTP APIs

Usage:
  keygate serve [-config gateway.yaml]                run the gateway
  keygate check [-config gateway.yaml]                validate a config file and print every problem
  keygate schema                                      print the JSON Schema of gateway.yaml, for editors
  keygate demo [-listen ADDR] [-admin ADDR] [-health ADDR] [-once]   run a gateway and a sample upstream, no setup needed
  keygate version                                     print the version

Credentials, in the store the config names (every command takes -config FILE;
without it, $KEYGATE_CONFIG names the file, else gateway.yaml):
` + adminUsage("") + `
Run "keygate COMMAND -h" for a command's flags.
`

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1 // the gateway failed while running, or a command failed
	exitConfig = 2 // bad usage or a bad config file
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "check":
		return check(args, stdout, stderr)
	case "schema":
		return schema(args, stdout, stderr)
	case "demo":
		return demo(args, stdout, stderr)
	case "users", "keys", "apikey":
		return admin(cmd, args, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "keygate", version.Get())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "keygate: unknown command %q\n\n%s", cmd, usage)
	return exitConfig
}

// EnvConfig names the config file when -config is not given.
const EnvConfig = "KEYGATE_CONFIG"

// configFlag registers -config: the flag if given, else $KEYGATE_CONFIG,
// else gateway.yaml.
func configFlag(fs *flag.FlagSet) *string {
	def := "gateway.yaml"
	if v := os.Getenv(EnvConfig); v != "" {
		def = v
	}
	return fs.String("config", def, "path of the config `file` (when not given: $"+EnvConfig+" if set)")
}

func parseFlags(fs *flag.FlagSet, args []string) (ok bool, code int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, exitOK
		}
		return false, exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "keygate %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return false, exitConfig
	}
	return true, 0
}

// envSecretProblems checks the secrets keygate reads from the environment
// itself rather than through gateway.yaml's ${VAR} (those are checked by
// config's validation): the bootstrap admin token. A placeholder or weak
// token is a reason not to start, not a warning: it opens the admin API.
func envSecretProblems(lookup func(string) (string, bool)) []string {
	if tok, ok := lookup(adminapi.EnvToken); ok && tok != "" {
		if why := config.WeakSecret(tok); why != "" {
			return []string{adminapi.EnvToken + ": the value " + why + "; generate one outside the repository with: openssl rand -base64 32"}
		}
	}
	return nil
}

// printProblems prints a config error one problem per line.
func printProblems(w io.Writer, err error) {
	for _, e := range config.Problems(err) {
		fmt.Fprintln(w, e)
	}
}

func check(args []string, stdout, stderr io.Writer) int {
	cfg, path, code := configCommand("check", args, stderr)
	if cfg == nil {
		return code
	}
	fmt.Fprintf(stdout, "%s: OK: %d routes, store %s, listen %s, admin %s, health %s\n",
		path, len(cfg.Routes), cfg.Store.Driver, cfg.Listen, cfg.AdminListen, cfg.HealthListen)
	return exitOK
}

// schema prints the JSON Schema of gateway.yaml (docs/gateway.schema.json
// is a copy), for an editor's YAML language server.
func schema(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keygate schema > gateway.schema.json\n\n"+
			"Prints the JSON Schema of gateway.yaml. Point an editor at it with a first line\n"+
			"# yaml-language-server: $schema=gateway.schema.json (docs/configuration.md).")
	}
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	b, err := config.Schema()
	if err != nil {
		fmt.Fprintln(stderr, "keygate schema:", err)
		return exitError
	}
	stdout.Write(b)
	return exitOK
}

// configCommand parses the flags of a command that takes only -config,
// then loads and checks the file (loadChecked): the config and its path,
// or a nil config and the exit code.
func configCommand(name string, args []string, stderr io.Writer) (*config.Config, string, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	if ok, code := parseFlags(fs, args); !ok {
		return nil, "", code
	}
	cfg, ok := loadChecked(*path, stderr)
	if !ok {
		return nil, "", exitConfig
	}
	return cfg, *path, exitOK
}

// loadChecked loads the config file, opens the files it names and checks
// the secrets keygate reads from the environment, printing every problem
// to stderr.
func loadChecked(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(path)
	if err == nil {
		err = cfg.CheckFiles()
	}
	env := envSecretProblems(os.LookupEnv)
	if err != nil {
		printProblems(stderr, err)
	}
	for _, p := range env {
		fmt.Fprintln(stderr, p)
	}
	return cfg, err == nil && len(env) == 0
}

func serve(args []string, stderr io.Writer) int {
	cfg, path, code := configCommand("serve", args, stderr)
	if cfg == nil {
		return code
	}
	rt := gateway.TuneRuntime(cfg.Runtime)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The config also reloads when its file changes (a Kubernetes
	// ConfigMap update included); SIGHUP stays for everything else.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Every listener is bound before the store is opened (or created, for
	// the embedded store): a port that is taken stops the start here,
	// naming its config field, and leaves nothing behind.
	ls, err := gateway.Bind(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "keygate:", err)
		return exitError
	}
	g, err := gateway.New(ctx, cfg, gateway.Options{
		Version:    version.Get(),
		AdminToken: os.Getenv(adminapi.EnvToken),
		ConfigFile: path,
		Reload:     hup,
		Listeners:  ls, // New closes them on its own error
	})
	if err != nil {
		fmt.Fprintln(stderr, "keygate:", err)
		return exitConfig
	}
	// go-redis logs reconnection trouble through a process-wide logger;
	// send it to ours.
	goredis.SetLogger(redisLogger{g.Logger().Named("go-redis").Sugar()})
	g.Logger().Info("go runtime", rt.Fields()...)
	if err := g.Listen(); err != nil { // the TLS set-up, on the bound listeners
		g.Close()
		fmt.Fprintln(stderr, "keygate:", err)
		return exitError
	}
	if err := g.Serve(ctx); err != nil {
		g.Logger().Error("keygate stopped with an error", zap.Error(err))
		return exitError
	}
	return exitOK
}

// redisLogger adapts zap to go-redis's logging interface.
type redisLogger struct{ log *zap.SugaredLogger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warnf(format, v...)
}
