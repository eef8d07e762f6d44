package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/tardis"
	"github.com/chronicle-archive/chronicle/timespec"
)

// bookDataType is the data type of a book stream, and of every stream
// written before meta.json recorded data types.
const bookDataType = "incremental_book_L2"

// dataTypeName is the stream's Tardis data type name.
func dataTypeName(m *archive.Meta) string {
	if m.DataType == "" {
		return bookDataType
	}
	return m.DataType
}

// streamDataType returns the data type of the stream in dir, whose
// meta.json is m.
func streamDataType(dir string, m *archive.Meta) (tardis.DataType, error) {
	dt, ok := tardis.LookupDataType(dataTypeName(m))
	if !ok {
		return dt, fmt.Errorf("%s: meta.json says data type %q, which this Chronicle does not know (it reads %s)", dir, m.DataType, tardis.KnownDataTypes())
	}
	return dt, nil
}

// isBookStream reads dir's meta.json to tell a book stream from a stream
// of records, which have different readers. One whose meta.json cannot be
// read counts as a book stream: the book reader says what is wrong, as it
// always has.
func isBookStream(dir string) (bool, error) {
	m, err := archive.ReadMeta(nil, dir)
	if err != nil {
		return true, nil
	}
	dt, err := streamDataType(dir, m)
	return dt.IsBook(), err
}

// needBookStream refuses a stream of another data type for the commands
// that rebuild a book.
func needBookStream(dir string) error {
	m, err := archive.ReadMeta(nil, dir)
	if err != nil {
		return nil // not a readable stream: the book reader says why, as it always has
	}
	if name := dataTypeName(m); name != bookDataType {
		return fmt.Errorf("%s holds %s, not an incremental_book_L2 stream: replay, book and snapshots need a book stream", dir, name)
	}
	return nil
}

// refuseBinaryToTerminal refuses to write a binary format to a terminal.
func refuseBinaryToTerminal(e *env, out string) error {
	if out != "" && out != "-" {
		return nil
	}
	if f, ok := e.stdout.(*os.File); ok && isTerminal(f) {
		return usagef("Parquet is binary: give -o FILE or redirect standard output")
	}
	return nil
}

// streamArgHelp is the help's description of a STREAM argument.
const streamArgHelp = `STREAM is a stream directory (<root>/v1/VENUE/SYMBOL/DATE/STREAM) or
VENUE/SYMBOL/TYPE (binance-futures/BTCUSDT/book, .../trades), which names
every day of that stream under --archive-root, read as one stream in date
order; 'chronicle ls' prints these names.`

// timeHelp describes the accepted times.
const timeHelp = `TIME is RFC 3339 (2024-05-01T12:00:00.5Z), a date (2024-05-01, 00:00 UTC),
2024-05-01T12:00 (UTC), or an integer since the epoch: µs when it is at
most about 9.2e15 (Tardis's µs, 1714521603000000), else ns; a suffix ns,
us, ms or s says which.`

// rangeOpts are --from, --to and --limit.
type rangeOpts struct {
	from, to string
	limit    int64
}

func (o *rangeOpts) register(fs *pflag.FlagSet, what string) {
	fs.StringVar(&o.from, "from", "", "first `TIME` (included; local timestamp)")
	fs.StringVar(&o.to, "to", "", "end `TIME` (excluded)")
	fs.Int64Var(&o.limit, "limit", 0, "stop after `N` "+what+" (0: no limit)")
}

// parse returns the range, a usage error when a time does not parse.
func (o *rangeOpts) parse() (timespec.Range, error) {
	if o.limit < 0 {
		return timespec.Range{}, usagef("--limit %d: must be 0 (no limit) or more", o.limit)
	}
	r, err := timespec.ParseRange(o.from, o.to)
	if err != nil {
		return r, usagef("%v", err)
	}
	return r, nil
}

// resolve returns the day directories arg names (a stream directory or
// VENUE/SYMBOL/TYPE under the archive root) that r may cover. An argument
// that names no stream is an error saying what it is and what was expected.
func (a *app) resolve(arg string, r timespec.Range) ([]string, error) {
	return stream.Resolve(nil, a.root(), arg, r)
}

// warn prints a reader's warning (a range outside the data) on stderr.
func (a *app) warn(w string) {
	if w != "" {
		fmt.Fprintf(a.e.stderr, "chronicle: warning: %s\n", w)
	}
}

// one checks that exactly one STREAM argument was given.
func one(cmd string, args []string) error {
	if len(args) != 1 {
		return usagef("%s needs one stream: a stream directory or VENUE/SYMBOL/TYPE (got %d arguments)", cmd, len(args))
	}
	return nil
}

// readMetas reads every day's meta.json.
func readMetas(dirs []string) ([]*archive.Meta, error) {
	out := make([]*archive.Meta, len(dirs))
	for i, d := range dirs {
		m, err := archive.ReadMeta(nil, d)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// resolveAll resolves every argument to its day directories.
func resolveAll(a *app, args []string) ([]string, error) {
	var out []string
	for _, arg := range args {
		dirs, err := a.resolve(arg, timespec.Range{})
		if err != nil {
			return nil, err
		}
		out = append(out, dirs...)
	}
	return out, nil
}

// csvOrParquet reads --format csv|parquet, where no --format means
// parquet when -o ends in .parquet and csv otherwise; Parquet is refused
// on a terminal.
func csvOrParquet(e *env, format, out string) (parquet bool, err error) {
	switch {
	case format == "" && strings.HasSuffix(strings.ToLower(out), ".parquet"), format == "parquet":
		return true, refuseBinaryToTerminal(e, out)
	case format == "" || format == "csv":
		return false, nil
	}
	return false, usagef("unknown --format %q (want csv or parquet)", format)
}
