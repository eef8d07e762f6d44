// Command chronicle imports Tardis.dev CSV files into a verified binary
// archive, reads them back, replays the order book and exports it.
//
// Run `chronicle help` for the list of subcommands and `chronicle help CMD`
// (or `chronicle CMD --help`) for each one's flags and examples.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/s3archive"
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

// env is what a command may touch besides its arguments; tests swap it.
type env struct {
	stdout, stderr io.Writer
	// isTerminal reports whether stderr is a terminal (progress display).
	isTerminal bool
	// width is the terminal's width in columns (nil: 80), asked at each
	// redraw of a progress line so that it never wraps.
	width  func() int
	getenv func(string) string
}

// app is one invocation: the environment and the global flags. A fresh
// command tree is built per run, so flag values never leak between runs
// (the tests call run many times in one process).
type app struct {
	ctx      context.Context
	e        *env
	rootFlag string // --archive-root
	// inRun is set once a command's own code runs: an error before that
	// comes from cobra (unknown command, bad flag) and is a usage error.
	inRun bool
	// s3 is the archive when the root is s3://... (see s3.go).
	s3 *s3archive.Archive
}

// root resolves --archive-root, $CHRONICLE_ARCHIVE, ./archive; an S3
// archive's is its virtual root path.
func (a *app) root() string {
	if a.s3 != nil {
		return a.s3.Root()
	}
	return archiveRoot(a.e, a.rootFlag)
}

// usageError marks a bad invocation (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// corruptError marks damage found in the archive (exit status 3).
type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

// errShownUsage: the usage has been printed already; exit 2 quietly.
var errShownUsage = errors.New("usage shown")

// commands are the constructors of the subcommands, one per file.
var commands []func(a *app) *cobra.Command

func register(f func(a *app) *cobra.Command) { commands = append(commands, f) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, isTerminal: isTerminal(os.Stderr), getenv: os.Getenv,
		width: func() int { return termWidth(os.Stderr) }}
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, e *env, args []string) int {
	a := &app{ctx: ctx, e: e}
	root := newRoot(a)
	root.SetArgs(s3Args(args))
	restore := func() {}
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		a.inRun = true
		var err error
		restore, err = a.openS3()
		return err
	}
	cmd, err := root.ExecuteContextC(ctx)
	restore()
	e = a.e // with messages that show s3:// URLs
	name := "chronicle"
	if cmd != nil && cmd != root {
		name = "chronicle " + cmd.Name()
	}
	var ue *usageError
	var ce *corruptError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errShownUsage):
		return exitUsage
	case errors.As(err, &ue) || !a.inRun:
		fmt.Fprintf(e.stderr, "%s: %s\nRun '%s' for usage.\n", name, strings.TrimSpace(err.Error()), helpFor(cmd, root))
		return exitUsage
	case errors.As(err, &ce) || segment.IsCorruption(err):
		fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
		return exitCorrupt
	case errors.Is(err, segment.ErrNoCodec):
		fmt.Fprintf(e.stderr, "%s: %v (this command cannot read columnar segments: a bug, please report it; 'chronicle decompress' restores the .q files)\n", name, err)
		return exitError
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(e.stderr, "%s: interrupted; nothing was published\n", name)
		return exitError
	default:
		fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
		return exitError
	}
}

func helpFor(cmd, root *cobra.Command) string {
	if cmd == nil || cmd == root || cmd.Name() == "help" {
		return "chronicle help"
	}
	return "chronicle help " + cmd.Name()
}

const rootLong = `Chronicle keeps Tardis.dev market data in a compact, checksummed archive
and replays the order book from it.`

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:     "chronicle",
		Short:   "a verified archive of Tardis.dev market data",
		Long:    rootLong,
		Version: version(),
		Args:    cobra.ArbitraryArgs,
		// Errors and usage are printed by run, with the exit status.
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q", args[0])
			}
			c.SetOut(a.e.stderr)
			c.Help()
			return errShownUsage
		},
		Annotations: map[string]string{"exit": exitStatusText("")},
	}
	root.SetOut(a.e.stdout)
	root.SetErr(a.e.stderr)
	root.SetVersionTemplate("chronicle {{.Version}}\n")
	root.PersistentFlags().StringVar(&a.rootFlag, "archive-root", "", "archive root `dir`, or s3://BUCKET/PREFIX (docs/S3.md) (default $CHRONICLE_ARCHIVE, else ./archive)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	root.SetHelpTemplate(helpTemplate)
	root.SetUsageTemplate(helpTemplate)
	root.SetHelpCommand(newHelpCmd(a))
	root.CompletionOptions.HiddenDefaultCmd = false
	for _, f := range commands {
		c := f(a)
		c.Args = cobra.ArbitraryArgs
		if c.RunE != nil {
			inner := c.RunE
			c.RunE = func(c *cobra.Command, args []string) error {
				a.inRun = true
				return inner(c, args)
			}
		}
		root.AddCommand(c)
	}
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Annotations = map[string]string{"exit": exitStatusText("")}
			c.Example = "  chronicle completion bash > /etc/bash_completion.d/chronicle\n  source <(chronicle completion zsh)"
		}
	}
	root.InitDefaultVersionFlag()
	onceFlags(root)
	return root
}

// newHelpCmd is cobra's help command, except that an unknown topic is a
// usage error (exit 2) rather than a help page with exit 0.
func newHelpCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "help about any command",
		Long:  "Help prints the help of a command, or of chronicle itself without one.",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			cmd, rest, err := root.Find(args)
			if err != nil || cmd == nil || len(rest) > 0 || (len(args) > 0 && cmd == root) {
				return usagef("unknown help topic %q", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
		Annotations: map[string]string{"exit": exitStatusText("")},
	}
}

// helpTemplate is every command's help, and the usage printed for bad
// usage: what it does, examples, flags, exit status.
const helpTemplate = `Usage: {{if .HasParent}}{{.UseLine}}{{else}}chronicle <command> [arguments]{{end}}
{{with .Long}}
{{trimTrailingWhitespaces .}}
{{end}}{{if not .HasParent}}
Commands:
{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}	{{rpad .Name 12}}{{.Short}}
{{end}}{{end}}
Use "chronicle help <command>" for more about a command.
{{end}}{{if .HasExample}}
Examples:

{{.Example}}
{{end}}{{if .HasAvailableLocalFlags}}
Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}
{{end}}{{if .HasAvailableInheritedFlags}}
Global flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}
{{end}}{{with index .Annotations "exit"}}
EXIT STATUS
{{.}}
{{end}}`

// exitStatusText is the EXIT STATUS section: the shared statuses, with
// what a command adds about them.
func exitStatusText(extra string) string {
	s := "  0  success\n  1  error (bad input, I/O)\n  2  bad usage (unknown command or flag, a flag given twice, a bad value)\n  3  archive damage found (run 'chronicle verify')"
	if extra != "" {
		s += "\n\n" + strings.Trim(extra, "\n")
	}
	return s
}

// onceFlags makes a scalar flag given twice a usage error, rather than
// pflag's last-wins, which would silently answer another question than
// the one asked. Slice and array flags (import's --input) are repeatable.
func onceFlags(c *cobra.Command) {
	wrap := func(f *pflag.Flag) {
		if _, ok := f.Value.(*onceValue); ok {
			return
		}
		if t := f.Value.Type(); strings.HasSuffix(t, "Slice") || strings.HasSuffix(t, "Array") {
			return
		}
		f.Value = &onceValue{Value: f.Value, name: f.Name}
	}
	c.InitDefaultHelpFlag()
	c.Flags().VisitAll(wrap)
	c.PersistentFlags().VisitAll(wrap)
	for _, sub := range c.Commands() {
		onceFlags(sub)
	}
}

// onceValue deliberately hides the wrapped value's IsBoolFlag: pflag then
// shows a bool flag as --json, not --json[=true|false], and still parses
// it without a value (its NoOptDefVal is set).
type onceValue struct {
	pflag.Value
	name string
	set  bool
}

func (v *onceValue) Set(s string) error {
	if v.set {
		return fmt.Errorf("--%s given twice: give it once", v.name)
	}
	v.set = true
	return v.Value.Set(s)
}

// version is the module's version and, when the binary was built from a
// checkout, its VCS revision.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " (" + rev + modified + ")"
	}
	return v
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

// newCommand builds a subcommand from its texts; run gets the positional
// arguments and the parsed flag set (to tell which flags were given).
func newCommand(a *app, use, short, long, example, exit string, run func(args []string, fs *pflag.FlagSet) error) *cobra.Command {
	c := &cobra.Command{
		Use:         use,
		Short:       short,
		Long:        strings.TrimSpace(long),
		Example:     strings.Trim(example, "\n"),
		Annotations: map[string]string{"exit": exitStatusText(exit)},
	}
	c.RunE = func(c *cobra.Command, args []string) error { return run(args, c.Flags()) }
	c.Flags().SortFlags = false
	c.DisableFlagsInUseLine = true // Use lists the flags that matter
	return c
}
