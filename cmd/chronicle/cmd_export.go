package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"os"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/tardis"
)

func init() {
	register(&command{
		name:    "export",
		summary: "export a stream as Tardis incremental_book_L2 CSV",
		usage:   "STREAM_DIR [--format tardis-csv] [-o FILE]",
		help: `
Export writes a stream back out as a Tardis incremental_book_L2 CSV: the
same columns (exchange,symbol,timestamp,local_timestamp,is_snapshot,side,
price,amount) and numbers printed as Tardis prints them (shortest form,
exponent notation below 1e-6). Within one event, bids come before asks.

Examples:

	chronicle export archive/v1/binance/BTCUSDT/2019-12-01/book > book.csv
	chronicle export archive/v1/binance/BTCUSDT/2019-12-01/book -o book.csv

For book snapshots (top N per side) see 'chronicle snapshots'.
`,
		run: runExport,
	})
	flagDefs["export"] = func(fs *flag.FlagSet) { new(exportOpts).register(fs) }
}

type exportOpts struct{ format, out string }

func (o *exportOpts) register(fs *flag.FlagSet) {
	fs.StringVar(&o.format, "format", "tardis-csv", "output `format`: tardis-csv")
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
	if o.format != "tardis-csv" {
		return usagef("unknown --format %q (want tardis-csv)", o.format)
	}
	dir := pos[0]
	evs, err := archive.OpenEvents(nil, dir)
	if err != nil {
		return err
	}
	defer evs.Close()
	m := evs.Meta() // of the version read, should the stream be replaced meanwhile
	return writeOutput(e, o.out, func(w io.Writer) error {
		tw := tardis.NewWriter(w, m.Venue, m.SymbolCode)
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
			if err := tw.WriteEvent(ev); err != nil {
				return err
			}
		}
		return tw.Flush()
	})
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
