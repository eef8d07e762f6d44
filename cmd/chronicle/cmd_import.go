package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/tardis"
)

type importOpts struct {
	input                            []string
	typ, venue, symbol, date, stream string
	codec                            string
	venueID, marketID                int64
	segmentSize                      int64
	force, compress                  bool
	priceScale, sizeScale            int
	checkpointEvery                  int
	batchOpts
}

func (o *importOpts) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.input, "input", nil, "Tardis CSV `file`, directory or glob (.csv or .csv.gz, - for standard input); may be repeated, or given as arguments")
	fs.StringVar(&o.typ, "type", "", "Tardis data `type` (trades, incremental_book_L2, book_snapshot_25, ...; default: from the file name, else its columns)")
	fs.StringVar(&o.venue, "venue", "", "Tardis exchange name (default: from the file name or its exchange column)")
	fs.StringVar(&o.symbol, "symbol", "", "symbol (default: from the file name or its symbol column)")
	fs.StringVar(&o.date, "date", "", "partition date YYYY-MM-DD (default: from the file name, a date= path component, or the first timestamp)")
	fs.StringVar(&o.stream, "stream", "", "stream `name` under the partition (default: the data type's: book, trades, quotes, ...)")
	// Numeric options default to 0 and are passed only when given (see
	// runImport), so the help shows no misleading sentinel.
	fs.Int64Var(&o.venueID, "venue-id", 0, "u16 venue `id` written in every record (default: the built-in table, see docs/PATH-CONTRACT.md)")
	fs.Int64Var(&o.marketID, "market-id", 0, "u32 market `id` (default: the reference hash of the symbol, see docs/FORMAT.md)")
	fs.Int64Var(&o.segmentSize, "segment-size", ingest.DefaultSegmentSize, "roll to a new segment file past this many `bytes`")
	fs.BoolVar(&o.force, "force", false, "replace what the partition holds (another file, or a re-import of the same one)")
	fs.BoolVar(&o.compress, "compress", false, "store compressed segments, in the form --codec names")
	fs.StringVar(&o.codec, "codec", "columnar", "with --compress: `columnar` (.q.col, docs/FORMAT.md) or zstd (the reference's .q.zst with a block index)")
	fs.IntVar(&o.priceScale, "price-scale", 0, "incremental_book_L2: fix the price scale (`decimals`, 0..18); a price with more decimals is an error (default: automatic, never decreasing)")
	fs.IntVar(&o.sizeScale, "size-scale", 0, "incremental_book_L2: fix the size scale (`decimals`, 0..18), as --price-scale")
	fs.IntVar(&o.checkpointEvery, "checkpoint-every", book.DefaultEvery, "incremental_book_L2: write a book checkpoint every `N` events for fast seeking (0: none)")
	o.batchOpts.register(fs)
}

func init() { register(newImportCmd) }

func newImportCmd(a *app) *cobra.Command {
	var o importOpts
	c := newCommand(a, "import [flags] FILE|DIR|GLOB...",
		"import Tardis CSV files (any data type) into the archive", `
Import reads a Tardis CSV file (.csv or .csv.gz, any size: it streams with
bounded memory) and publishes it as one sealed, checksummed stream under
<archive-root>/v1/<venue>/<symbol>/<date>/<stream>/.

Data types, by Tardis's names; each is stored in the stream of its name,
but incremental_book_L2's stream is "book":

	incremental_book_L2   trades        quotes        book_ticker
	derivative_ticker     liquidations  options_chain
	book_snapshot_N       (any N: book_snapshot_5, book_snapshot_25, ...)

The data type comes from --type, else the Tardis file name
(<exchange>_<data_type>_<YYYY-MM-DD>_<symbol>.csv.gz), else the header's
columns (which cannot tell trades from liquidations, nor quotes from
book_ticker: then pass --type). A file of a type Chronicle does not know is
refused. Values are stored as exact fixed-point integers; an empty cell
stays absent (never 0); a value that cannot be stored exactly is an error
naming file:line and the field.

incremental_book_L2 rows that share a local_timestamp become one BookEvent
(a Snapshot or a Diff), and book checkpoints are written for fast seeking.
A grouped file (symbol OPTIONS, PERPETUALS, FUTURES or SPOT in its name, and
every options_chain file) keeps each row's own symbol.

The import is all or nothing: it is written to a staging directory and
published with one atomic rename, so readers never see part of it, a failed
or interrupted import leaves the archive as it was, and rerunning it
completes it. The input is read once: FILE - reads standard input, and then
needs --type, and --venue and --symbol unless the file's columns give them
(the date defaults to the first local_timestamp's).

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

	imported rows=N groups=N segments=N min_ts_ns=N max_ts_ns=N data_type=T

On a terminal it shows progress on stderr (bytes, rows/s, ETA).

Several inputs (arguments or repeated --input), a directory (walked
recursively for .csv and .csv.gz), a quoted glob (expanded by chronicle, **
for any number of directories), or any of --json, --shard, --fail-fast,
--rehash make a batch (docs/BATCH.md): --jobs files at once, one line per
finished file on stderr (a status line on a terminal), then a summary per
data type on stdout (JSON with --json) listing every failure as
file:line: field "value": reason. A failed file does not stop the others
(--fail-fast does). Each file's venue, data type, date and symbol come from
its Tardis name, else its exchange=/type=/date=/symbol= path, else its
header; --venue, --symbol, --date and --type only fill in what names lack,
and --stream needs files of one data type. A rerun skips, without reading
it, every file whose name, size and mtime its ledger entry records
(--rehash reads and compares hashes instead). Tardis's empty files (days
without data) are recorded as "no data", not errors.
`, `
  chronicle import testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz
  chronicle import tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv
  chronicle import tardis/testdata/deribit_options_chain_2024-01-01_OPTIONS.issue3.csv
  chronicle import --archive-root /data/archive --compress day.csv.gz
  chronicle import --type trades --venue binance --symbol BTCUSDT --date 2019-12-01 rows.csv
  zcat day.csv.gz | chronicle import --type liquidations --date 2024-05-01 -
  chronicle import ./datasets/
  chronicle import --jobs 4 --json '/lake/**/type=trades' > summary.json
`, `
  0 also when the file was already imported or was compressed; 1 means
  nothing was published (in a batch: some file failed).
`,
		func(args []string, fs *pflag.FlagSet) error { return runImport(a, &o, fs, args) })
	o.register(c.Flags())
	return c
}

func runImport(a *app, o *importOpts, fs *pflag.FlagSet, pos []string) error {
	ctx, e := a.ctx, a.e
	inputs := append(append([]string(nil), o.input...), pos...)
	if len(inputs) == 0 {
		return usagef("no input: pass files, directories or globs, or - for standard input")
	}
	// Only the options the user gave are passed: the zero values are the
	// defaults, and a re-import compares only what was asked for with the
	// options the stream was made with.
	set := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { set[f.Name] = true })
	opts := ingest.Options{
		Root: a.root(), Type: o.typ,
		Venue: o.venue, Symbol: o.symbol, Date: o.date, Stream: o.stream,
		Force: o.force, Compress: o.compress, Codec: o.codec,
	}
	if err := o.setNumeric(&opts, set); err != nil {
		return err
	}
	if isBatch(inputs, set) {
		return runBatch(ctx, a, o, opts, set, inputs)
	}
	opts.Input = inputs[0]
	if opts.Input == "-" {
		// A pipe is read once: no file name to tell the type, and the
		// header cannot be read ahead of the import.
		if o.typ == "" {
			return usagef("reading standard input: pass --type (the data type), and --venue, --symbol and --date unless the file's exchange, symbol and local_timestamp columns give them")
		}
		opts.Input = "/dev/stdin"
	}
	pr := newProgress(e, "importing")
	opts.Progress = pr.update
	var res *ingest.Result
	var err error
	already := false
	if a.s3 != nil {
		res, already, err = a.s3Import(ctx, opts, singleGuess(o, opts.Input))
	} else {
		res, err = ingest.Import(ctx, opts)
	}
	pr.done()
	if err != nil {
		return err
	}
	switch {
	case res.AlreadyImported || already:
		fmt.Fprintf(e.stderr, "%s: already imported into %s (blake3 %.16s…); nothing changed (use --force to re-import)\n", inputs[0], res.Dir, res.FileHash)
		return nil
	case res.Compressed:
		fmt.Fprintf(e.stdout, "compressed %s (it already held %s)\n", res.Dir, inputs[0])
		return nil
	}
	fmt.Fprintf(e.stdout, "imported rows=%d groups=%d segments=%d min_ts_ns=%d max_ts_ns=%d data_type=%s\n",
		res.Rows, res.Groups, res.Segments, res.MinTS, res.MaxTS, res.DataType)
	return nil
}

// setNumeric sets the numeric options the user gave.
func (o *importOpts) setNumeric(opts *ingest.Options, set map[string]bool) error {
	if set["venue-id"] {
		if o.venueID < 0 || o.venueID > 0xFFFF {
			return usagef("--venue-id %d: must be 0..65535", o.venueID)
		}
		id := uint16(o.venueID)
		opts.VenueID = &id
	}
	if set["market-id"] {
		if o.marketID < 0 || o.marketID > 0xFFFFFFFF {
			return usagef("--market-id %d: must be 0..4294967295", o.marketID)
		}
		id := uint32(o.marketID)
		opts.MarketID = &id
	}
	for _, sc := range []struct {
		name string
		v    int
		dst  *tardis.Scale
	}{{"price-scale", o.priceScale, &opts.PriceScale}, {"size-scale", o.sizeScale, &opts.SizeScale}} {
		if !set[sc.name] {
			continue
		}
		if sc.v < 0 || sc.v > 18 {
			return usagef("--%s %d: must be 0..18", sc.name, sc.v)
		}
		*sc.dst = tardis.FixedScale(sc.v)
	}
	if set["segment-size"] {
		opts.SegmentSize = o.segmentSize
	}
	if set["checkpoint-every"] {
		if o.checkpointEvery > 0 {
			opts.CheckpointEvery = o.checkpointEvery
		} else {
			opts.NoCheckpoints = true
		}
	}
	return nil
}
