package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/export"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/tardis"
)

func init() {
	register(&command{
		name:    "export",
		summary: "export a stream as Tardis CSV or typed Parquet",
		usage:   "STREAM_DIR [--format tardis-csv|parquet] [-o FILE]",
		help: `
Export writes a stream (of any data type) back out.

--format tardis-csv (the default) gives the Tardis CSV of the stream's data
type: Tardis's header and column order, an absent value as an empty cell,
numbers printed as Tardis prints them (shortest form, exponent notation
below 1e-6), timestamps in µs. For a file Tardis wrote, that is the source
file's rows. In an incremental_book_L2 stream, bids come before asks
within one event.

--format parquet writes the same columns, typed: DECIMAL at the stream's
scale (meta.json's scales), TIMESTAMP (µs, UTC), strings as strings (sides
as Tardis spells them), NULL where the Tardis cell was empty. It needs -o
FILE or a redirected standard output. The file is written as FILE.tmp and
renamed when complete: a failed export leaves no FILE.

Examples:

	chronicle export archive/v1/binance/BTCUSDT/2019-12-01/book > book.csv
	chronicle export archive/v1/binance/BTCUSDT/2019-12-01/trades -o trades.csv
	chronicle export archive/v1/deribit/OPTIONS/2024-01-01/options_chain --format parquet -o chain.parquet

For book snapshots (top N per side) of a book stream see 'chronicle snapshots'.
`,
		run: runExport,
	})
	flagDefs["export"] = func(fs *flag.FlagSet) { new(exportOpts).register(fs) }
}

type exportOpts struct{ format, out string }

func (o *exportOpts) register(fs *flag.FlagSet) {
	fs.StringVar(&o.format, "format", "tardis-csv", "output `format`: tardis-csv or parquet")
	fs.StringVar(&o.out, "o", "", "write to `file` (default: standard output)")
}

func runExport(ctx context.Context, e *env, args []string) error {
	var o exportOpts
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	o.register(fs)
	pos, err := parseArgs(commands["export"], e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("export needs one stream directory")
	}
	switch o.format {
	case "tardis-csv":
	case "parquet":
		if err := refuseBinaryToTerminal(e, o.out); err != nil {
			return err
		}
	default:
		return usagef("unknown --format %q (want tardis-csv or parquet)", o.format)
	}
	dir := pos[0]
	isBook, err := isBookStream(dir)
	if err != nil {
		return err
	}
	if isBook {
		return exportBook(ctx, e, dir, &o)
	}
	return exportRecords(ctx, e, dir, &o)
}

func exportBook(ctx context.Context, e *env, dir string, o *exportOpts) error {
	evs, err := stream.OpenEvents(nil, dir)
	if err != nil {
		return err
	}
	defer evs.Close()
	m := evs.Meta() // of the version read, should the stream be replaced meanwhile
	sym := m.ExactSymbol()
	return writeOutput(e, o.out, func(w io.Writer) error {
		var (
			write  func(*protocol.Event) error
			finish func() error
		)
		if o.format == "parquet" {
			scales, err := metaScales(dir, m, []string{"price", "amount"})
			if err != nil {
				return err
			}
			pw, err := export.NewParquetWriter(w, tardis.BookColumns(scales[0], scales[1]))
			if err != nil {
				return err
			}
			emit := func(cells []export.Cell) error { return pw.WriteRow(cells) }
			write = func(ev *protocol.Event) error { return tardis.AppendBookRows(m.Venue, sym, ev, emit) }
			finish = pw.Close
		} else {
			tw := tardis.NewWriter(w, m.Venue, sym)
			write, finish = tw.WriteEvent, tw.Flush
		}
		for n := 0; ; n++ {
			ev, err := evs.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if n%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := write(ev); err != nil {
				return fmt.Errorf("%s: event seq %d: %w", dir, ev.Seq, err)
			}
		}
		return finish()
	})
}

func exportRecords(ctx context.Context, e *env, dir string, o *exportOpts) error {
	rs, err := stream.OpenRecords(nil, dir)
	if err != nil {
		return err
	}
	defer rs.Close()
	m := rs.Meta()
	dt, err := streamDataType(dir, m)
	if err != nil {
		return err
	}
	return writeOutput(e, o.out, func(w io.Writer) error {
		var (
			write  func(*record.Record) error
			finish func() error
		)
		if o.format == "parquet" {
			scales, err := metaScales(dir, m, dt.Record.ScaleNames())
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
		for n := 0; ; n++ {
			rec, err := rs.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if n%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := write(rec); err != nil {
				return fmt.Errorf("%s: record %d: %w", dir, n, err)
			}
		}
		return finish()
	})
}

// metaScales returns meta.json's scales of the named fields: the Parquet
// columns' scales, at which every value of the stream is exact.
func metaScales(dir string, m *archive.Meta, names []string) ([]uint8, error) {
	out := make([]uint8, len(names))
	for i, n := range names {
		s, ok := m.Scales[n]
		if !ok {
			return nil, fmt.Errorf("%s: meta.json has no scale for %q (a stream from an older Chronicle?): re-import it with --force to export Parquet", dir, n)
		}
		out[i] = s
	}
	return out, nil
}

// writeOutput runs fn against stdout, or against path written atomically
// (a .tmp renamed into place only when fn succeeds).
func writeOutput(e *env, path string, fn func(io.Writer) error) error {
	if path == "" || path == "-" {
		bw := bufio.NewWriterSize(e.stdout, 1<<20)
		if err := fn(bw); err != nil {
			bw.Flush()
			return err
		}
		return bw.Flush()
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = fn(bw)
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
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
