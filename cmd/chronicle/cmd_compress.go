package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/chronicle-archive/chronicle/archive"
)

func init() {
	register(&command{
		name:    "compress",
		summary: "compress a stream's segments to .q.zst with a block index",
		usage:   "STREAM_DIR...",
		help: `
Compress turns every NNNNNNNNN.q segment of a stream into NNNNNNNNN.q.zst
(1 MiB blocks, each its own zstd frame, so 'zstd -dc' restores the .q) plus
a block index NNNNNNNNN.q.zst.idx, as docs/FORMAT.md describes. The stream is
rewritten copy-on-write one segment at a time, each step swapped in
atomically, so it needs free space for one compressed segment only. Readers
always see a whole stream; an interrupted run leaves some segments
compressed, and rerunning it finishes.

Example:

	chronicle compress archive/v1/binance-futures/BTCUSDT/2024-05-01/book
`,
		run: runCompress,
	})
}

func runCompress(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("compress", flag.ContinueOnError)
	pos, err := parseArgs(commands["compress"], e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("compress needs a stream directory")
	}
	for _, dir := range pos {
		if err := archive.Compress(ctx, nil, dir); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "compressed %s\n", dir)
	}
	return nil
}
