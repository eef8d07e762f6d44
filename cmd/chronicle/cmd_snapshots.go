package main

import (
	"context"
	"flag"
	"io"
	"strings"
	"time"

	"github.com/chronicle-archive/chronicle/snapshots"
)

func init() {
	register(&command{
		name:    "snapshots",
		summary: "export top-N book snapshots (Tardis book_snapshot_N) as CSV or Parquet",
		usage:   "STREAM_DIR --depth N [--interval DURATION] [--from TIME] [--to TIME] [--format csv|parquet] [-o FILE] [--exchange-time]",
		help: `
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

--from and --to take RFC 3339 (2024-05-01T00:00:01.5Z) or integer ns since
the epoch, on ingest time, or exchange time with --exchange-time. Change rows
are for messages in [from, to); interval rows for boundaries in (from, to].
Checkpoints make a late --from fast.

CSV numbers are printed as Tardis prints them. Parquet (zstd) has exchange
and symbol as strings, timestamps as TIMESTAMP(MICROS, UTC) and prices and
amounts as exact DECIMAL(38, scale). Parquet needs -o FILE when standard
output is a terminal. With -o the file appears only when complete.
See docs/SNAPSHOTS.md for loading the output in pandas, polars and DuckDB.

Examples:

	chronicle snapshots archive/v1/binance-futures/BTCUSDT/2024-05-01/book --depth 5 > snap5.csv
	chronicle snapshots $S --depth 25 --interval 1s --format parquet -o snap25_1s.parquet
	chronicle snapshots $S --depth 10 --from 2024-05-01T12:00:00Z --to 2024-05-01T12:05:00Z

Exit status: 0 written, 1 error, 2 bad usage, 3 damage: a damaged record,
segment or checkpoint files that are not the ones meta.json lists (run
'chronicle verify').
`,
		run: runSnapshots,
	})
	flagDefs["snapshots"] = func(fs *flag.FlagSet) { new(snapshotsOpts).register(fs) }
}

type snapshotsOpts struct {
	depth        int
	interval     time.Duration
	from, to     string
	format, out  string
	exchangeTime bool
}

func (o *snapshotsOpts) register(fs *flag.FlagSet) {
	fs.IntVar(&o.depth, "depth", 0, "levels per side in each row (`N`, required)")
	fs.DurationVar(&o.interval, "interval", 0, "a row at every multiple of `DURATION` (e.g. 1s, 100ms) instead of at every top-N change")
	fs.StringVar(&o.from, "from", "", "first `TIME` (RFC 3339 or ns since the epoch)")
	fs.StringVar(&o.to, "to", "", "end `TIME` (RFC 3339 or ns since the epoch)")
	fs.StringVar(&o.format, "format", "", "output `format`: csv or parquet (default csv, or parquet when -o ends in .parquet)")
	fs.StringVar(&o.out, "o", "", "write to `file` (default: standard output)")
	fs.BoolVar(&o.exchangeTime, "exchange-time", false, "--from, --to and interval boundaries on exchange time instead of ingest time")
}

func runSnapshots(ctx context.Context, e *env, args []string) error {
	var o snapshotsOpts
	fs := flag.NewFlagSet("snapshots", flag.ContinueOnError)
	o.register(fs)
	pos, err := parseArgs(commands["snapshots"], e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("snapshots needs one stream directory")
	}
	so := snapshots.Options{Depth: o.depth, Interval: o.interval, ExchangeTime: o.exchangeTime}
	if o.depth < 1 || o.depth > snapshots.MaxDepth {
		return usagef("--depth must be 1..%d (got %d)", snapshots.MaxDepth, o.depth)
	}
	if o.interval < 0 || o.interval%time.Microsecond != 0 {
		return usagef("--interval must be a positive whole number of microseconds (got %v)", o.interval)
	}
	if so.From, err = parseSnapshotTime("--from", o.from); err != nil {
		return err
	}
	if so.To, err = parseSnapshotTime("--to", o.to); err != nil {
		return err
	}
	if so.To > 0 && so.To <= so.From {
		return usagef("--to must be after --from")
	}
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
		if err := refuseBinaryToTerminal(e, o.out); err != nil {
			return err
		}
	}
	if err := needBookStream(pos[0]); err != nil {
		return err
	}
	return writeOutput(e, o.out, func(w io.Writer) error {
		_, err := snapshots.Write(ctx, pos[0], so, w)
		return err
	})
}

// parseSnapshotTime reads an optional --from/--to value with the same
// rules as book --at; empty means unbounded.
func parseSnapshotTime(flagName, s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := parseTimeFlag(s)
	if err != nil {
		return 0, usagef("%s %v", flagName, err)
	}
	return n, nil
}
