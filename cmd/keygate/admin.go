package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/gateway"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/store/embedded"
)

// The operator commands (users, keys, apikey) open the configured store
// themselves and build an authz.Service on it: the same code as the server,
// so their changes reach running servers through the store's
// publish/subscribe. The embedded store's file can only be open in one
// process, so with it they need the server stopped; see openService.

// action is what an operator command does once its flags and arguments
// are parsed and the credential service is open. args are its positional
// arguments, as many as the command names, then the line it reads from
// standard input if it reads one.
type action func(ctx context.Context, s *authz.Service, args []string, stdout, stderr io.Writer) error

// adminCommand is one operator command, e.g. "users add".
type adminCommand struct {
	group, name string
	args        []string // names of the positional arguments, in order
	flags       string   // flags in the synopsis
	summary     string
	// stdin, if set, names what the command reads as one line from
	// standard input (a secret: never an argument, so it stays out of
	// shell history and ps). It is read before the store is opened.
	stdin string
	// setup registers the command's flags on fs and returns its action,
	// which reads them.
	setup func(fs *flag.FlagSet) action
}

var adminCommands = []adminCommand{
	{group: "users", name: "add", args: []string{"NAME"}, flags: "[--admin] [--manage-keys] [--api-sets a,b] [--scopes read,write]",
		summary: "Create a user, with the API sets and scopes its credentials may carry", setup: usersAdd},
	{group: "users", name: "list", flags: "[-o text|json]", summary: "List the users", setup: usersList},
	{group: "users", name: "disable", args: []string{"NAME"}, summary: "Disable a user: every credential of theirs stops working", setup: usersDisable(true)},
	{group: "users", name: "enable", args: []string{"NAME"}, summary: "Enable a disabled user", setup: usersDisable(false)},
	{group: "users", name: "password", args: []string{"NAME"}, flags: "< one line on standard input",
		summary: "Set a user's password (for HTTP Basic sign-in to the self-service and admin APIs), read as one line from standard input", stdin: "the new password", setup: usersPassword},
	{group: "keys", name: "create", args: []string{"USER"}, flags: "--handle H [--alias A] [--description D] [--api-sets a,b] [--scopes read] [--expires 720h] [--admin]",
		summary: "Create a named API key (--admin: one the admin API accepts, for a user with ADMIN); prints its long-lived Bearer token, which is shown only once", setup: keysCreate},
	{group: "keys", name: "list", args: []string{"USER"}, flags: "[-o text|json]", summary: "List a user's credentials (never a secret)", setup: keysList},
	{group: "keys", name: "delete", args: []string{"USER", "HANDLE"}, summary: "Delete a named API key: its token stops working", setup: keysDelete},
	{group: "keys", name: "revoke", args: []string{"CREDENTIAL_ID"}, summary: "Revoke any credential by id: its secret stops working", setup: keysRevoke},
	{group: "apikey", name: "token", args: []string{"USER"}, summary: "Generate a new ApiKey token (earlier ones stop working); prints \"ApiKey key:token\"", setup: apikeyToken},
	{group: "apikey", name: "rotate", args: []string{"USER"}, summary: "Replace a user's ApiKey key and token (the old pair stops working); prints \"ApiKey key:token\"", setup: apikeyRotate},
	{group: "apikey", name: "unvoid", args: []string{"USER"}, summary: "Make a user's voided ApiKey token work again", setup: apikeyUnvoid},
}

// synopsis is the command's line in the usage text.
func (c adminCommand) synopsis() string {
	words := append([]string{"keygate", c.group, c.name}, c.args...)
	if c.flags != "" {
		words = append(words, c.flags)
	}
	return strings.Join(words, " ")
}

// adminUsage is the synopsis of the operator commands, or of one group's
// if group is not empty.
func adminUsage(group string) string {
	var b strings.Builder
	for _, c := range adminCommands {
		if group == "" || c.group == group {
			fmt.Fprintf(&b, "  %s\n", c.synopsis())
		}
	}
	return b.String()
}

// admin runs "keygate GROUP COMMAND ARGS..." for the groups users, keys
// and apikey, and returns the exit code.
func admin(group string, args []string, stdout, stderr io.Writer) int {
	groupUsage := fmt.Sprintf("Usage:\n%s\nEvery command takes -config FILE (default $KEYGATE_CONFIG, else gateway.yaml). Run \"keygate %s COMMAND -h\" for its flags.\n", adminUsage(group), group)
	if len(args) == 0 {
		fmt.Fprint(stderr, groupUsage)
		return exitConfig
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, groupUsage)
		return exitOK
	}
	for _, c := range adminCommands {
		if c.group == group && c.name == args[0] {
			return c.execute(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "keygate %s: unknown command %q\n\n%s", group, args[0], groupUsage)
	return exitConfig
}

// execute parses args, opens the service, runs the action and closes the
// service, and returns the exit code.
func (c adminCommand) execute(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(c.group+" "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	act := c.setup(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n%s.\n\nFlags (before or after the arguments):\n", c.synopsis(), c.summary)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitConfig // flag printed the problem and the usage
	}
	if len(pos) != len(c.args) {
		switch {
		case len(pos) > len(c.args) && c.stdin != "":
			// Not echoed: it may be the secret, typed where it does not belong.
			fmt.Fprintf(stderr, "keygate %s: unexpected argument: %s is read from standard input, never taken as an argument\n", fs.Name(), c.stdin)
		case len(pos) > len(c.args):
			fmt.Fprintf(stderr, "keygate %s: unexpected argument %q\n", fs.Name(), pos[len(c.args)])
		default:
			fmt.Fprintf(stderr, "keygate %s: missing %s\n", fs.Name(), strings.Join(c.args[len(pos):], " "))
		}
		fs.Usage()
		return exitConfig
	}
	cfg, err := config.Load(*path)
	if err != nil {
		printProblems(stderr, err)
		return exitConfig
	}
	if c.stdin != "" {
		line, err := readSecret(stdin, stderr, c.stdin, pos[0])
		if err != nil {
			fmt.Fprintf(stderr, "keygate %s: %s: %v\n", fs.Name(), c.stdin, err)
			return exitError
		}
		pos = append(pos, line)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = audit.WithActor(ctx, cliActor())
	log := cliLogger(stderr)
	defer func() { _ = log.Sync() }()
	goredis.SetLogger(redisLogger{log.Named("go-redis").Sugar()})
	s, closeAll, err := openService(ctx, cfg, log)
	if err == nil {
		err = act(ctx, s, pos, stdout, stderr)
		closeAll()
	}
	if err != nil {
		fmt.Fprintf(stderr, "keygate %s: %v\n", fs.Name(), err)
		return exitError
	}
	return exitOK
}

// cliActor is the actor of the changes a command makes: "cli", run by
// the operating system user (when it can be told).
func cliActor() audit.Actor {
	a := audit.Actor{Name: "cli", Auth: "cli", Via: "cli"}
	if u, err := user.Current(); err == nil {
		a.OSUser = u.Username
	} else {
		a.OSUser = os.Getenv("USER")
	}
	return a
}

// stdin is where commands read a line from (a variable for tests).
var stdin io.Reader = os.Stdin

// maxLine bounds the line a command reads from standard input.
const maxLine = 4096

// readLine reads one line from r: up to the first newline (a "\r" before
// it is dropped) or the end of the input. An empty line is refused, and
// so is one longer than maxLine; what follows the line is not read.
func readLine(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxLine+2), maxLine+2)
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if len(line) > maxLine {
		return "", fmt.Errorf("the line on standard input is longer than %d bytes", maxLine)
	}
	if line == "" {
		return "", errors.New("standard input holds no line, or an empty one (send it as one line on standard input, e.g. from a file or a password manager)")
	}
	return line, nil
}

// readSecret reads what (a secret for name) from r: without echo, after a
// prompt on stderr, when r is a terminal; otherwise as one line, by
// readLine (a pipe or a file, as from a password manager).
func readSecret(r io.Reader, stderr io.Writer, what, name string) (string, error) {
	f, ok := r.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return readLine(r)
	}
	fmt.Fprintf(stderr, "Type %s for %s and press Enter (it is not shown): ", what, name)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr) // the Enter was not echoed either
	switch {
	case err != nil:
		return "", fmt.Errorf("reading the terminal: %w", err)
	case len(b) > maxLine:
		return "", fmt.Errorf("the line typed is longer than %d bytes", maxLine)
	case len(b) == 0:
		return "", errors.New("nothing was typed")
	}
	return string(b), nil
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments (flag stops at the first non-flag) and returns
// the positional arguments. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// generatedKeyWarning is the one line a command prints when the config
// sets no digest key.
const generatedKeyWarning = "auth.digest_keys is not set: using the digest key kept in the store (set one in production)"

// cliLogger logs warnings and errors to w, one line each with the level
// and no time or caller: the operator sees the "digest key" warning and
// nothing noisy.
func cliLogger(w io.Writer) *zap.Logger {
	ec := zap.NewDevelopmentEncoderConfig()
	ec.TimeKey, ec.CallerKey = "", ""
	enc := zapcore.NewConsoleEncoder(ec)
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), zap.WarnLevel))
}

// openService opens the configured store and the credential service on it;
// closeAll closes both. An embedded store held by a running keygate is
// refused with a message saying what to do.
func openService(ctx context.Context, cfg *config.Config, log *zap.Logger) (s *authz.Service, closeAll func(), err error) {
	st, err := gateway.OpenStore(ctx, cfg.Store, log, nil)
	if errors.Is(err, embedded.ErrLocked) {
		return nil, nil, fmt.Errorf("the embedded store %s is in use by a running keygate; stop it first, or use store.driver: redis to manage credentials while serving", cfg.Store.Embedded.Path)
	}
	if err != nil {
		return nil, nil, err
	}
	authLog := log
	if len(cfg.Auth.DigestKeys) == 0 {
		// The server's warning is a paragraph, logged at every start; a
		// command says it in one line, and the service stays quiet about it.
		log.Warn(generatedKeyWarning)
		authLog = log.WithOptions(zap.IncreaseLevel(zap.ErrorLevel))
	}
	// The changes a command makes are audit lines: to audit.file too.
	authLog, closeAudit, err := audit.Tee(authLog, cfg.Audit)
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	s, err = authz.New(ctx, cfg.Auth, st, authz.Options{Logger: authLog})
	if err != nil {
		_ = st.Close()
		_ = closeAudit()
		return nil, nil, fmt.Errorf("auth: %w", err)
	}
	return s, func() {
		s.Close()
		if err := st.Close(); err != nil {
			log.Warn("closing store", zap.Error(err))
		}
		_ = closeAudit()
	}, nil
}

// listFlag is a comma-separated list flag; each use replaces the value.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// names prints a list for people: "a, b", or "none".
func names(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}
