package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/replay"
)

func init() {
	register(&command{
		name:    "replay",
		summary: "replay a stream's order book from the start and report on it",
		usage:   "STREAM_DIR [--strict] [--json]",
		help: `
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

With --strict the replay stops at the first seq gap or crossed book, naming
the event's seq and timestamps, and exits with status 1.

Examples:

	chronicle replay archive/v1/binance/BTCUSDT/2019-12-01/book
	chronicle replay --strict --json archive/v1/binance/BTCUSDT/2019-12-01/book

Exit status: 0 replayed, 1 error (or --strict found a gap or a crossed
book), 2 bad usage, 3 damage: a damaged record, a seq gap, segment files
that are not the ones meta.json lists, fewer or more events than it says
(run 'chronicle verify').
`,
		run: runReplay,
	})
	flagDefs["replay"] = func(fs *flag.FlagSet) { new(replayOpts).register(fs) }
}

type replayOpts struct{ strict, json bool }

func (o *replayOpts) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.strict, "strict", false, "stop with exit status 1 at the first seq gap or crossed book")
	fs.BoolVar(&o.json, "json", false, "print the report as one JSON object")
}

func runReplay(ctx context.Context, e *env, args []string) error {
	var o replayOpts
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	o.register(fs)
	pos, err := parseArgs(commands["replay"], e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("replay needs one stream directory")
	}
	if err := needBookStream(pos[0]); err != nil {
		return err
	}
	start := time.Now()
	s, err := replay.Open(pos[0], replay.Options{Strict: o.strict, NoCheckpoints: true})
	if err != nil {
		return err
	}
	defer s.Close()
	for n := 0; ; n++ {
		_, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return strictMessage(err)
		}
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	wall := time.Since(start)
	return printReplayReport(e.stdout, s.Stats(), s.Book(), wall, o.json)
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

func printReplayReport(w io.Writer, st book.Stats, b *book.Book, wall time.Duration, asJSON bool) error {
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
		return json.NewEncoder(w).Encode(map[string]any{
			"events": st.Events, "snapshots": st.Snapshots, "diffs": st.Diffs,
			"level_updates": st.LevelUpdates, "resets": st.Resets, "absent_removals": st.AbsentRemovals,
			"skipped_before_snapshot": st.SkippedBeforeSnapshot,
			"gaps":                    st.Gaps, "first_gap_seq": firstGap,
			"crossed_events": st.CrossedEvents, "first_crossed_seq": firstCrossed,
			"best_bid": top(book.Bid), "best_ask": top(book.Ask),
			"wall_ns": wall.Nanoseconds(), "level_updates_per_sec": perSec,
		})
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
