package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/s3archive"
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
  chronicle index --every 5000 archive/v1/binance-futures/BTCUSDT/2024-05-01/book
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
		dir = filepath.Clean(dir)
		if a.s3 != nil {
			if err := a.s3IndexOne(dir, o.every); err != nil {
				return err
			}
			continue
		}
		if err := indexOne(ctx, e, dir, o.every); err != nil {
			return err
		}
	}
	return nil
}

func indexOne(ctx context.Context, e *env, dir string, every int) error {
	if err := stream.Index(ctx, nil, dir, every); err != nil {
		return err
	}
	return indexReport(e.stdout, dir, every, "")
}

// s3IndexOne indexes a local copy of a stream of the S3 archive and
// publishes it as a new version (s3Rewrite), then reports as indexOne
// does, from what is now committed.
func (a *app) s3IndexOne(dir string, every int) error {
	p, _, ok := archive.PartitionOf(dir)
	if !ok {
		return fmt.Errorf("%s is not a stream directory (<root>/v1/<venue>/<symbol>/<date>/<stream>)", a.show(dir))
	}
	res, err := a.s3.Rewrite(a.ctx, p, func(local string) error { return stream.Index(a.ctx, nil, local, every) })
	if errors.Is(err, s3archive.ErrStreamChanged) {
		return fmt.Errorf("%s: stream changed while indexing, rerun (nothing committed)", a.show(dir))
	}
	if err != nil {
		return err
	}
	note := " (version " + res.Version + ")"
	if res.Unchanged {
		note = " (the same checkpoints: nothing changed on S3)"
	}
	return indexReport(a.out(), dir, every, note)
}

// indexReport prints what is now published (read back, so the line is
// the truth).
func indexReport(w io.Writer, dir string, every int, note string) error {
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
	fmt.Fprintf(w, "indexed %s: %d checkpoints (every %d events and each segment start), %d bytes%s\n", dir, cf.Len(), every, st.Size(), note)
	return nil
}
