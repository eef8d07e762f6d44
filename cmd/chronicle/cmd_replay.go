package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/timespec"
)

func init() { register(newReplayCmd) }

func newReplayCmd(a *app) *cobra.Command {
	var o replayOpts
	c := newCommand(a, "replay STREAM... [--strict] [--json] [--from TIME] [--to TIME] [--limit N]",
		"replay order books from the start and report on them", `
Replay rebuilds the L2 order book of a stream by applying every event from
the start (checkpoints are not used), and reports what it saw:

	events, snapshots, diffs      what the stream holds
	level updates                 price levels applied to the book
	resets                        book resets (the first snapshot and every
	                              snapshot after diffs, e.g. a reconnect)
	absent removals               amount-0 levels whose price was not in the book
	skipped before snapshot       diffs ignored before the first snapshot
	gaps, crossed events          update-id gaps in the book and events after
	                              which the best bid was at or above the best
	                              ask, with the seq of the first of each (an
	                              import's update ids are its seq, which the
	                              reader checks: a gap in the stored seq is
	                              damage, exit 3, so gaps is 0 for them)
	best bid, best ask            the final book's top, as exact decimals
	wall time, level updates/s    how fast the replay ran

Book rules are Tardis's: a snapshot after diffs resets the book, diffs before
the first snapshot are ignored, amount 0 removes a level.

`+streamArgHelp+`
Over several days the seqs are numbered on from one day
to the next, so a day boundary is not a gap.

With --from the book is built silently from the start of the first day
that overlaps the range, and the report counts the events in [from, to);
--limit N stops after N events (over all the streams). `+timeHelp+`
A range
that holds no data warns on stderr.

Several STREAMs are replayed together in one time order (local timestamp,
then the streams sorted by VENUE/SYMBOL/TYPE, then each stream's order):
each book stream keeps its own book, a stream of another type is counted,
and the report has one section per stream (with --json, one object per
line with a "stream" key).

With --strict the replay stops at the first seq gap or crossed book, naming
the event's seq and timestamps, and exits with status 1.
`, `
  chronicle replay binance-futures/BTCUSDT/book --from 2024-05-01T12:00 --to 2024-05-02T12:00
  chronicle replay binance-futures/BTCUSDT/book binance-futures/ETHUSDT/book binance-futures/BTCUSDT/trades
  chronicle replay --strict --json archive/v1/binance/BTCUSDT/2019-12-01/book
`, `
  1 also when --strict found a gap or a crossed book; 3 also for a seq
  gap in the stored events, segment files that are not the ones meta.json
  lists, or fewer or more events than it says.
`,
		func(args []string, _ *pflag.FlagSet) error { return runReplay(a, &o, args) })
	o.register(c.Flags())
	return c
}

type replayOpts struct {
	strict, json bool
	rangeOpts
}

func (o *replayOpts) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.strict, "strict", false, "stop with exit status 1 at the first seq gap or crossed book")
	fs.BoolVar(&o.json, "json", false, "print the report as one JSON object (one per stream)")
	o.rangeOpts.register(fs, "events (over all the streams)")
}

// replayInput is one stream of a replay and what it has seen.
type replayInput struct {
	name string
	book bool
	rep  *book.Replayer
	seq  seqJoin
	// base: the stats when the range started (events before --from are
	// applied silently and not reported); started: the range has started.
	base    book.Stats
	started bool
	maxTS   uint64
	// In the range: first gap and crossed seqs, and a non-book stream's
	// record count.
	firstGap, firstCrossed uint64
	records                uint64
}

func runReplay(a *app, o *replayOpts, args []string) error {
	if len(args) == 0 {
		return usagef("replay needs a stream: a stream directory or VENUE/SYMBOL/TYPE")
	}
	r, err := o.parse()
	if err != nil {
		return err
	}
	// The book needs every event before --from: read from the start of
	// the first day overlapping the range, and skip the report until From.
	readRange := timespec.Range{To: r.To, HasTo: r.HasTo}
	defer a.quietGC(len(args))()
	inputs := make([]stream.Input, len(args))
	for i, arg := range args {
		dirs, err := a.resolve(arg, r)
		if err != nil {
			return err
		}
		if len(args) == 1 {
			if err := needBookStream(dirs[0]); err != nil {
				return err
			}
		}
		addr, err := stream.ParseAddress(arg)
		if err != nil {
			addr = stream.Address{Type: arg} // a directory: labelled by its path
		}
		inputs[i] = stream.Input{Address: addr, Range: readRange, Dirs: dirs}
	}
	stream.SortInputs(inputs)
	start := time.Now()
	m, err := stream.OpenMerged(nil, a.root(), inputs)
	if err != nil {
		return err
	}
	defer m.Close()
	ins := make([]*replayInput, len(inputs))
	for i, in := range inputs {
		isBook, err := isBookStream(in.Dirs[0])
		if err != nil {
			return err
		}
		ins[i] = &replayInput{name: in.Address.String(), book: isBook}
		if in.Address.Venue == "" {
			ins[i].name = in.Address.Type
		}
		if isBook {
			ins[i].rep = book.NewReplayer(book.Options{})
		}
	}
	if r.HasFrom || r.HasTo {
		// The readers' own warnings are for the range they read, which
		// starts at the first day: say it for the range asked.
		for _, w := range rangeWarnings(inputs, r) {
			a.warn(w)
		}
	} else {
		for _, w := range m.Warnings() {
			a.warn(w)
		}
	}
	var reported int64
	for n := 0; o.limit == 0 || reported < o.limit; n++ {
		it, err := m.NextItem()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if n%4096 == 0 && a.ctx.Err() != nil {
			return a.ctx.Err()
		}
		in := ins[it.Input]
		in.maxTS = max(in.maxTS, it.LocalTS)
		if !in.started && (!r.HasFrom || in.maxTS >= uint64(max(r.From, 0))) {
			in.started = true
			if in.rep != nil {
				in.base = in.rep.Stats()
			}
		}
		if in.started {
			reported++
		}
		if in.rep == nil {
			if in.started {
				in.records++
			}
			continue
		}
		in.seq.fix(it.Event)
		before := in.rep.Stats()
		if err := in.rep.Apply(it.Event); err != nil {
			return err
		}
		if !in.started {
			continue
		}
		after := in.rep.Stats()
		gap, crossed := after.Gaps > before.Gaps, after.CrossedEvents > before.CrossedEvents
		if gap && after.Gaps-in.base.Gaps == 1 {
			in.firstGap = it.Event.Seq
		}
		if crossed && after.CrossedEvents-in.base.CrossedEvents == 1 {
			in.firstCrossed = it.Event.Seq
		}
		if o.strict && (gap || crossed) {
			err := strictError(in, it.Event, gap)
			if len(ins) > 1 {
				err = fmt.Errorf("%s: %w", in.name, err)
			}
			return err
		}
	}
	wall := time.Since(start)
	for i, in := range ins {
		if len(ins) > 1 && !o.json {
			if i > 0 {
				fmt.Fprintln(a.e.stdout)
			}
			fmt.Fprintf(a.e.stdout, "%s\n", in.name)
		}
		name := ""
		if len(ins) > 1 {
			name = in.name
		}
		if in.rep == nil {
			if err := printRecordsReport(a.e.stdout, name, in.records, o.json); err != nil {
				return err
			}
			continue
		}
		st := in.stats()
		if err := printReplayReport(a.e.stdout, name, st, in.rep.Book(), wall, o.json); err != nil {
			return err
		}
	}
	return nil
}

// stats are the input's stats in the range: the difference from when it
// started, with the range's first gap and crossed seqs.
func (in *replayInput) stats() book.Stats {
	st := in.rep.Stats()
	if !in.started {
		return book.Stats{}
	}
	b := in.base
	st.Events -= b.Events
	st.Snapshots -= b.Snapshots
	st.Diffs -= b.Diffs
	st.LevelUpdates -= b.LevelUpdates
	st.Resets -= b.Resets
	st.AbsentRemovals -= b.AbsentRemovals
	st.SkippedBeforeSnapshot -= b.SkippedBeforeSnapshot
	st.Gaps -= b.Gaps
	st.CrossedEvents -= b.CrossedEvents
	st.FirstGapSeq, st.FirstCrossedSeq = in.firstGap, in.firstCrossed
	return st
}

// strictError is --strict's error for the event just applied.
func strictError(in *replayInput, ev *protocol.Event, gap bool) error {
	if gap {
		return strictMessage(&book.GapError{Seq: ev.Seq, PrevSeq: in.seq.prev, IngestTS: ev.IngestTS, ExchangeTS: ev.ExchangeTS})
	}
	b := in.rep.Book()
	bid, _ := b.Best(book.Bid)
	ask, _ := b.Best(book.Ask)
	ps, _ := b.Scales()
	return strictMessage(&book.CrossedError{Seq: ev.Seq, IngestTS: ev.IngestTS, ExchangeTS: ev.ExchangeTS, Bid: bid, Ask: ask, PriceScale: ps})
}

// rangeWarnings warns for each input whose days hold no data in r.
func rangeWarnings(inputs []stream.Input, r timespec.Range) []string {
	var out []string
	for _, in := range inputs {
		metas, err := readMetas(in.Dirs)
		if err != nil {
			continue
		}
		overlap := false
		for _, m := range metas {
			if tr := m.EventTimeRange; tr != nil && (!r.HasFrom || int64(tr[1]) >= r.From) && (!r.HasTo || int64(tr[0]) < r.To) {
				overlap = true
			}
		}
		if !overlap {
			name := in.Address.String()
			if in.Address.Venue == "" {
				name = in.Address.Type
			}
			out = append(out, fmt.Sprintf("%s: no data in [%s, %s)", name, fmtBound(r.HasFrom, r.From, "-inf"), fmtBound(r.HasTo, r.To, "+inf")))
		}
	}
	return out
}

func fmtBound(has bool, ns int64, none string) string {
	if !has {
		return none
	}
	return timespec.Format(ns)
}

func printRecordsReport(w io.Writer, name string, n uint64, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]any{"stream": name, "records": n})
	}
	_, err := fmt.Fprintf(w, "records  %d\n", n)
	return err
}

// strictMessage turns the replayer's --strict errors into a message naming
// seq and timestamps in readable form; other errors pass through.
func strictMessage(err error) error {
	var g *book.GapError
	var c *book.CrossedError
	switch {
	case errors.As(err, &g):
		return fmt.Errorf("--strict: seq gap at seq %d (previous seq %d), ingest time %s, exchange time %s",
			g.Seq, g.PrevSeq, fmtTS(g.IngestTS), fmtTS(g.ExchangeTS))
	case errors.As(err, &c):
		return fmt.Errorf("--strict: crossed book after seq %d, ingest time %s, exchange time %s: best bid %s >= best ask %s",
			c.Seq, fmtTS(c.IngestTS), fmtTS(c.ExchangeTS), decimal.String(c.Bid.Price, c.PriceScale), decimal.String(c.Ask.Price, c.PriceScale))
	}
	return err
}

// fmtTS prints ns since the epoch as RFC 3339 UTC with the ns in brackets,
// so that the value can be pasted into --at either way.
func fmtTS(ns uint64) string {
	return fmt.Sprintf("%s (%d ns)", time.Unix(0, int64(ns)).UTC().Format(time.RFC3339Nano), ns)
}

func printReplayReport(w io.Writer, name string, st book.Stats, b *book.Book, wall time.Duration, asJSON bool) error {
	ps, ss := b.Scales()
	top := func(s book.Side) []string {
		l, ok := b.Best(s)
		if !ok {
			return nil
		}
		return []string{decimal.String(l.Price, ps), decimal.String(l.Size, ss)}
	}
	perSec := int64(0)
	if wall > 0 {
		perSec = int64(float64(st.LevelUpdates) / wall.Seconds())
	}
	if asJSON {
		// First-gap/crossed seqs are null when there is none: 0 is a seq.
		var firstGap, firstCrossed *uint64
		if st.Gaps > 0 {
			firstGap = &st.FirstGapSeq
		}
		if st.CrossedEvents > 0 {
			firstCrossed = &st.FirstCrossedSeq
		}
		obj := map[string]any{
			"events": st.Events, "snapshots": st.Snapshots, "diffs": st.Diffs,
			"level_updates": st.LevelUpdates, "resets": st.Resets, "absent_removals": st.AbsentRemovals,
			"skipped_before_snapshot": st.SkippedBeforeSnapshot,
			"gaps":                    st.Gaps, "first_gap_seq": firstGap,
			"crossed_events": st.CrossedEvents, "first_crossed_seq": firstCrossed,
			"best_bid": top(book.Bid), "best_ask": top(book.Ask),
			"wall_ns": wall.Nanoseconds(), "level_updates_per_sec": perSec,
		}
		if name != "" {
			obj["stream"] = name
		}
		return json.NewEncoder(w).Encode(obj)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "events\t%d\t(%d snapshots, %d diffs)\n", st.Events, st.Snapshots, st.Diffs)
	fmt.Fprintf(tw, "level updates\t%d\n", st.LevelUpdates)
	fmt.Fprintf(tw, "resets\t%d\n", st.Resets)
	fmt.Fprintf(tw, "absent removals\t%d\n", st.AbsentRemovals)
	fmt.Fprintf(tw, "skipped before snapshot\t%d\n", st.SkippedBeforeSnapshot)
	if st.Gaps > 0 {
		fmt.Fprintf(tw, "gaps\t%d\t(first at seq %d)\n", st.Gaps, st.FirstGapSeq)
	} else {
		fmt.Fprintf(tw, "gaps\t0\n")
	}
	if st.CrossedEvents > 0 {
		fmt.Fprintf(tw, "crossed events\t%d\t(first at seq %d)\n", st.CrossedEvents, st.FirstCrossedSeq)
	} else {
		fmt.Fprintf(tw, "crossed events\t0\n")
	}
	for _, s := range []book.Side{book.Bid, book.Ask} {
		if t := top(s); t != nil {
			fmt.Fprintf(tw, "best %s\t%s\t(amount %s)\n", s, t[0], t[1])
		} else {
			fmt.Fprintf(tw, "best %s\t-\t(empty)\n", s)
		}
	}
	fmt.Fprintf(tw, "wall time\t%s\n", roundWall(wall))
	fmt.Fprintf(tw, "level updates/s\t%s\n", count(perSec))
	return tw.Flush()
}

// roundWall keeps three significant-ish digits of a duration.
func roundWall(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Microsecond)
	}
	return d
}
