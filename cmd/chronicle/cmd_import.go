package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/chronicle-archive/chronicle/archive"
)

type importOpts struct {
	input, root, venue, symbol, date, stream string
	venueID, marketID                        int64
	segmentSize                              int64
	force, compress                          bool
	priceScale, sizeScale                    int
	checkpointEvery                          int
}

func (o *importOpts) register(fs *flag.FlagSet) {
	fs.StringVar(&o.input, "input", "", "Tardis incremental_book_L2 `file` (.csv or .csv.gz); may also be given as an argument")
	fs.StringVar(&o.root, "archive-root", "", "archive root `dir` (default $CHRONICLE_ARCHIVE, else ./archive)")
	fs.StringVar(&o.venue, "venue", "", "Tardis exchange name (default: from the file name or its exchange column)")
	fs.StringVar(&o.symbol, "symbol", "", "symbol (default: from the file name or its symbol column)")
	fs.StringVar(&o.date, "date", "", "partition date YYYY-MM-DD (default: from the file name, a date= path component, or the first timestamp)")
	fs.StringVar(&o.stream, "stream", "book", "stream `name` under the partition")
	fs.Int64Var(&o.venueID, "venue-id", -1, "u16 venue id written in every event (default: the built-in table, see docs/PATH-CONTRACT.md)")
	fs.Int64Var(&o.marketID, "market-id", -1, "u32 market id (default: the reference hash of the symbol, see docs/FORMAT.md)")
	fs.Int64Var(&o.segmentSize, "segment-size", archive.DefaultSegmentSize, "roll to a new segment file past this many `bytes`")
	fs.BoolVar(&o.force, "force", false, "replace what the partition holds (another file, or a re-import of the same one)")
	fs.BoolVar(&o.compress, "compress", false, "store segments as .q.zst with a block index (zstd, 1 MiB blocks)")
	fs.IntVar(&o.priceScale, "price-scale", -1, "fix the price scale (decimals, 0..18); a price with more decimals is an error (default: automatic, never decreasing)")
	fs.IntVar(&o.sizeScale, "size-scale", -1, "fix the size scale (decimals, 0..18), as --price-scale")
	fs.IntVar(&o.checkpointEvery, "checkpoint-every", archive.DefaultCheckpointEvery, "write a book checkpoint every `N` events for fast seeking (0: none)")
}

func init() {
	register(&command{
		name:    "import",
		summary: "import a Tardis incremental_book_L2 CSV into the archive",
		usage:   "[flags] FILE",
		help: `
Import reads a Tardis incremental_book_L2 file (.csv or .csv.gz, any size:
it streams with bounded memory) and publishes it as one sealed, checksummed
stream under <archive-root>/v1/<venue>/<symbol>/<date>/<stream>/.

Rows that share a local_timestamp become one BookEvent (a Snapshot or a
Diff); prices and amounts are stored as exact fixed-point integers.

The import is all or nothing: it is written to a staging directory and
published with one atomic rename, so readers never see part of it, a failed
or interrupted import leaves the archive as it was, and rerunning it
completes it. The input is read once (a pipe or /dev/stdin works, with
--venue/--symbol/--date or the file's columns naming the partition).

A symbol with characters Tardis replaces in file names (BTC/USD) is stored
under its file-name spelling (BTC-USD); --symbol takes either. --date must
be the UTC date of the first local_timestamp.

Importing the same file again changes nothing and says "already imported"
on stderr, exit 0; with --venue-id, --market-id, --price-scale,
--size-scale, --segment-size or --checkpoint-every other than the stream was
imported with it is an error (use --force to re-import), and with
--compress a plain stream is compressed. Importing a different file into a
partition that holds data is refused without --force, which replaces it.

When it imports, it prints one line:

	imported rows=N groups=N segments=N min_ts_ns=N max_ts_ns=N

On a terminal it shows progress on stderr (bytes, rows/s, ETA).

Examples:

	chronicle import testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz
	chronicle import --archive-root /data/archive --compress day.csv.gz
	chronicle import --venue binance --symbol BTCUSDT --date 2019-12-01 rows.csv

Exit status: 0 imported, already imported or compressed, 1 bad input or I/O error
(nothing published), 2 bad usage.
`,
		run: runImport,
	})
	flagDefs["import"] = func(fs *flag.FlagSet) { new(importOpts).register(fs) }
}

func runImport(ctx context.Context, e *env, args []string) error {
	var o importOpts
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	o.register(fs)
	pos, err := parseArgs(commands["import"], e, fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && o.input == "":
		o.input = pos[0]
	case len(pos) > 1 || (len(pos) == 1 && o.input != ""):
		return usagef("import takes one input file")
	case o.input == "":
		return usagef("no input file: pass --input FILE")
	}
	if o.priceScale > 18 || o.sizeScale > 18 || o.priceScale < -1 || o.sizeScale < -1 {
		return usagef("--price-scale and --size-scale take 0..18")
	}
	if o.venueID < -1 || o.venueID > 0xFFFF {
		return usagef("--venue-id %d: must be 0..65535", o.venueID)
	}
	if o.marketID < -1 || o.marketID > 0xFFFFFFFF {
		return usagef("--market-id %d: must be 0..4294967295", o.marketID)
	}
	// Options left at their defaults are passed as "default", so that a
	// re-import of the same file tells what was asked for from what was not.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	segSize, every := int64(0), 0
	if set["segment-size"] {
		segSize = o.segmentSize
	}
	if set["checkpoint-every"] {
		every = o.checkpointEvery
		if every <= 0 {
			every = -1
		}
	}
	pr := newProgress(e, "importing")
	res, err := archive.Import(ctx, archive.ImportOptions{
		Root: archiveRoot(e, o.root), Input: o.input,
		Venue: o.venue, Symbol: o.symbol, Date: o.date, Stream: o.stream,
		VenueID: int(o.venueID), MarketID: o.marketID, SegmentSize: segSize,
		Force: o.force, Compress: o.compress, PriceScale: o.priceScale, SizeScale: o.sizeScale,
		CheckpointEvery: every, Progress: pr.update,
	})
	pr.done()
	if err != nil {
		return err
	}
	switch {
	case res.AlreadyImported:
		fmt.Fprintf(e.stderr, "%s: already imported into %s (blake3 %.16s…); nothing changed (use --force to re-import)\n", o.input, res.Dir, res.FileHash)
		return nil
	case res.Compressed:
		fmt.Fprintf(e.stdout, "compressed %s (it already held %s)\n", res.Dir, o.input)
		return nil
	}
	fmt.Fprintf(e.stdout, "imported rows=%d groups=%d segments=%d min_ts_ns=%d max_ts_ns=%d\n",
		res.Rows, res.Groups, res.Segments, res.MinTS, res.MaxTS)
	return nil
}
