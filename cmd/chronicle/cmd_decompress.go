package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/columnar/colseg"
)

func init() {
	register(&command{
		name:    "decompress",
		summary: "write a compressed stream's segments back as the exact .q files",
		usage:   "STREAM_DIR...",
		help: `
Decompress turns every NNNNNNNNN.q.col or NNNNNNNNN.q.zst (and its .idx)
segment of a stream back into the NNNNNNNNN.q it was made from, byte for
byte: the stream, meta.json included, is then the one a plain import
writes. Like compress it rewrites the stream copy-on-write one segment at a
time, each step swapped in atomically; an interrupted run leaves a readable
stream, and rerunning it finishes. A damaged block stops it (exit 3, naming
the file and offset) with that segment left as it was.

Example:

	chronicle decompress archive/v1/binance-futures/BTCUSDT/2024-05-01/book

Exit status: 0 done, 1 I/O error, 2 bad usage, 3 damage found.
`,
		run: runDecompress,
	})
}

func runDecompress(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("decompress", flag.ContinueOnError)
	pos, err := parseArgs(commands["decompress"], e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("decompress needs a stream directory")
	}
	for _, dir := range pos {
		if err := archive.Decompress(ctx, nil, dir, archive.Options{Codec: colseg.Codec{}}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "decompressed %s\n", dir)
	}
	return nil
}
