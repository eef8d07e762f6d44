package snapshots

import (
	"context"
	"fmt"
	"io"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/decimal"
)

// WriteDays writes the snapshot rows of several days of one stream to w as
// one output in o.Format and returns how many rows it wrote: one CSV
// header, or one Parquet file. dirs are the days' stream directories in
// time order, as stream.Resolve returns them.
//
// Each day is replayed on its own from its start (a Tardis day starts with
// a snapshot), so its rows are the rows Write gives for that day alone,
// bounded by [o.From, o.To) and, on ingest time, by the next day's first
// event (meta.json event_time_range): a row never comes before the
// previous day's last one. With o.ExchangeTime only o.From and o.To bound
// them, since exchange time can run past the ingest days. o.Limit counts
// the rows of all the days.
//
// A Parquet file has one price and one amount scale: the largest of the
// written days' meta.json scales, so that every value is stored exactly at
// it; a value with more decimals than that is an error, never a rounding.
// With one directory WriteDays is Write.
func WriteDays(ctx context.Context, dirs []string, o Options, w io.Writer) (rows int64, err error) {
	if len(dirs) == 1 {
		return Write(ctx, dirs[0], o, w)
	}
	if o.Format == "" {
		o.Format = CSV
	}
	days, err := planDays(o, dirs)
	if err != nil {
		return 0, err
	}
	if len(days) == 0 {
		return 0, fmt.Errorf("snapshots: no day given")
	}
	var ps, ss uint8
	for _, d := range days {
		if !d.skip {
			ps, ss = max(ps, d.ps), max(ss, d.ss)
		}
	}
	if ps > decimal.MaxScale || ss > decimal.MaxScale {
		// DECIMAL(38) holds any u64 at up to 18 decimals, not more.
		return 0, fmt.Errorf("snapshots: scales %d (price) and %d (amount) of %v: a Parquet column holds at most %d decimals", ps, ss, dirs, decimal.MaxScale)
	}
	first := days[0].meta
	var out sink
	switch o.Format {
	case CSV:
		out = newCSVWriter(w, first.Venue, first.SymbolCode, o.Depth)
	case Parquet:
		p := newParquetWriter(w, first.Venue, first.SymbolCode, o.Depth, ps, ss)
		p.whyScale = "a day's meta.json scales are below its data?"
		out = p
	default:
		return 0, fmt.Errorf("snapshots: unknown format %q (want csv or parquet)", o.Format)
	}
	defer out.abort() // after close: nothing left to stop
	for _, d := range days {
		if d.skip || (o.Limit > 0 && rows >= o.Limit) {
			continue
		}
		if err := writeDay(ctx, d, out, o.Limit, &rows); err != nil {
			return rows, err
		}
	}
	return rows, out.close()
}

// day is one directory of WriteDays and its own options.
type day struct {
	dir    string
	meta   *archive.Meta
	o      Options
	ps, ss uint8 // its largest scales (Parquet)
	skip   bool  // its range is empty
}

// planDays reads the days' meta.json and bounds each day's range.
func planDays(o Options, dirs []string) ([]day, error) {
	days := make([]day, len(dirs))
	for i, dir := range dirs {
		m, err := archive.ReadMeta(o.FS, dir)
		if err != nil {
			return nil, err
		}
		days[i] = day{dir: dir, meta: m, o: o}
		if m.Venue != days[0].meta.Venue || m.SymbolCode != days[0].meta.SymbolCode {
			return nil, fmt.Errorf("snapshots: %s is %s/%s and %s is %s/%s: one output is of one stream",
				dirs[0], days[0].meta.Venue, days[0].meta.SymbolCode, dir, m.Venue, m.SymbolCode)
		}
	}
	for i := range days {
		d := &days[i]
		if !o.ExchangeTime {
			// This day's rows end where the next day's data starts.
			if i+1 < len(days) {
				if tr := days[i+1].meta.EventTimeRange; tr != nil && (d.o.To == 0 || tr[0] < d.o.To) {
					d.o.To = tr[0]
				}
			}
			if tr := d.meta.EventTimeRange; i > 0 && tr != nil && tr[0] > d.o.From {
				d.o.From = tr[0]
			}
		}
		d.skip = d.o.To != 0 && d.o.To <= d.o.From
		if d.skip || o.Format != Parquet {
			continue
		}
		ps, okP := d.meta.Scales["price"]
		ss, okS := d.meta.Scales["amount"]
		if !okP || !okS {
			// A stream from before meta.json had scales: from its data.
			var err error
			if ps, ss, err = parquetScales(o.FS, d.dir); err != nil {
				return nil, err
			}
		}
		d.ps, d.ss = ps, ss
	}
	return days, nil
}

// writeDay writes one day's rows to out.
func writeDay(ctx context.Context, d day, out sink, limit int64, rows *int64) error {
	s, err := Open(ctx, d.dir, d.o)
	if err != nil {
		return err
	}
	defer s.Close()
	return copyRows(ctx, s, out, limit, rows, d.dir)
}
