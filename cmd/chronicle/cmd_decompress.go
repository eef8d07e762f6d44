package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/columnar/colseg"
)

func init() { register(newDecompressCmd) }

func newDecompressCmd(a *app) *cobra.Command {
	return newCommand(a, "decompress STREAM...",
		"write a compressed stream's segments back as the exact .q files", `
Decompress turns every NNNNNNNNN.q.col or NNNNNNNNN.q.zst (and its .idx)
segment of a stream back into the NNNNNNNNN.q it was made from, byte for
byte: the stream, meta.json included, is then the one a plain import
writes. Like compress it rewrites the stream copy-on-write one segment at a
time, each step swapped in atomically; an interrupted run leaves a readable
stream, and rerunning it finishes. A damaged block stops it (exit 3, naming
the file and offset) with that segment left as it was.

`+streamArgHelp+`
`, `
  chronicle decompress archive/v1/binance-futures/BTCUSDT/2024-05-01/book
`, "",
		func(args []string, _ *pflag.FlagSet) error {
			if len(args) == 0 {
				return usagef("decompress needs a stream directory")
			}
			dirs, err := resolveAll(a, args)
			if err != nil {
				return err
			}
			for _, dir := range dirs {
				decompress := func(dir string) error {
					return archive.Decompress(a.ctx, nil, dir, archive.Options{Codec: colseg.Codec{}})
				}
				if a.s3 != nil {
					if err := a.s3Rewrite("decompressed", "decompressing", "not compressed", dir, decompress); err != nil {
						return err
					}
					continue
				}
				if err := decompress(dir); err != nil {
					return err
				}
				fmt.Fprintf(a.e.stdout, "decompressed %s\n", dir)
			}
			return nil
		})
}
