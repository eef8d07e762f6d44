package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/timespec"
	"github.com/chronicle-archive/chronicle/vfs"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd(a *app) *cobra.Command {
	var o verifyOpts
	c := newCommand(a, "verify [--json] [PATH|VENUE/SYMBOL/TYPE]",
		"check every byte of an archive or stream", `
Verify checks the streams at or below PATH (default: the archive root), or
every day of the stream VENUE/SYMBOL/TYPE under --archive-root:

  - the manifest in meta.json: every file's size and blake3, so that a
    change to any byte is caught, even one no decoder would notice;
  - segment headers, ids and seal flags, record bounds, every CRC-32, zero
    padding and tails, and each .q.zst.idx against its zstd frames;
  - every record's layout (BookEvents, trades, quotes, book snapshots and
    every other data type), a contiguous seq, timestamps and ids;
  - meta.json's and the import ledger's counts against the data, its
    compressed flag against the segment files and its source_hash against
    the stream's ledger entry;
  - a book stream's checkpoints against a replay.

It prints what it checked, and each kind of problem with its file and byte
offset, how many there are, and where the first few are. A PATH with no
stream at or below it is an error.
`, `
  chronicle verify
  chronicle verify binance-futures/BTCUSDT/book
  chronicle verify archive/v1/binance/BTCUSDT/2019-12-01/book
`, `
  3 when any stream is damaged; 1 when verify could not run.
`,
		func(args []string, _ *pflag.FlagSet) error { return runVerify(a, &o, args) })
	o.register(c.Flags())
	return c
}

type verifyOpts struct{ json bool }

func (o *verifyOpts) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "one JSON report per stream")
}

func runVerify(a *app, o *verifyOpts, args []string) error {
	if len(args) > 1 {
		return usagef("verify takes at most one path or VENUE/SYMBOL/TYPE")
	}
	path := a.root()
	if len(args) == 1 {
		path = args[0]
	}
	var dirs []string
	var err error
	if _, serr := vfs.Default.Stat(path); serr != nil && len(args) == 1 && !filepath.IsAbs(path) && !strings.HasPrefix(path, ".") {
		dirs, err = a.resolve(path, timespec.Range{}) // VENUE/SYMBOL/TYPE
	} else if st, serr := vfs.Default.Stat(path); serr == nil && !st.IsDir() {
		err = fmt.Errorf("%s is a file: verify takes an archive root, a directory below it, a stream directory or VENUE/SYMBOL/TYPE", path)
	} else {
		dirs, err = archive.FindStreams(nil, path)
	}
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return fmt.Errorf("no streams under %s", path)
	}
	ctx := a.ctx
	e := *a.e
	e.stdout = a.out()
	bad := 0
	for _, dir := range dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := stream.Verify(nil, dir)
		if err != nil {
			return err
		}
		if !rep.OK() {
			bad++
		}
		kinds := rep.Summary()
		if o.json {
			probs := make([]map[string]any, 0, len(kinds))
			for _, k := range kinds {
				places := make([]map[string]any, 0, len(k.First))
				for _, p := range k.First {
					places = append(places, map[string]any{"path": p.Path, "offset": p.Offset, "error": p.Err.Error()})
				}
				probs = append(probs, map[string]any{"count": k.Count, "first": places})
			}
			json.NewEncoder(e.stdout).Encode(map[string]any{
				"dir": dir, "ok": rep.OK(), "segments": rep.Segments, "events": rep.Events,
				"rows": rep.Rows, "bytes": rep.Bytes, "checked": rep.Checked, "notes": rep.Notes,
				"problem_count": len(rep.Problems), "problems": probs,
			})
			continue
		}
		status := "ok"
		if !rep.OK() {
			status = fmt.Sprintf("DAMAGED (%d problems)", len(rep.Problems))
		}
		fmt.Fprintf(e.stdout, "%s: %s\n", dir, status)
		for _, c := range rep.Checked {
			fmt.Fprintf(e.stdout, "  checked %s\n", c)
		}
		for _, n := range rep.Notes {
			fmt.Fprintf(e.stdout, "  note: %s\n", n)
		}
		// Each kind of problem once, with a count and its first places:
		// one edited field can make every record wrong.
		for _, k := range kinds {
			fmt.Fprintf(e.stdout, "  PROBLEM %s\n", k.First[0].Error())
			if k.Count == 1 {
				continue
			}
			fmt.Fprintf(e.stdout, "    %d problems of this kind; the first %d at:", k.Count, len(k.First))
			for _, p := range k.First {
				fmt.Fprintf(e.stdout, " %s@%d", p.Path, p.Offset)
			}
			fmt.Fprintln(e.stdout)
		}
	}
	if bad > 0 {
		return &corruptError{fmt.Errorf("%d of %d streams damaged", bad, len(dirs))}
	}
	if !o.json {
		fmt.Fprintf(e.stdout, "verified %d streams: no problems\n", len(dirs))
	}
	return nil
}
