package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/timespec"
	"github.com/chronicle-archive/chronicle/vfs"
)

func init() { register(newIndexCmd) }

func newIndexCmd(a *app) *cobra.Command {
	var o indexOpts
	c := newCommand(a, "index STREAM [--every N]",
		"(re)write a stream's book checkpoints for fast book queries", `
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

`+streamArgHelp+`
`, `
  chronicle index archive/v1/binance/BTCUSDT/2019-12-01/book
  chronicle index --every 20000 archive/v1/binance-futures/BTCUSDT/2024-05-01/book
`, `
  1 also means nothing changed.
`,
		func(args []string, _ *pflag.FlagSet) error { return runIndex(a, &o, args) })
	o.register(c.Flags())
	return c
}

type indexOpts struct{ every int }

func (o *indexOpts) register(fs *pflag.FlagSet) {
	fs.IntVar(&o.every, "every", book.DefaultEvery, "write a checkpoint every `N` events (and at each segment start)")
}

func runIndex(a *app, o *indexOpts, pos []string) error {
	ctx, e := a.ctx, a.e
	if err := a.refuseS3("index"); err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("index needs one stream: a stream directory or VENUE/SYMBOL/TYPE")
	}
	if o.every <= 0 {
		return usagef("--every %d: must be at least 1", o.every)
	}
	dirs, err := a.resolve(pos[0], timespec.Range{})
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if err := indexOne(ctx, e, filepath.Clean(dir), o.every); err != nil {
			return err
		}
	}
	return nil
}

func indexOne(ctx context.Context, e *env, dir string, every int) error {
	if err := stream.Index(ctx, nil, dir, every); err != nil {
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
	fmt.Fprintf(e.stdout, "indexed %s: %d checkpoints (every %d events and each segment start), %d bytes\n", dir, cf.Len(), every, st.Size())
	return nil
}
