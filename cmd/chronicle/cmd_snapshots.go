package main

import (
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/snapshots"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/timespec"
)

func init() { register(newSnapshotsCmd) }

func newSnapshotsCmd(a *app) *cobra.Command {
	var o snapshotsOpts
	c := newCommand(a, "snapshots STREAM --depth N [--interval DURATION] [--from TIME] [--to TIME] [--limit N] [--format csv|parquet] [-o FILE]",
		"export top-N book snapshots (Tardis book_snapshot_N) as CSV or Parquet", `
Snapshots replays a stream's order book and writes the top N levels of each
side in the layout of Tardis.dev's book_snapshot_N files:

	exchange,symbol,timestamp,local_timestamp,
	asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,asks[1].price,...

timestamp is exchange time and local_timestamp ingest time, both in µs since
the epoch. A level the book does not have is an empty field (CSV) or a null
(Parquet).

Without --interval there is a row after each message (the events sharing a
local_timestamp) that changed the top N: a price or an amount of the first N
levels of either side, as in Tardis's own files. With --interval there is a
row at every multiple of the interval since the epoch, showing the book after
the events before that instant (an event exactly at it counts for the next
row); both timestamps are the boundary. No row is written before the first
snapshot.

`+streamArgHelp+`
Over several days the output is one file: each day is replayed on its own
(a Tardis day starts with a snapshot), its rows bounded by the next day's
start, and a Parquet file's decimal scales are the largest of the days'.

--from and --to are on ingest time, or exchange time with --exchange-time.
Change rows are for messages in [from, to); interval rows for boundaries in
(from, to]. `+timeHelp+`
Checkpoints make a late --from fast. --limit N
writes at most N rows, over all the days, in either format.

CSV numbers are printed as Tardis prints them. Parquet (zstd) has exchange
and symbol as strings, timestamps as TIMESTAMP(MICROS, UTC) and prices and
amounts as exact DECIMAL(38, scale). Parquet needs -o FILE when standard
output is a terminal. With -o the file appears only when complete.
See docs/SNAPSHOTS.md for loading the output in pandas, polars and DuckDB.
`, `
  chronicle snapshots binance-futures/BTCUSDT/book --depth 5 --from 2024-05-01T12:00 --to 2024-05-01T12:05 > snap5.csv
  chronicle snapshots binance-futures/BTCUSDT/book --depth 25 --interval 1s --format parquet -o snap25_1s.parquet
  chronicle snapshots binance-futures/BTCUSDT/book --depth 5 --from 2024-05-01 --to 2024-05-04 -o may1-3.parquet
  chronicle snapshots archive/v1/binance-futures/BTCUSDT/2024-05-01/book --depth 10 --limit 100
`, "",
		func(args []string, _ *pflag.FlagSet) error { return runSnapshots(a, &o, args) })
	o.register(c.Flags())
	return c
}

type snapshotsOpts struct {
	depth        int
	interval     time.Duration
	format, out  string
	exchangeTime bool
	rangeOpts
}

func (o *snapshotsOpts) register(fs *pflag.FlagSet) {
	fs.IntVar(&o.depth, "depth", 0, "levels per side in each row (`N`, required)")
	fs.DurationVar(&o.interval, "interval", 0, "a row at every multiple of `DURATION` (e.g. 1s, 100ms) instead of at every top-N change")
	fs.StringVar(&o.format, "format", "", "output `format`: csv or parquet (default csv, or parquet when -o ends in .parquet)")
	fs.StringVarP(&o.out, "output", "o", "", "write to `FILE` (default: standard output)")
	fs.BoolVar(&o.exchangeTime, "exchange-time", false, "--from, --to and interval boundaries on exchange time instead of ingest time")
	o.rangeOpts.register(fs, "rows")
}

func runSnapshots(a *app, o *snapshotsOpts, args []string) error {
	if err := one("snapshots", args); err != nil {
		return err
	}
	so := snapshots.Options{Depth: o.depth, Interval: o.interval, ExchangeTime: o.exchangeTime}
	if o.depth < 1 || o.depth > snapshots.MaxDepth {
		return usagef("--depth must be 1..%d (got %d)", snapshots.MaxDepth, o.depth)
	}
	if o.interval < 0 || o.interval%time.Microsecond != 0 {
		return usagef("--interval must be a positive whole number of microseconds (got %v)", o.interval)
	}
	r, err := o.parse()
	if err != nil {
		return err
	}
	if (r.HasFrom && r.From < 0) || (r.HasTo && r.To <= 0) {
		return usagef("--from and --to must be after 1970-01-01")
	}
	if r.HasFrom && r.HasTo && r.To == r.From {
		return usagef("--to must be after --from")
	}
	so.From, so.To = uint64(max(r.From, 0)), uint64(max(r.To, 0))
	switch {
	case o.format == "" && strings.HasSuffix(strings.ToLower(o.out), ".parquet"):
		so.Format = snapshots.Parquet
	case o.format == "" || o.format == "csv":
		so.Format = snapshots.CSV
	case o.format == "parquet":
		so.Format = snapshots.Parquet
	default:
		return usagef("unknown --format %q (want csv or parquet)", o.format)
	}
	if so.Format == snapshots.Parquet {
		if err := refuseBinaryToTerminal(a.e, o.out); err != nil {
			return err
		}
	}
	// Exchange time can run ahead of the local dates: take every day.
	rr := r
	if o.exchangeTime {
		rr = timespec.Range{}
	}
	dirs, err := a.resolve(args[0], rr)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := needBookStream(d); err != nil {
			return err
		}
	}
	if w := rangeWarnings([]stream.Input{{Address: stream.Address{Type: args[0]}, Dirs: dirs}}, r); len(w) > 0 && !o.exchangeTime {
		a.warn(w[0])
	}
	so.Limit = o.limit
	return writeOutput(a.e, o.out, func(w io.Writer) error {
		_, err := snapshots.WriteDays(a.ctx, dirs, so, w)
		return err
	})
}
