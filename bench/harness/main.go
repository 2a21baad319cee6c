// Command harness is keygate's load harness: it measures what keygate costs
// on the request path against a bare httputil.ReverseProxy (and nginx) in
// the same run, and prints the figures as the markdown docs/benchmarks.md is
// built from. scripts/bench.sh installs what it runs (wrk, nginx, valgrind,
// curl, redis-server) and runs it; see docs/benchmarks.md.
//
//	harness load [flags]          wrk against every target in turn, rounds
//	                              rotating, then the open-loop rate phase
//	harness paired [flags]        CPU per request of keygate with and without
//	                              authentication, both loaded at once
//	harness instructions [flags]  instructions per request under callgrind
//
// Every subcommand builds what it runs (./cmd/keygate, bench/upstream,
// bench/bareproxy, bench/loadgen, bench/tokens) into a temporary directory,
// starts its servers on 127.0.0.1 and stops them when it ends, however it
// ends. The markdown goes to stdout, progress to stderr. `harness
// SUBCOMMAND -h` lists the flags.
//
// The figures come from tested code: parse.go reads wrk's and loadgen's
// output, proc.go reads CPU time from /proc, stats.go takes medians, ratios
// and spreads.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
)

// progress reports what the harness is doing, on stderr: stdout has the
// markdown.
var progress = log.New(os.Stderr, "bench: ", 0)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	run, ok := map[string]func(context.Context, []string) error{
		"load":         runLoad,
		"paired":       runPaired,
		"instructions": runInstructions,
	}[os.Args[1]]
	if !ok {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	err := run(ctx, os.Args[2:])
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case interrupted:
		progress.Printf("interrupted: %v", err)
		os.Exit(130)
	default:
		progress.Printf("error: %v", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: harness load|paired|instructions [flags]   (harness SUBCOMMAND -h lists the flags)")
}
