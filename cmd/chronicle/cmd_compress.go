package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/s3archive"
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
	codec, err := ingest.CodecByName(name)
	if err != nil {
		return usagef("--codec: %v", err)
	}
	dirs, err := resolveAll(a, args)
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		compress := func(dir string) error { return archive.Compress(a.ctx, nil, dir, archive.Options{Codec: codec}) }
		if a.s3 != nil {
			if err := a.s3Rewrite("compressed", "compressing", "already compressed", dir, compress); err != nil {
				return err
			}
			continue
		}
		if err := compress(dir); err != nil {
			return err
		}
		fmt.Fprintf(a.e.stdout, "compressed %s\n", dir)
	}
	return nil
}

// s3Rewrite runs a local rewrite of a stream (compress, decompress,
// index) on a stream of the S3 archive: on a local copy of its committed
// version, published as a new version (s3archive.Rewrite). It prints
// "<did> DIR", or with why when the rewrite changed nothing and nothing
// was uploaded.
func (a *app) s3Rewrite(did, doing, why, dir string, fn func(localDir string) error) error {
	p, _, ok := archive.PartitionOf(dir)
	if !ok {
		return fmt.Errorf("%s is not a stream directory (<root>/v1/<venue>/<symbol>/<date>/<stream>)", a.show(dir))
	}
	res, err := a.s3.Rewrite(a.ctx, p, fn)
	if errors.Is(err, s3archive.ErrStreamChanged) {
		return fmt.Errorf("%s: stream changed while %s, rerun (nothing committed)", a.show(dir), doing)
	}
	if err != nil {
		return err
	}
	if res.Unchanged {
		fmt.Fprintf(a.out(), "%s %s (%s: nothing changed on S3)\n", did, res.Dir, why)
		return nil
	}
	fmt.Fprintf(a.out(), "%s %s (version %s)\n", did, res.Dir, res.Version)
	return nil
}
