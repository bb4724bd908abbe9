// Command ssehub runs the ssehub Server-Sent Events push hub and talks to it.
//
//	ssehub [serve] [flags]     run the hub (the default)
//	ssehub token [flags]       print a token for publishers or subscribers
//	ssehub publish [flags] DATA
//	ssehub subscribe [flags]
//	ssehub bench [flags]       load a running hub and measure it
//	ssehub healthcheck [flags] exit 0 when the hub on this machine is alive
//	ssehub version             print the version, commit and Go version
//	ssehub config check        check and print the effective configuration
//
// Every flag has an environment twin: --listen is also SSEHUB_LISTEN,
// --jwt-key SSEHUB_JWT_KEY, and so on, and a key in the configuration file
// (--config FILE). A flag on the command line wins over its twin, which
// wins over the file.
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		cmd, args = "version", args[1:]
	} else if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, stdout, stderr, getenv)
	case "token":
		err = tokenCmd(args, stdout, stderr, getenv)
	case "publish":
		err = publishCmd(ctx, args, stdin, stdout, stderr, getenv)
	case "subscribe":
		err = subscribeCmd(ctx, args, stdout, stderr, getenv)
	case "bench":
		err = benchCmd(ctx, args, stdout, stderr, getenv)
	case "bench-resumers": // the storm child of bench (--storm-process child), not run by hand
		err = benchResumersCmd(ctx, args, stdin, stdout, stderr, getenv)
	case "healthcheck":
		err = healthcheckCmd(ctx, args, stdout, stderr, getenv)
	case "version":
		err = versionCmd(args, stdout, stderr)
	case "config":
		err = configCmd(args, stdout, stderr, getenv)
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ssehub: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "ssehub:", err)
		return 1
	}
}

// errUsage reports bad flags; the flag package has printed why.
var errUsage = errors.New("usage")

const usage = `ssehub: a Server-Sent Events push hub.

Commands:
  ssehub [serve] [flags]      run the hub (default): ssehub serve -h for its flags
  ssehub token [flags]        print a token for publishers or subscribers
  ssehub publish [flags] DATA publish one event (DATA "-" reads standard input)
  ssehub subscribe [flags]    print the events of topics as they arrive
  ssehub bench [flags]        load a running hub: deliveries/s, latency, events missed
  ssehub healthcheck [flags]  exit 0 when the hub on this machine answers /healthz (for containers)
  ssehub version              print the version, commit and Go version (also: ssehub --version)
  ssehub config check [flags] check the configuration and print it, with where each value comes from

Every flag has an environment twin: --listen is also SSEHUB_LISTEN. Settings may also come
from a TOML file (--config FILE or SSEHUB_CONFIG): a flag wins over its variable, which wins
over the file.
`
