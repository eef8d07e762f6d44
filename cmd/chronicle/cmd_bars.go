package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/bars"
	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/stream"
)

func init() { register(newBarsCmd) }

func newBarsCmd(a *app) *cobra.Command {
	var o barsOpts
	c := newCommand(a, "bars STREAM (--interval DURATION | --count N | --volume DECIMAL) [--format csv|parquet] [-o FILE] [--from TIME] [--to TIME] [--limit N]",
		"trade bars (OHLC, volume, VWAP) from a trades stream, as CSV or Parquet", `
Bars turns a trades stream into trade bars, like tardis-machine's
trade_bar_* computables (docs/DERIVED.md): open, high, low, close, volume,
buy and sell volume, VWAP, trade count, and the exchange timestamps of the
first and last trade. Exactly one of:

	--interval DURATION   one bar per interval of local_timestamp, aligned to
	                      the epoch (1m: [12:00, 12:01)); no bar without trades
	--count N             a bar every N trades
	--volume DECIMAL      a bar closes at the trade that brings its volume to
	                      DECIMAL or more (trades are not split)

Every value is exact except VWAP, rounded half to even at the price's
decimals + 8. CSV (the default) has timestamps in µs and numbers as Tardis
prints them; --format parquet (or -o FILE.parquet) has TIMESTAMP(MICROS,
UTC) and DECIMAL columns at the stream's largest scales.

`+streamArgHelp+`

--from and --to bound the trades read, [from, to), on local_timestamp;
--limit N writes at most N bars.
`+timeHelp+`
`, `
  chronicle bars binance-futures/BTCUSDT/trades --interval 1m --from 2024-05-01 --to 2024-05-02 > bars_1m.csv
  chronicle bars binance-futures/BTCUSDT/trades --count 1000 --format parquet -o bars_1000t.parquet
  chronicle bars binance-futures/BTCUSDT/trades --volume 50.5
`, "",
		func(args []string, fs *pflag.FlagSet) error { return runBars(a, &o, fs, args) })
	o.register(c.Flags())
	return c
}

type barsOpts struct {
	interval    time.Duration
	count       int64
	volume      string
	format, out string
	rangeOpts
}

func (o *barsOpts) register(fs *pflag.FlagSet) {
	fs.DurationVar(&o.interval, "interval", 0, "a bar per `DURATION` of local time (1s, 1m, 1h; whole µs)")
	fs.Int64Var(&o.count, "count", 0, "a bar every `N` trades")
	fs.StringVar(&o.volume, "volume", "", "a bar per `DECIMAL` of volume (10, 0.5)")
	fs.StringVar(&o.format, "format", "", "output `format`: csv or parquet (default csv, or parquet when -o ends in .parquet)")
	fs.StringVarP(&o.out, "output", "o", "", "write to `FILE` (default: standard output)")
	o.rangeOpts.register(fs, "bars")
}

func runBars(a *app, o *barsOpts, fs *pflag.FlagSet, args []string) error {
	if err := one("bars", args); err != nil {
		return err
	}
	kinds := 0
	for _, f := range []string{"interval", "count", "volume"} {
		if fs.Changed(f) {
			kinds++
		}
	}
	if kinds != 1 {
		return usagef("give exactly one of --interval, --count and --volume")
	}
	var agg *bars.Aggregator
	var err error
	switch {
	case fs.Changed("interval"):
		if o.interval <= 0 || o.interval%time.Microsecond != 0 {
			return usagef("--interval must be a positive whole number of microseconds (got %v)", o.interval)
		}
		agg, err = bars.NewByTime(uint64(o.interval))
	case fs.Changed("count"):
		if o.count <= 0 {
			return usagef("--count %d: must be at least 1", o.count)
		}
		agg, err = bars.NewByCount(uint64(o.count))
	default:
		m, sc, perr := decimal.ParseString(o.volume)
		if perr != nil || m == 0 {
			return usagef("--volume %q: want a positive decimal (10, 0.5)", o.volume)
		}
		agg, err = bars.NewByVolume(m, sc)
	}
	if err != nil {
		return usagef("%v", err)
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
	metas, err := readMetas(dirs)
	if err != nil {
		return err
	}
	if name := dataTypeName(metas[0]); name != "trades" {
		return fmt.Errorf("%s holds %s, not trades: bars needs a trades stream", dirs[0], name)
	}
	rs, err := stream.OpenRecordsRange(nil, dirs, r)
	if err != nil {
		return err
	}
	defer rs.Close()
	a.warn(rs.Warning())
	idx := map[string]int{}
	for i, f := range rs.Type().Fields {
		idx[f.Name] = i
	}
	pi, ok1 := idx["price"]
	ai, ok2 := idx["amount"]
	si, ok3 := idx["side"]
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("%s: %s records have no price, amount and side", dirs[0], rs.Type().Name)
	}
	return writeOutput(a.e, o.out, func(w io.Writer) error {
		var write func(*bars.Bar) error
		var finish func() error
		if parquet {
			scales, err := metaScales(dirs, metas, []string{"price", "amount"})
			if err != nil {
				return err
			}
			pw, err := bars.NewParquetWriter(w, scales[0], scales[1])
			if err != nil {
				return err
			}
			write, finish = pw.Write, pw.Close
		} else {
			cw := bars.NewCSVWriter(w)
			write, finish = cw.Write, cw.Flush
		}
		var written int64
		emit := func(b *bars.Bar) error {
			written++
			return write(b)
		}
		var t bars.Trade
		for n := int64(0); o.limit == 0 || written < o.limit; n++ {
			rec, err := rs.Next()
			if errors.Is(err, io.EOF) {
				if b, ok := agg.Flush(); ok {
					if err := emit(b); err != nil {
						return err
					}
				}
				break
			}
			if err != nil {
				return err
			}
			if n%4096 == 0 && a.ctx.Err() != nil {
				return a.ctx.Err()
			}
			if err := tradeOf(rec, pi, ai, si, &t); err != nil {
				return fmt.Errorf("%s: trade %d (local_timestamp %d): %w", args0(dirs), n, rec.LocalTS/1000, err)
			}
			b, err := agg.Add(&t)
			if err != nil {
				return fmt.Errorf("%s: trade %d (local_timestamp %d): %w", args0(dirs), n, rec.LocalTS/1000, err)
			}
			if b != nil {
				if err := emit(b); err != nil {
					return err
				}
			}
		}
		if written == 0 && !parquet {
			// No trades: the header alone says which columns there would be.
			if _, err := io.WriteString(w, strings.Join(bars.Columns, ",")+"\n"); err != nil {
				return err
			}
		}
		return finish()
	})
}

// tradeOf fills t from a trades record: price and amount must be present
// and not negative.
func tradeOf(rec *record.Record, pi, ai, si int, t *bars.Trade) error {
	if !rec.Present[pi] || !rec.Present[ai] {
		return errors.New("price or amount absent")
	}
	p, am := rec.Fields[pi], rec.Fields[ai]
	if p.I < 0 || am.I < 0 {
		return errors.New("negative price or amount")
	}
	*t = bars.Trade{
		LocalTS: rec.LocalTS, ExchangeTS: rec.ExchangeTS,
		Price: uint64(p.I), PriceScale: p.Scale,
		Amount: uint64(am.I), AmountScale: am.Scale,
		Side: uint8(rec.Fields[si].U),
	}
	if !rec.Present[si] {
		t.Side = record.SideUnknown
	}
	return nil
}
