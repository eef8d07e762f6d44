package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/replay"
)

func init() {
	register(&command{
		name:    "book",
		summary: "print the order book of a stream at a moment",
		usage:   "STREAM_DIR [--at TIME] [--depth N] [--json] [--exchange-time]",
		help: `
Book prints the L2 order book of a stream as it stood at TIME: after every
event at or before TIME (local time, or exchange time with --exchange-time),
or at the end of the stream without --at. It starts from the stream's
nearest book checkpoint (see 'chronicle index'), so it answers in
milliseconds at any point of a day; the book is exactly the one a replay
from the start gives.

TIME is RFC 3339 (2024-05-01T00:00:01.5Z, 2024-05-01T02:00:00+02:00) or an
integer number of nanoseconds since the Unix epoch.

Exchange time can go backwards in real data. The book at TIME is the longest
run of events from the start whose timestamps are all at or before TIME: an
event later than TIME ends it, even when events after that one are earlier
again.

The output is a table, bids and asks side by side, best first, N levels
deep, under a header with the time of the book: the timestamp of the last
event applied. With --json it is one object, prices and amounts as exact
decimal strings, best first:

	{"time_ns":1714521601499812000,"bids":[["60012.5","1.234"],...],"asks":[...]}

(time_ns is 0 when no event is at or before TIME.)

Examples:

	chronicle book archive/v1/binance-futures/BTCUSDT/2024-05-01/book
	chronicle book --at 2024-05-01T00:00:01.5Z --depth 5 archive/v1/binance-futures/BTCUSDT/2024-05-01/book
	chronicle book --at 1714521601500000000 --json archive/v1/binance-futures/BTCUSDT/2024-05-01/book

Exit status: 0 printed, 1 error, 2 bad usage (such as a TIME that does not
parse), 3 damage: a damaged record, segment or checkpoint files that are
not the ones meta.json lists (run 'chronicle verify').
`,
		run: runBook,
	})
	flagDefs["book"] = func(fs *flag.FlagSet) { new(bookOpts).register(fs) }
}

type bookOpts struct {
	at           string
	depth        int
	json         bool
	exchangeTime bool
}

func (o *bookOpts) register(fs *flag.FlagSet) {
	fs.StringVar(&o.at, "at", "", "the moment: RFC 3339 `TIME` or integer ns since the epoch (default: the end of the stream)")
	fs.IntVar(&o.depth, "depth", 10, "levels per side, best first (0: all)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object with decimal strings")
	fs.BoolVar(&o.exchangeTime, "exchange-time", false, "TIME is exchange time (the timestamp column), not local time")
}

func runBook(ctx context.Context, e *env, args []string) error {
	var o bookOpts
	fs := flag.NewFlagSet("book", flag.ContinueOnError)
	o.register(fs)
	pos, err := parseArgs(commands["book"], e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("book needs one stream directory")
	}
	if o.depth < 0 {
		return usagef("--depth %d: must be 0 (all) or more", o.depth)
	}
	at := uint64(math.MaxUint64)
	if o.at != "" {
		if at, err = parseTimeFlag(o.at); err != nil {
			return usagef("--at: %v", err)
		}
	}
	if err := needBookStream(pos[0]); err != nil {
		return err
	}
	b, ts, err := replay.BookAt(pos[0], at, replay.Options{ExchangeTime: o.exchangeTime})
	if err != nil {
		return err
	}
	n := o.depth
	if n == 0 {
		n = max(b.Len(book.Bid), b.Len(book.Ask))
	}
	bids, asks := b.Top(book.Bid, n, nil), b.Top(book.Ask, n, nil)
	ps, ss := b.Scales()
	w := bufio.NewWriter(e.stdout)
	if o.json {
		writeBookJSON(w, ts, bids, asks, ps, ss)
	} else {
		timeline := "local time"
		if o.exchangeTime {
			timeline = "exchange time"
		}
		header := fmt.Sprintf("book at %s, %s", fmtBookTime(ts), timeline)
		if o.at != "" {
			header += fmt.Sprintf(" (as of %s)", fmtBookTime(at))
		}
		fmt.Fprintf(w, "%s; %d bid and %d ask levels\n", header, b.Len(book.Bid), b.Len(book.Ask))
		writeBookTable(w, bids, asks, ps, ss)
	}
	return w.Flush()
}

// parseTime reads an RFC 3339 time or an integer count of ns since the epoch.
func parseTimeFlag(s string) (uint64, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither RFC 3339 (2024-05-01T00:00:01.5Z) nor integer ns since the epoch", s)
	}
	// UnixNano is defined for 1678..2262; a book before 1970 is empty anyway
	// but an unsigned timestamp cannot say so.
	if t.Before(time.Unix(0, 0)) || t.After(time.Unix(0, math.MaxInt64)) {
		return 0, fmt.Errorf("%q is outside 1970..2262", s)
	}
	return uint64(t.UnixNano()), nil
}

func fmtBookTime(ns uint64) string {
	if ns == 0 {
		return "the start (no event yet)"
	}
	if ns > math.MaxInt64 {
		return "the end"
	}
	return time.Unix(0, int64(ns)).UTC().Format(time.RFC3339Nano)
}

func writeBookJSON(w io.Writer, ts uint64, bids, asks []protocol.Level, ps, ss uint8) {
	b := []byte(`{"time_ns":`)
	b = strconv.AppendUint(b, ts, 10)
	b = append(b, `,"bids":`...)
	b = appendLevelsJSON(b, bids, ps, ss)
	b = append(b, `,"asks":`...)
	b = appendLevelsJSON(b, asks, ps, ss)
	b = append(b, "}\n"...)
	w.Write(b)
}

// writeBookTable prints bids and asks side by side, numbers aligned on the
// decimal point (the strings themselves are exact, never rounded).
func writeBookTable(w io.Writer, bids, asks []protocol.Level, ps, ss uint8) {
	cols := [4]bookColumn{{head: "bid amount"}, {head: "bid price"}, {head: "ask price"}, {head: "ask amount"}}
	rows := max(len(bids), len(asks))
	cells := make([][4]string, rows)
	for i := range rows {
		if i < len(bids) {
			cells[i][0] = decimal.String(bids[i].Size, ss)
			cells[i][1] = decimal.String(bids[i].Price, ps)
		}
		if i < len(asks) {
			cells[i][2] = decimal.String(asks[i].Price, ps)
			cells[i][3] = decimal.String(asks[i].Size, ss)
		}
		for c := range cols {
			cols[c].measure(cells[i][c])
		}
	}
	line := func(v [4]string, fmtCell func(c int, s string) string) {
		var sb strings.Builder
		for c := range cols {
			if c == 2 {
				sb.WriteString("  |  ")
			} else if c > 0 {
				sb.WriteString("  ")
			}
			sb.WriteString(fmtCell(c, v[c]))
		}
		fmt.Fprintln(w, strings.TrimRight(sb.String(), " "))
	}
	line([4]string{cols[0].head, cols[1].head, cols[2].head, cols[3].head}, func(c int, s string) string {
		return fmt.Sprintf("%*s", cols[c].width(), s)
	})
	for _, r := range cells {
		line(r, func(c int, s string) string { return cols[c].format(s) })
	}
	if rows == 0 {
		fmt.Fprintln(w, "(empty book)")
	}
}

// bookColumn aligns decimal strings on their point.
type bookColumn struct {
	head      string
	int, frac int // widest integer part, widest "." + fraction
}

func splitPoint(s string) (intPart, frac string) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

func (c *bookColumn) measure(s string) {
	i, f := splitPoint(s)
	c.int, c.frac = max(c.int, len(i)), max(c.frac, len(f))
}

func (c *bookColumn) width() int { return max(len(c.head), c.int+c.frac) }

func (c *bookColumn) format(s string) string {
	if s == "" {
		return strings.Repeat(" ", c.width())
	}
	i, f := splitPoint(s)
	cell := strings.Repeat(" ", c.int-len(i)) + i + f + strings.Repeat(" ", c.frac-len(f))
	return strings.Repeat(" ", c.width()-len(cell)) + cell
}
