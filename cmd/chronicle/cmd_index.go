package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/vfs"
)

func init() {
	register(&command{
		name:    "index",
		summary: "(re)write a stream's book checkpoints for fast book queries",
		usage:   "STREAM_DIR [--every N]",
		help: `
Index replays a stream and writes its book checkpoints (checkpoints.ckpt):
the complete book at the start of every segment and every N events, so that
'chronicle book --at' and other book queries start from the nearest
checkpoint instead of the beginning of the day. Import writes them too
(--checkpoint-every); use index for a stream imported without them, or to
change N. Compressed and uncompressed streams alike.

The stream is rewritten copy-on-write, like 'chronicle compress': the other
files are shared (hard links), meta.json gets a new manifest, and the new
directory replaces the old one atomically, so readers see the old
checkpoints or the new ones, never a mix, and an interrupted run changes
nothing.

Examples:

	chronicle index archive/v1/binance/BTCUSDT/2019-12-01/book
	chronicle index --every 20000 archive/v1/binance-futures/BTCUSDT/2024-05-01/book

Exit status: 0 written, 1 error (nothing changed), 2 bad usage, 3 a damaged
record (run 'chronicle verify').
`,
		run: runIndex,
	})
	flagDefs["index"] = func(fs *flag.FlagSet) { new(indexOpts).register(fs) }
}

type indexOpts struct{ every int }

func (o *indexOpts) register(fs *flag.FlagSet) {
	fs.IntVar(&o.every, "every", book.DefaultEvery, "write a checkpoint every `N` events (and at each segment start)")
}

func runIndex(ctx context.Context, e *env, args []string) error {
	var o indexOpts
	fs := flag.NewFlagSet("index", flag.ContinueOnError)
	o.register(fs)
	pos, err := parseArgs(commands["index"], e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("index needs one stream directory")
	}
	if o.every <= 0 {
		return usagef("--every %d: must be at least 1", o.every)
	}
	dir := filepath.Clean(pos[0])
	if err := stream.Index(ctx, nil, dir, o.every); err != nil {
		return err
	}
	// Report what is now published (read back, so the line is the truth).
	path := filepath.Join(dir, book.FileName)
	f, err := vfs.Default.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	cf, err := book.OpenCheckpointFile(f, st.Size())
	if err != nil {
		return &corruptError{fmt.Errorf("%s: %w", path, err)}
	}
	fmt.Fprintf(e.stdout, "indexed %s: %d checkpoints (every %d events and each segment start), %d bytes\n", dir, cf.Len(), o.every, st.Size())
	return nil
}
