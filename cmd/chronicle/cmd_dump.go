package main

import (
	"bufio"
	"errors"
	"io"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/stream"
)

func init() { register(newDumpCmd) }

func newDumpCmd(a *app) *cobra.Command {
	var o rangeOpts
	c := newCommand(a, "dump STREAM [--from TIME] [--to TIME] [--limit N]",
		"print a stream's events or records as JSON lines", `
Dump prints every BookEvent of a book stream as one JSON object per line,
with prices and amounts as exact decimal strings:

	{"seq":0,"type":"snapshot","ingest_ts_ns":...,"exchange_ts_ns":...,
	 "venue_id":1,"market_id":3467451262,"price_scale":2,"size_scale":6,
	 "bids":[["7541.38","0.085806"],...],"asks":[...]}

and every record of a stream of another data type as one JSON object per
line: local_ts and exchange_ts in ns (exchange_ts null when the timestamp
cell was empty), then the fields by their Tardis names, decimals as exact
strings, absent values as null:

	{"local_ts":1575158403820370000,"exchange_ts":1575158403572000000,
	 "symbol":"BTCUSDT","id":"211646077","side":"sell","price":"7540.78","amount":"0.039741"}

`+streamArgHelp+`

--from and --to bound the local timestamps, [from, to); `+timeHelp+`
A range that holds no data prints nothing and a warning on stderr.
`, `
  chronicle dump binance-futures/BTCUSDT/trades --from 2024-05-01T12:00 --to 2024-05-01T12:01
  chronicle dump binance/BTCUSDT/book --limit 3
  chronicle dump archive/v1/binance/BTCUSDT/2019-12-01/trades | jq -r .price
`, "",
		func(args []string, _ *pflag.FlagSet) error { return runDump(a, &o, args) })
	o.register(c.Flags(), "events or records")
	return c
}

func runDump(a *app, o *rangeOpts, args []string) error {
	if err := one("dump", args); err != nil {
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
	isBook, err := isBookStream(dirs[0])
	if err != nil {
		return err
	}
	// next appends the next line to b; io.EOF at the end.
	var next func(b []byte) ([]byte, error)
	if isBook {
		evs, err := stream.OpenEventsRange(nil, dirs, r)
		if err != nil {
			return err
		}
		defer evs.Close()
		a.warn(evs.Warning())
		next = func(b []byte) ([]byte, error) {
			ev, err := evs.Next()
			if err != nil {
				return b, err
			}
			return appendEventJSON(b, ev), nil
		}
	} else {
		rs, err := stream.OpenRecordsRange(nil, dirs, r)
		if err != nil {
			return err
		}
		defer rs.Close()
		a.warn(rs.Warning())
		next = func(b []byte) ([]byte, error) {
			rec, err := rs.Next()
			if err != nil {
				return b, err
			}
			return append(record.AppendJSON(b, rec), '\n'), nil
		}
	}
	w := bufio.NewWriterSize(a.e.stdout, 1<<16)
	var b []byte
	for n := int64(0); o.limit == 0 || n < o.limit; n++ {
		b, err = next(b[:0])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			w.Flush()
			return err
		}
		if n%1024 == 0 && a.ctx.Err() != nil {
			return a.ctx.Err()
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return w.Flush()
}

func appendEventJSON(b []byte, ev *protocol.Event) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"type":"`...)
	b = append(b, ev.Type.String()...)
	b = append(b, `","ingest_ts_ns":`...)
	b = strconv.AppendUint(b, ev.IngestTS, 10)
	b = append(b, `,"exchange_ts_ns":`...)
	b = strconv.AppendUint(b, ev.ExchangeTS, 10)
	b = append(b, `,"venue_id":`...)
	b = strconv.AppendUint(b, uint64(ev.VenueID), 10)
	b = append(b, `,"market_id":`...)
	b = strconv.AppendUint(b, uint64(ev.MarketID), 10)
	b = append(b, `,"price_scale":`...)
	b = strconv.AppendUint(b, uint64(ev.PriceScale), 10)
	b = append(b, `,"size_scale":`...)
	b = strconv.AppendUint(b, uint64(ev.SizeScale), 10)
	b = append(b, `,"bids":`...)
	b = appendLevelsJSON(b, ev.Bids, ev.PriceScale, ev.SizeScale)
	b = append(b, `,"asks":`...)
	b = appendLevelsJSON(b, ev.Asks, ev.PriceScale, ev.SizeScale)
	return append(b, "}\n"...)
}

func appendLevelsJSON(b []byte, levels []protocol.Level, ps, ss uint8) []byte {
	b = append(b, '[')
	for i, l := range levels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `["`...)
		b = decimal.Append(b, l.Price, ps)
		b = append(b, `","`...)
		b = decimal.Append(b, l.Size, ss)
		b = append(b, `"]`...)
	}
	return append(b, ']')
}
