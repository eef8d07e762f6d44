package main

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/batch"
	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/s3archive"
	"github.com/chronicle-archive/chronicle/tardis"
	"github.com/chronicle-archive/chronicle/vfs"
)

// An archive root s3://BUCKET/PREFIX (docs/S3.md) is read through
// s3archive's file system, installed as vfs.Default for the command, so
// that every reader works on it unchanged; its paths are the virtual
// /s3:/BUCKET/PREFIX/..., shown as s3:// URLs in messages. Imports are made
// into a local temporary archive and then published to the bucket.

// s3Args rewrites s3:// arguments (a stream directory, --archive-root=...)
// to the virtual paths the readers take.
func s3Args(args []string) []string {
	out := make([]string, len(args))
	for i, arg := range args {
		if name, val, ok := strings.Cut(arg, "="); ok && strings.HasPrefix(name, "--") && strings.HasPrefix(val, "s3://") {
			out[i] = name + "=" + s3archive.VirtualPath(val)
			continue
		}
		out[i] = s3archive.VirtualPath(arg)
	}
	return out
}

// openS3 opens the archive when the root is on S3, and installs its file
// system; the returned function puts the previous vfs.Default back.
func (a *app) openS3() (restore func(), err error) {
	root := archiveRoot(a.e, a.rootFlag)
	if !s3archive.IsURL(root) {
		return func() {}, nil
	}
	arch, err := s3archive.Open(a.ctx, root)
	if err != nil {
		return nil, err
	}
	s3CrashHook(arch)
	a.s3 = arch
	prev := vfs.Default
	vfs.Default = arch.FS(prev)
	// Messages name objects by their s3:// URLs, not the virtual paths.
	e := *a.e
	e.stderr = &displayWriter{w: a.e.stderr, a: arch}
	e.isTerminal = false
	a.e = &e
	return func() { vfs.Default = prev }, nil
}

// s3CrashHook is set by crashhook.go (tests' builds): it may make the
// archive kill the process before one of its uploads.
var s3CrashHook = func(*s3archive.Archive) {}

// show is a path as the user should see it.
func (a *app) show(path string) string {
	if a.s3 != nil {
		return a.s3.Display(path)
	}
	return path
}

// out is standard output for the commands that print paths (ls, verify).
func (a *app) out() io.Writer {
	if a.s3 != nil {
		return &displayWriter{w: a.e.stdout, a: a.s3}
	}
	return a.e.stdout
}

// displayWriter shows virtual paths as s3:// URLs; messages are written
// whole, one Write each.
type displayWriter struct {
	w io.Writer
	a *s3archive.Archive
}

func (d *displayWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(d.w, d.a.Display(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// s3Import imports one file into the S3 archive: the ledger first (a file
// it lists for this stream is "already imported" at once, without work),
// then ingest.Import into a local temporary archive, then Publish.
// guess is the partition the file's name and the flags give, if they give
// all of it.
func (a *app) s3Import(ctx context.Context, o ingest.Options, guess *archive.Partition) (res *ingest.Result, already bool, err error) {
	if guess != nil && !o.Force {
		if st, serr := os.Stat(o.Input); serr == nil && st.Mode().IsRegular() {
			hash, _, err := archive.HashFile(nil, o.Input)
			if err != nil {
				return nil, false, err
			}
			if _, ok, err := a.s3.LedgerHas(ctx, *guess, hash); err != nil {
				return nil, false, err
			} else if ok {
				return &ingest.Result{Partition: *guess, Dir: guess.Dir(a.root()), FileHash: hash}, true, nil
			}
		}
	}
	tmp, err := os.MkdirTemp("", "chronicle-s3-import-")
	if err != nil {
		return nil, false, err
	}
	defer os.RemoveAll(tmp)
	o.Root = tmp
	res, err = ingest.Import(ctx, o)
	if err != nil {
		return nil, false, err
	}
	pub, err := a.s3.Publish(ctx, tmp, res.Partition, o.Force)
	if err != nil {
		return nil, false, err
	}
	res.Dir = pub.Dir
	return res, pub.AlreadyImported, nil
}

// s3NoData publishes the no-data ledger entry of Tardis's empty file.
func (a *app) s3NoData(ctx context.Context, base ingest.Options, in Input, r *batch.FileResult) error {
	tmp, err := os.MkdirTemp("", "chronicle-s3-import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	local := base
	local.Root = tmp
	if err := recordNoData(local, in, r); err != nil {
		return err
	}
	p, ok := namePartition(in, base.Stream)
	if !ok {
		return nil
	}
	_, err = a.s3.Publish(ctx, tmp, p, base.Force)
	return err
}

// singleGuess is the partition a single file's name, with the flags
// filling in or overriding it, gives, if it gives all of it.
func singleGuess(o *importOpts, path string) *archive.Partition {
	in := Input{Path: path, Info: tardis.ParsePath(path)}
	for _, f := range []struct {
		v     string
		field *string
	}{{o.venue, &in.Info.Exchange}, {o.symbol, &in.Info.Symbol}, {o.date, &in.Info.Date}, {o.typ, &in.Info.DataType}} {
		if f.v != "" {
			*f.field = f.v
		}
	}
	p, ok := namePartition(in, o.stream)
	if !ok {
		return nil
	}
	return &p
}
