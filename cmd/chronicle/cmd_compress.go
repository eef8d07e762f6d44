package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/ingest"
)

func init() {
	register(&command{
		name:    "compress",
		summary: "compress a stream's segments (columnar .q.col, or .q.zst)",
		usage:   "[--codec columnar|zstd] STREAM_DIR...",
		help: `
Compress turns every NNNNNNNNN.q segment of a stream into NNNNNNNNN.q.col
(--codec columnar, the default: record-aware columns with a block index,
docs/COLUMNAR.md), or with --codec zstd into the reference's NNNNNNNNN.q.zst
(1 MiB blocks, each its own zstd frame, so 'zstd -dc' restores the .q) plus
a block index NNNNNNNNN.q.zst.idx, as docs/FORMAT.md describes. Both restore
the exact .q ('chronicle decompress'). A stream compressed with one codec
must be decompressed before it is compressed with the other. The stream is
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
	name := fs.String("codec", "columnar", "`columnar` (.q.col) or zstd (.q.zst)")
	pos, err := parseArgs(commands["compress"], e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("compress needs a stream directory")
	}
	codec, err := ingest.CodecByName(*name)
	if err != nil {
		return usagef("--codec: %v", err)
	}
	for _, dir := range pos {
		if err := archive.Compress(ctx, nil, dir, archive.Options{Codec: codec}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "compressed %s\n", dir)
	}
	return nil
}
