package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/ingest"
)

func init() { register(newCompressCmd) }

func newCompressCmd(a *app) *cobra.Command {
	var codecName string
	c := newCommand(a, "compress [--codec columnar|zstd] STREAM...",
		"compress a stream's segments (columnar .q.col, or .q.zst)", `
Compress turns every NNNNNNNNN.q segment of a stream into NNNNNNNNN.q.col
(--codec columnar, the default: record-aware columns with a block index,
docs/FORMAT.md), or with --codec zstd into the reference's NNNNNNNNN.q.zst
(1 MiB blocks, each its own zstd frame, so 'zstd -dc' restores the .q) plus
a block index NNNNNNNNN.q.zst.idx, as docs/FORMAT.md describes. Both restore
the exact .q ('chronicle decompress'). A stream compressed with one codec
must be decompressed before it is compressed with the other. The stream is
rewritten copy-on-write one segment at a time, each step swapped in
atomically, so it needs free space for one compressed segment only. Readers
always see a whole stream; an interrupted run leaves some segments
compressed, and rerunning it finishes.

`+streamArgHelp+`
`, `
  chronicle compress archive/v1/binance-futures/BTCUSDT/2024-05-01/book
  chronicle compress --codec zstd archive/v1/binance/BTCUSDT/2019-12-01/trades
`, "",
		func(args []string, _ *pflag.FlagSet) error { return runCompress(a, codecName, args) })
	c.Flags().StringVar(&codecName, "codec", "columnar", "`columnar` (.q.col) or zstd (.q.zst)")
	return c
}

func runCompress(a *app, name string, args []string) error {
	if len(args) == 0 {
		return usagef("compress needs a stream directory")
	}
	if err := a.refuseS3("compress"); err != nil {
		return err
	}
	codec, err := ingest.CodecByName(name)
	if err != nil {
		return usagef("--codec: %v", err)
	}
	dirs, err := resolveAll(a, args)
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if err := archive.Compress(a.ctx, nil, dir, archive.Options{Codec: codec}); err != nil {
			return err
		}
		fmt.Fprintf(a.e.stdout, "compressed %s\n", dir)
	}
	return nil
}
