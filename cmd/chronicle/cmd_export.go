package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/export"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/tardis"
	"github.com/chronicle-archive/chronicle/timespec"
)

func init() { register(newExportCmd) }

func newExportCmd(a *app) *cobra.Command {
	var o exportOpts
	c := newCommand(a, "export STREAM... [--format tardis-csv|parquet] [-o FILE | --dataset DEST] [--from TIME] [--to TIME] [--limit N]",
		"export a stream as Tardis CSV or typed Parquet", `
Export writes a stream (of any data type) back out.

--format tardis-csv (the default) gives the Tardis CSV of the stream's data
type: Tardis's header and column order, an absent value as an empty cell,
numbers printed as Tardis prints them (shortest form, exponent notation
below 1e-6), timestamps in µs. For a file Tardis wrote, that is the source
file's rows. In an incremental_book_L2 stream, bids come before asks
within one event.

--format parquet writes the same columns, typed: DECIMAL at the stream's
scale (meta.json's scales; the largest of the days read), TIMESTAMP (µs,
UTC), strings as strings (sides as Tardis spells them), NULL where the
Tardis cell was empty. It needs -o FILE or a redirected standard output.
The file is written as FILE.tmp and renamed when complete: a failed export
leaves no FILE.

--format parquet --dataset DEST writes a Parquet lake instead: one file
per stream-day of every STREAM given, at
DEST/exchange=VENUE/type=TYPE/date=YYYY-MM-DD/symbol=SYMBOL/data.parquet
(TYPE the Tardis data type, SYMBOL as in the archive's directory name),
each the file export --format parquet writes for that day, written
whole or not at all. DEST is a directory or s3://BUCKET/PREFIX; a
_chronicle marker there makes a rerun overwrite the lake, and a non-empty
DEST without one is refused. One line per file on stderr. DuckDB,
ClickHouse and Spark read it with partition pruning (docs/PARQUET.md).

`+streamArgHelp+`

--from and --to bound the local timestamps, [from, to), and --limit the
number of events (a book stream: all the rows of each event) or records;
`+timeHelp+`
A range that holds no data writes only the header and a
warning on stderr.

For book snapshots (top N per side) of a book stream see 'chronicle snapshots'.
`, `
  chronicle export binance-futures/BTCUSDT/trades --from 2024-05-01T12:00 --to 2024-05-02T12:00 > trades.csv
  chronicle export binance/BTCUSDT/book --format parquet -o book.parquet
  chronicle export archive/v1/deribit/OPTIONS/2024-01-01/options_chain --format parquet -o chain.parquet
  chronicle export binance/BTCUSDT/trades binance/ETHUSDT/trades --format parquet --dataset s3://market/lake --from 2024-05-01 --to 2024-06-01
`, "",
		func(args []string, _ *pflag.FlagSet) error { return runExport(a, &o, args) })
	o.register(c.Flags())
	return c
}

type exportOpts struct {
	format, out, dataset string
	rangeOpts
}

func (o *exportOpts) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.format, "format", "tardis-csv", "output `format`: tardis-csv or parquet")
	fs.StringVarP(&o.out, "output", "o", "", "write to `FILE` (default: standard output)")
	fs.StringVar(&o.dataset, "dataset", "", "write a hive-partitioned Parquet lake under `DEST` (a directory or s3://BUCKET/PREFIX)")
	o.rangeOpts.register(fs, "events or records")
}

func runExport(a *app, o *exportOpts, args []string) error {
	if o.dataset != "" {
		return runLake(a, o, args)
	}
	if err := one("export", args); err != nil {
		return err
	}
	switch o.format {
	case "tardis-csv":
	case "parquet":
		if err := refuseBinaryToTerminal(a.e, o.out); err != nil {
			return err
		}
	default:
		return usagef("unknown --format %q (want tardis-csv or parquet)", o.format)
	}
	r, err := o.parse()
	if err != nil {
		return err
	}
	dirs, err := a.resolve(args[0], r)
	if err != nil {
		return err
	}
	isBook, err := isBookStream(dirs[0])
	if err != nil {
		return err
	}
	sink := func(fn func(io.Writer) error) error { return writeOutput(a.e, o.out, fn) }
	if isBook {
		return exportBook(a, dirs, r, o, sink)
	}
	return exportRecords(a, dirs, r, o, sink)
}

// A sink runs an export's writer against its destination: a file or
// standard output (writeOutput), or a lake's partition file.
type sink func(fn func(io.Writer) error) error

func exportBook(a *app, dirs []string, r timespec.Range, o *exportOpts, out sink) error {
	evs, err := stream.OpenEventsRange(nil, dirs, r)
	if err != nil {
		return err
	}
	defer evs.Close()
	a.warn(evs.Warning())
	metas, err := readMetas(dirs)
	if err != nil {
		return err
	}
	m := metas[0]
	sym := m.ExactSymbol()
	return out(func(w io.Writer) error {
		var (
			write  func(*protocol.Event) error
			finish func() error
		)
		if o.format == "parquet" {
			scales, err := metaScales(dirs, metas, []string{"price", "amount"})
			if err != nil {
				return err
			}
			pw, err := export.NewParquetWriter(w, tardis.BookColumns(scales[0], scales[1]))
			if err != nil {
				return err
			}
			write = func(ev *protocol.Event) error { return tardis.WriteBookRows(pw, m.Venue, sym, ev) }
			finish = pw.Close
		} else {
			tw := tardis.NewWriter(w, m.Venue, sym)
			write, finish = tw.WriteEvent, tw.Flush
		}
		for n := int64(0); o.limit == 0 || n < o.limit; n++ {
			ev, err := evs.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if n%1024 == 0 && a.ctx.Err() != nil {
				return a.ctx.Err()
			}
			if err := write(ev); err != nil {
				return fmt.Errorf("%s: event seq %d: %w", args0(dirs), ev.Seq, err)
			}
		}
		return finish()
	})
}

func exportRecords(a *app, dirs []string, r timespec.Range, o *exportOpts, out sink) error {
	rs, err := stream.OpenRecordsRange(nil, dirs, r)
	if err != nil {
		return err
	}
	defer rs.Close()
	a.warn(rs.Warning())
	metas, err := readMetas(dirs)
	if err != nil {
		return err
	}
	m := metas[0]
	dt, err := streamDataType(dirs[0], m)
	if err != nil {
		return err
	}
	return out(func(w io.Writer) error {
		var (
			write  func(*record.Record) error
			finish func() error
		)
		if o.format == "parquet" {
			scales, err := metaScales(dirs, metas, dt.Record.ScaleNames())
			if err != nil {
				return err
			}
			pw, err := export.NewParquetWriter(w, tardis.RecordColumns(dt.Record, dt.Depth, scales))
			if err != nil {
				return err
			}
			var cells []export.Cell
			write = func(rec *record.Record) error {
				cells = tardis.AppendRecordCells(cells[:0], m.Venue, rec, dt.Depth)
				return pw.WriteRow(cells)
			}
			finish = pw.Close
		} else {
			rw := tardis.NewRecordWriter(w, dt, m.Venue)
			write, finish = rw.Write, rw.Flush
		}
		for n := int64(0); o.limit == 0 || n < o.limit; n++ {
			rec, err := rs.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if n%1024 == 0 && a.ctx.Err() != nil {
				return a.ctx.Err()
			}
			if err := write(rec); err != nil {
				return fmt.Errorf("%s: record %d: %w", args0(dirs), n, err)
			}
		}
		return finish()
	})
}

// args0 names the stream read in messages: its day directory, or the
// first and last of several.
func args0(dirs []string) string {
	if len(dirs) == 1 {
		return dirs[0]
	}
	return dirs[0] + ".." + dirs[len(dirs)-1]
}

// metaScales returns, for the named fields, the largest scale meta.json
// gives over the days read: the Parquet columns' scales, at which every
// value of the stream is exact (each cell carries its own scale and is
// rescaled up).
func metaScales(dirs []string, metas []*archive.Meta, names []string) ([]uint8, error) {
	out := make([]uint8, len(names))
	for d, m := range metas {
		for i, n := range names {
			s, ok := m.Scales[n]
			if !ok {
				return nil, fmt.Errorf("%s: meta.json has no scale for %q (a stream from an older Chronicle?): re-import it with --force to export Parquet", dirs[d], n)
			}
			out[i] = max(out[i], s)
		}
	}
	return out, nil
}

// writeOutput runs fn against stdout, or against path written atomically
// (path.tmp, renamed into place only when fn succeeds; see commitFile).
func writeOutput(e *env, path string, fn func(io.Writer) error) error {
	if path == "" || path == "-" {
		bw := bufio.NewWriterSize(e.stdout, 1<<20)
		if err := fn(bw); err != nil {
			bw.Flush()
			return err
		}
		return bw.Flush()
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	_, err = commitFile(f, path, fn)
	return err
}

// commitFile writes fn's output into the temporary file f, fsyncs it,
// renames it to final and fsyncs final's directory, so that a crash leaves
// the old file or the new one, never a part; on any error f is removed.
// It returns the bytes written.
func commitFile(f *os.File, final string, fn func(io.Writer) error) (int64, error) {
	tmp := f.Name()
	cw := &countWriter{w: f}
	bw := bufio.NewWriterSize(cw, 1<<20)
	err := fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return 0, err
		}
	}
	return cw.n, nil
}
