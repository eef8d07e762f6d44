// Command chronicle imports Tardis.dev CSV files into a verified binary
// archive, reads them back, replays the order book and exports it.
//
// Run `chronicle help` for the list of subcommands and `chronicle help CMD`
// (or `chronicle CMD --help`) for each one's flags and examples.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/chronicle-archive/chronicle/segment"
)

// Exit statuses, as in the go command and restic: 0 ok, 1 error, 2 usage,
// 3 the archive is damaged (verify found a problem or a reader met
// corruption).
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitCorrupt = 3
)

type command struct {
	name    string
	summary string
	usage   string // after "chronicle NAME "
	help    string // long help: what it does, examples, exit status
	run     func(ctx context.Context, env *env, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// env is what a command may touch besides its arguments; tests swap it.
type env struct {
	stdout, stderr io.Writer
	// isTerminal reports whether stderr is a terminal (progress display).
	isTerminal bool
	getenv     func(string) string
}

// usageError marks a bad invocation (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// corruptError marks damage found in the archive (exit status 3).
type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, isTerminal: isTerminal(os.Stderr), getenv: os.Getenv}
	os.Exit(run(ctx, e, os.Args[1:]))
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		printMainUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				printCommandHelp(e.stdout, c)
				return exitOK
			}
		}
		printMainUsage(e.stdout)
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "chronicle: unknown command %q\nRun 'chronicle help' for usage.\n", name)
		return exitUsage
	}
	err := c.run(ctx, e, args[1:])
	var ue *usageError
	var ce *corruptError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "chronicle %s: %s\nRun 'chronicle help %s' for usage.\n", name, ue.msg, name)
		return exitUsage
	case errors.As(err, &ce) || segment.IsCorruption(err):
		fmt.Fprintf(e.stderr, "chronicle %s: %v\n", name, err)
		return exitCorrupt
	case errors.Is(err, segment.ErrNoCodec):
		fmt.Fprintf(e.stderr, "chronicle %s: %v (this command cannot read columnar segments: a bug, please report it; 'chronicle decompress' restores the .q files)\n", name, err)
		return exitError
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(e.stderr, "chronicle %s: interrupted; nothing was published\n", name)
		return exitError
	default:
		fmt.Fprintf(e.stderr, "chronicle %s: %v\n", name, err)
		return exitError
	}
}

func printMainUsage(w io.Writer) {
	fmt.Fprint(w, `Chronicle keeps Tardis.dev market data in a compact, checksummed archive
and replays the order book from it.

Usage:

	chronicle <command> [arguments]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "\t%-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Use "chronicle help <command>" for more about a command.

The archive root is --archive-root, else $CHRONICLE_ARCHIVE, else ./archive.
Exit status: 0 success, 1 error, 2 bad usage, 3 archive damage found.
`)
}

func printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: chronicle %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.help))
	fs := c.flags()
	if fs != nil {
		var has bool
		fs.VisitAll(func(*flag.Flag) { has = true })
		if has {
			fmt.Fprintf(w, "\nFlags:\n")
			fs.SetOutput(w)
			fs.PrintDefaults()
		}
	}
}

// flags builds the command's flag set without running it, for help.
func (c *command) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if f, ok := flagDefs[c.name]; ok {
		f(fs)
	}
	return fs
}

// flagDefs registers each command's flags on a FlagSet; commands bind
// their option structs through it so help and parsing share one list.
var flagDefs = map[string]func(*flag.FlagSet){}

// parseArgs parses flags that may come before, between or after positional
// arguments (`chronicle verify DIR --json` as well as `--json DIR`).
func parseArgs(c *command, e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printCommandHelp(e.stdout, c)
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// archiveRoot resolves --archive-root, $CHRONICLE_ARCHIVE, ./archive.
func archiveRoot(e *env, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := e.getenv("CHRONICLE_ARCHIVE"); v != "" {
		return v
	}
	return "archive"
}
