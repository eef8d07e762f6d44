package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/quotes"
	"github.com/chronicle-archive/chronicle/record"
)

func init() { register(newQuotesCmd) }

func newQuotesCmd(a *app) *cobra.Command {
	var o quotesOpts
	c := newCommand(a, "quotes STREAM [--format csv|parquet] [-o FILE] [--from TIME] [--to TIME] [--limit N]",
		"quotes (top of book at every change) from a book stream, as CSV or Parquet", `
Quotes replays a book stream and writes the best bid and ask after every
message (the events sharing a local_timestamp) that changed either, in
Tardis's quotes layout:

	exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount

timestamp is the largest exchange timestamp of the message, local_timestamp
its local timestamp, both in µs; an empty side is empty cells (CSV) or
nulls (Parquet), never 0. No quote is written before the first snapshot.
--format parquet (or -o FILE.parquet) writes the columns of an imported
quotes stream's Parquet export (docs/PARQUET.md). docs/DERIVED.md has the
exact rules.

`+streamArgHelp+`

--from and --to bound the quotes, [from, to), on local_timestamp: the book
at --from is rebuilt from the nearest checkpoint, so a late --from is fast,
and the quotes of a range are those of the whole stream in it (a range that
starts at a day's first message quotes it even when its top equals the day
before's last quote: the day before is not read).
--limit N writes at most N quotes.
`+timeHelp+`
`, `
  chronicle quotes binance-futures/BTCUSDT/book --from 2024-05-01T12:00 --to 2024-05-01T13:00 > quotes.csv
  chronicle quotes binance-futures/BTCUSDT/book -o quotes.parquet
`, "",
		func(args []string, _ *pflag.FlagSet) error { return runQuotes(a, &o, args) })
	o.register(c.Flags())
	return c
}

type quotesOpts struct {
	format, out string
	rangeOpts
}

func (o *quotesOpts) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.format, "format", "", "output `format`: csv or parquet (default csv, or parquet when -o ends in .parquet)")
	fs.StringVarP(&o.out, "output", "o", "", "write to `FILE` (default: standard output)")
	o.rangeOpts.register(fs, "quotes")
}

func runQuotes(a *app, o *quotesOpts, args []string) error {
	if err := one("quotes", args); err != nil {
		return err
	}
	parquet, err := csvOrParquet(a.e, o.format, o.out)
	if err != nil {
		return err
	}
	r, err := o.parse()
	if err != nil {
		return err
	}
	dirs, err := a.resolve(args[0], r)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := needBookStream(d); err != nil {
			return err
		}
	}
	s, err := quotes.Open(nil, dirs, r)
	if err != nil {
		return err
	}
	defer s.Close()
	a.warn(s.Warning())
	return writeOutput(a.e, o.out, func(w io.Writer) error {
		var write func(*record.Record) error
		var finish func() error
		if parquet {
			ps, ss := s.Scales()
			pw, err := quotes.NewParquetWriter(w, s.Exchange(), ps, ss)
			if err != nil {
				return err
			}
			write, finish = pw.Write, pw.Close
		} else {
			cw := quotes.NewCSVWriter(w, s.Exchange())
			write, finish = cw.Write, cw.Flush
		}
		for n := int64(0); o.limit == 0 || n < o.limit; n++ {
			q, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if n%4096 == 0 && a.ctx.Err() != nil {
				return a.ctx.Err()
			}
			if err := write(q); err != nil {
				return err
			}
		}
		return finish()
	})
}
