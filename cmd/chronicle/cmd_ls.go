package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/chronicle-archive/chronicle/archive"
)

func init() {
	register(&command{
		name:    "ls",
		summary: "list the streams in an archive",
		usage:   "[--json] [ROOT]",
		help: `
Ls lists every stream at or below ROOT (default: the archive root): its
partition, Tardis data type (trades, incremental_book_L2, ...), segments,
events, rows, time range (local timestamps, UTC) and bytes on disk. It
reads meta.json and the directory listing, not the data; use 'chronicle
verify' to check the data itself.

Examples:

	chronicle ls
	chronicle ls /data/archive/v1/binance-futures
	chronicle ls --json | jq .
`,
		run: runLs,
	})
	flagDefs["ls"] = func(fs *flag.FlagSet) { new(lsOpts).register(fs) }
}

type lsOpts struct {
	json bool
	root string
}

func (o *lsOpts) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "one JSON object per stream")
	fs.StringVar(&o.root, "archive-root", "", "archive root `dir` (default $CHRONICLE_ARCHIVE, else ./archive); a PATH argument overrides it")
}

func runLs(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	var o lsOpts
	o.register(fs)
	pos, err := parseArgs(commands["ls"], e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("ls takes at most one path")
	}
	root := archiveRoot(e, o.root)
	if len(pos) == 1 {
		root = pos[0]
	}
	streams, err := archive.List(nil, root)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(e.stdout)
		for _, s := range streams {
			obj := map[string]any{
				"dir": s.Dir, "venue": s.Partition.Venue, "symbol": s.Partition.Symbol,
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
	fmt.Fprintln(tw, "STREAM\tDATA TYPE\tSEGMENTS\tEVENTS\tROWS\tFROM (UTC)\tTO (UTC)\tSIZE")
	for _, s := range streams {
		from, to := "-", "-"
		if s.HasRange {
			from, to = fmtTime(s.MinTS), fmtTime(s.MaxTS)
		}
		seg := fmt.Sprint(s.Segments)
		if s.Compressed {
			seg += " zst"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", archive.Rel(root, s.Dir), lsDataType(s), seg, s.Events, s.Rows, from, to, byteSize(s.Bytes))
	}
	return tw.Flush()
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
