package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/replay"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/timespec"
)

func init() { register(newBookCmd) }

func newBookCmd(a *app) *cobra.Command {
	var o bookOpts
	c := newCommand(a, "book STREAM [--at TIME] [--depth N] [--json] [--exchange-time]",
		"print the order book of a stream at a moment", `
Book prints the L2 order book of a stream as it stood at TIME: after every
event at or before TIME (local time, or exchange time with --exchange-time),
or at the end of the stream without --at. It starts from the stream's
nearest book checkpoint (see 'chronicle index'), so it answers in
milliseconds at any point of a day; the book is exactly the one a replay
from the start gives.

`+streamArgHelp+`
With VENUE/SYMBOL/TYPE the book is read from the last
day that starts at or before TIME: a day that starts with a snapshot (as
Tardis's do) from its nearest checkpoint, otherwise by replaying the days
before it too.

`+timeHelp+`
A TIME before the first event or after the last one warns on
stderr.

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
`, `
  chronicle book binance-futures/BTCUSDT/book --at 2024-05-01T00:00:01.5Z --depth 5
  chronicle book binance-futures/BTCUSDT/book --at 1714521603000000 --json
  chronicle book archive/v1/binance-futures/BTCUSDT/2024-05-01/book
`, `
  2 also for a TIME that does not parse; 3 also for checkpoint files that
  are not the ones meta.json lists.
`,
		func(args []string, _ *pflag.FlagSet) error { return runBook(a, &o, args) })
	o.register(c.Flags())
	return c
}

type bookOpts struct {
	at           string
	depth        int
	json         bool
	exchangeTime bool
}

func (o *bookOpts) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.at, "at", "", "the moment: `TIME` (default: the end of the stream)")
	fs.IntVar(&o.depth, "depth", 10, "levels per side, best first (0: all)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object with decimal strings")
	fs.BoolVar(&o.exchangeTime, "exchange-time", false, "TIME is exchange time (the timestamp column), not local time")
}

// quietHeap is the heap a book query, or a replay per stream it reads,
// grows to before the collector runs (unless $GOGC or $GOMEMLIMIT say
// otherwise). A query allocates some MiB in all (block buffers, the
// checkpoint file), a replay of a compressed stream about 10 MiB (its
// decoders' buffers); at GOGC=100 the collector ran a cycle or two per
// query, and its start-up (worker threads, sweeping) cost ~3 ms of a
// 15 ms query, three cycles per replay. A long replay still collects,
// keeping the heap near this.
const quietHeap = 64 << 20

// quietGC turns the collector off until the heap reaches streams ×
// quietHeap, unless the environment sets $GOGC or $GOMEMLIMIT; the
// returned function restores what was.
func (a *app) quietGC(streams int) func() {
	if a.e.getenv("GOGC") != "" || a.e.getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	pct := debug.SetGCPercent(-1)
	lim := debug.SetMemoryLimit(int64(max(streams, 1)) * quietHeap)
	return func() {
		debug.SetMemoryLimit(lim)
		debug.SetGCPercent(pct)
	}
}

func runBook(a *app, o *bookOpts, args []string) error {
	if err := one("book", args); err != nil {
		return err
	}
	defer a.quietGC(1)()
	if o.depth < 0 {
		return usagef("--depth %d: must be 0 (all) or more", o.depth)
	}
	at := uint64(math.MaxUint64)
	if o.at != "" {
		ns, err := timespec.Parse(o.at)
		if err != nil {
			return usagef("--at: %v", err)
		}
		if ns < 0 {
			return usagef("--at %s is before 1970, before any market data", o.at)
		}
		at = uint64(ns)
	}
	dirs, err := a.resolve(args[0], timespec.Range{})
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := needBookStream(d); err != nil {
			return err
		}
	}
	b, ts, err := bookAt(a, dirs, at, o)
	if err != nil {
		return err
	}
	n := o.depth
	if n == 0 {
		n = max(b.Len(book.Bid), b.Len(book.Ask))
	}
	bids, asks := b.Top(book.Bid, n, nil), b.Top(book.Ask, n, nil)
	ps, ss := b.Scales()
	w := bufio.NewWriter(a.e.stdout)
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

// bookAt is the book after every event at or before at over the days
// dirs. The day that holds at is read from its checkpoints when it starts
// with a snapshot (which resets the book, so the days before do not
// matter); otherwise the days up to it are replayed. A TIME outside the
// data warns.
func bookAt(a *app, dirs []string, at uint64, o *bookOpts) (*book.Book, uint64, error) {
	metas, err := readMetas(dirs)
	if err != nil {
		// Unreadable: the reader says what is wrong.
		b, ts, err := replay.BookAt(dirs[0], at, replay.Options{ExchangeTime: o.exchangeTime})
		return b, ts, err
	}
	// k: the last day whose data starts at or before at (local time; the
	// days of exchange time are the same days).
	k := -1
	var lo, hi uint64
	seen := false
	for i, m := range metas {
		tr := m.EventTimeRange
		if tr == nil {
			continue
		}
		if !seen || tr[0] < lo {
			lo = tr[0]
		}
		hi, seen = max(hi, tr[1]), true
		if tr[0] <= at {
			k = i
		}
	}
	if o.at != "" && !o.exchangeTime && seen {
		switch {
		case at < lo:
			a.warn(fmt.Sprintf("--at %s is before the stream's first event (%s): the book is empty", timespec.Format(int64(at)), timespec.Format(int64(lo))))
		case at > hi:
			a.warn(fmt.Sprintf("--at %s is after the stream's last event (%s): this is the book at the end", timespec.Format(int64(at)), timespec.Format(int64(hi))))
		}
	}
	if k < 0 {
		k = 0
	}
	if k == 0 || o.exchangeTime {
		return replay.BookAt(dirs[k], at, replay.Options{ExchangeTime: o.exchangeTime})
	}
	snap, err := startsWithSnapshot(dirs[k])
	if err != nil {
		return nil, 0, err
	}
	if snap {
		return replay.BookAt(dirs[k], at, replay.Options{})
	}
	// The day continues the one before: replay from the first day.
	evs, err := stream.OpenEventsRange(nil, dirs[:k+1], timespec.Range{To: int64(min(at, math.MaxInt64-1)) + 1, HasTo: true})
	if err != nil {
		return nil, 0, err
	}
	defer evs.Close()
	rep := book.NewReplayer(book.Options{})
	var seq seqJoin
	var last uint64
	for {
		ev, err := evs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		seq.fix(ev)
		if err := rep.Apply(ev); err != nil {
			return nil, 0, err
		}
		last = ev.IngestTS
	}
	return rep.Book(), last, nil
}

// startsWithSnapshot reports whether dir's first event is a snapshot.
func startsWithSnapshot(dir string) (bool, error) {
	evs, err := stream.OpenEvents(nil, dir)
	if err != nil {
		return false, err
	}
	defer evs.Close()
	ev, err := evs.Next()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ev.Type == protocol.Snapshot, nil
}

// seqJoin renumbers the events of consecutive days as one sequence: each
// day's seq starts again at 0, which a replayer would count as a gap. The
// reader checks each day's own sequence, so a step back is a day boundary.
type seqJoin struct {
	off, last, prev uint64
	started         bool
}

func (s *seqJoin) fix(ev *protocol.Event) {
	if s.started && ev.Seq+s.off <= s.last {
		s.off = s.last + 1 - ev.Seq
	}
	ev.Seq += s.off
	s.prev, s.last, s.started = s.last, ev.Seq, true
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
