package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/stream"
)

func init() { register(newLsCmd) }

func newLsCmd(a *app) *cobra.Command {
	var o lsOpts
	c := newCommand(a, "ls [--json] [ROOT]",
		"list the streams in an archive", `
Ls lists every stream at or below ROOT (default: the archive root), one
line per day: its name VENUE/SYMBOL/TYPE, which the other commands take
as it is printed (with the same --archive-root; every day of it, or one
with --from DATE --to DATE+1), the date, the Tardis data type (trades,
incremental_book_L2, ...), segments, events, rows, time range (local
timestamps, UTC) and bytes on disk. It reads meta.json and the directory
listing, not the data; use 'chronicle verify' to check the data itself.

With --json each line is an object with the stream's "address" (the name
above) and "dir" (its day directory, which the commands take too).
`, `
  chronicle ls
  chronicle ls /data/archive/v1/binance-futures
  chronicle ls --json | jq -r .address | sort -u
`, "",
		func(args []string, _ *pflag.FlagSet) error { return runLs(a, &o, args) })
	o.register(c.Flags())
	return c
}

type lsOpts struct{ json bool }

func (o *lsOpts) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "one JSON object per stream")
}

func runLs(a *app, o *lsOpts, args []string) error {
	if len(args) > 1 {
		return usagef("ls takes at most one path")
	}
	root := a.root()
	if len(args) == 1 {
		root = args[0]
	}
	e := *a.e
	e.stdout = a.out()
	streams, err := archive.List(nil, root)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(e.stdout)
		for _, s := range streams {
			obj := map[string]any{
				"address": lsAddress(s), "dir": s.Dir, "venue": s.Partition.Venue, "symbol": s.Partition.Symbol,
				"date": s.Partition.Date, "stream": s.Partition.Stream, "data_type": lsDataType(s), "segments": s.Segments,
				"events": s.Events, "rows": s.Rows, "bytes": s.Bytes, "compressed": s.Compressed,
			}
			if s.HasRange {
				obj["min_ts_ns"], obj["max_ts_ns"] = s.MinTS, s.MaxTS
			}
			if err := enc.Encode(obj); err != nil {
				return err
			}
		}
		return nil
	}
	if len(streams) == 0 {
		fmt.Fprintf(e.stderr, "no streams under %s\n", root)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tDATE\tDATA TYPE\tSEGMENTS\tEVENTS\tROWS\tFROM (UTC)\tTO (UTC)\tSIZE")
	for _, s := range streams {
		from, to := "-", "-"
		if s.HasRange {
			from, to = fmtTime(s.MinTS), fmtTime(s.MaxTS)
		}
		seg := fmt.Sprint(s.Segments)
		if s.Compressed {
			seg += " zst"
			if s.Codec == "columnar" {
				seg = fmt.Sprint(s.Segments) + " col"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", lsAddress(s), s.Partition.Date, lsDataType(s), seg, s.Events, s.Rows, from, to, byteSize(s.Bytes))
	}
	return tw.Flush()
}

// lsAddress is the stream's VENUE/SYMBOL/TYPE, what the other commands
// take; a stream outside the layout is printed as its directory.
func lsAddress(s archive.StreamInfo) string {
	p := s.Partition
	if p.Venue == "" || p.Symbol == "" || p.Stream == "" {
		return s.Dir
	}
	return stream.Address{Venue: p.Venue, Symbol: p.Symbol, Type: p.Stream}.String()
}

// lsDataType is the stream's data type, "?" when meta.json is unreadable.
func lsDataType(s archive.StreamInfo) string {
	if s.Meta == nil {
		return "?"
	}
	return dataTypeName(s.Meta)
}

// fmtTime prints a timestamp; one an int64 cannot hold (a damaged or
// foreign meta.json) is printed as a number, never as a wrapped date.
func fmtTime(ns uint64) string {
	t, err := archive.NSTime(ns)
	if err != nil {
		return fmt.Sprintf("%dns(invalid)", ns)
	}
	return t.Format("2006-01-02T15:04:05.000000Z")
}
