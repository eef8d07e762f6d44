package archive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"time"

	"github.com/chronicle-archive/chronicle/vfs"
)

// Txn is one change to a stream directory, for writers above the archive
// (package ingest): it holds the partition's lock from Begin until Publish
// or Abort, and stages the new stream beside the old one.
type Txn struct{ t *txn }

// Begin takes p's lock, sweeps what a crashed writer left and creates an
// empty staging directory. A partition another process is writing is
// ErrBusy.
func Begin(fsys vfs.FS, root string, p Partition) (*Txn, error) {
	t, err := begin(vfs.OrDefault(fsys), root, p)
	if err != nil {
		return nil, err
	}
	return &Txn{t}, nil
}

// Staging is the directory the new stream is written into.
func (x *Txn) Staging() string { return x.t.staging }

// Dir is the stream directory.
func (x *Txn) Dir() string { return x.t.dir }

// Existing reads what the stream holds (nil: nothing). Without force, a
// directory that is not a readable Chronicle stream is an error.
func (x *Txn) Existing(force bool) (*Meta, error) { return checkExisting(x.t, force) }

// Publish writes m (with a fresh manifest, taking known entries as they
// are, see manifestWith) into the staging directory and makes it the
// stream in one atomic step.
func (x *Txn) Publish(m *Meta, known map[string]FileEntry) error { return x.t.publishKnown(m, known) }

// Abort removes the staging directory and releases the lock; after
// Publish it only releases the lock. It is safe to call more than once.
func (x *Txn) Abort() { x.t.abort() }

// SyncParent fsyncs the directory holding the stream directory, so that a
// stream published just before a crash is durable.
func (x *Txn) SyncParent() error { return x.t.fsys.SyncDir(filepath.Dir(x.t.dir)) }

// CompressDir compresses every .q segment of a staging directory, with the
// Options' Codec (.q.col), or without one to .q.zst.
func CompressDir(ctx context.Context, fsys vfs.FS, dir string, opts ...Options) error {
	return compressDir(ctx, vfs.OrDefault(fsys), dir, codecOf(opts))
}

// WriteLedger records that the stream of p holds m, imported from source,
// and removes the stream's other (replaced) ledger entries.
func WriteLedger(fsys vfs.FS, root string, p Partition, m *Meta, source string, minTS, maxTS uint64) error {
	return writeLedger(vfs.OrDefault(fsys), root, p, m, source, minTS, maxTS)
}

// LedgerMatches reports whether l records source as it is: the same
// absolute path or base name (a tree moved elsewhere), size and
// modification time. An entry without size and mtime matches nothing.
func LedgerMatches(l *Ledger, source string, size int64, mtime time.Time) bool {
	if l.SourceSize == 0 && l.SourceMtimeNS == 0 || l.SourceSize != size || l.SourceMtimeNS != mtime.UnixNano() {
		return false
	}
	abs, err := filepath.Abs(source)
	return err == nil && l.SourcePath == abs || filepath.Base(l.SourcePath) == filepath.Base(source)
}

// LedgerCurrent is LedgerMatches for source as it is on fsys now; a
// source that is not a regular file (a pipe) has nothing to record.
func LedgerCurrent(fsys vfs.FS, l *Ledger, source string) bool {
	st, err := vfs.OrDefault(fsys).Stat(source)
	return err != nil || !st.Mode().IsRegular() || LedgerMatches(l, source, st.Size(), st.ModTime())
}

// WriteNoDataLedger records that source, with blake3 hash, is an empty
// input (Tardis's file of a day without data) for the stream of p, which
// is not published. The stream's other entries are left alone: they
// describe data imported from another file.
func WriteNoDataLedger(fsys vfs.FS, root string, p Partition, hash, source string) error {
	fsys = vfs.OrDefault(fsys)
	l := &Ledger{FileHash: hash, Venue: p.Venue, Symbol: p.Symbol, Date: p.Date, Stream: p.Stream, Status: LedgerNoData}
	return putLedger(fsys, root, p, l, source)
}

// ReadLedger reads the stream's ledger entry of the input with this hash.
func ReadLedger(fsys vfs.FS, root string, p Partition, hash string) (*Ledger, error) {
	return readLedger(vfs.OrDefault(fsys), root, p, hash)
}

// RemoveStaleLedgers deletes the stream's ledger entries other than keep.
func RemoveStaleLedgers(fsys vfs.FS, root string, p Partition, keep string) error {
	return removeStaleLedgers(vfs.OrDefault(fsys), root, p, keep)
}

// CheckName refuses NUL and other control characters in a name.
func CheckName(what, v string) error { return checkName(what, v) }

// NoSymlinks refuses a path under root any component of which, below
// root, is a symbolic link: Chronicle never writes or deletes through one.
func NoSymlinks(root, path string) error { return noSymlinks(root, path) }

// checkExisting reads what the stream holds (nil: nothing). Without
// --force, a directory that is not a readable Chronicle stream is refused
// before any work.
func checkExisting(t *txn, force bool) (*Meta, error) {
	old, err := ReadMeta(t.fsys, t.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := t.fsys.Stat(t.dir); serr == nil && !force {
			return nil, fmt.Errorf("%s exists but has no %s: not a Chronicle stream; use --force to replace it", t.dir, MetaName)
		}
		return nil, nil
	case err != nil:
		if force {
			return nil, nil
		}
		return nil, fmt.Errorf("%w; use --force to replace the stream", err)
	}
	return old, nil
}

func writeLedger(fsys vfs.FS, root string, p Partition, m *Meta, source string, minTS, maxTS uint64) error {
	l := &Ledger{
		FileHash: m.SourceHash, Rows: m.Rows, Groups: m.Groups,
		Segments: m.Segments, MinTSNS: minTS, MaxTSNS: maxTS,
		Venue: p.Venue, Symbol: p.Symbol, Date: p.Date, Stream: p.Stream, Events: m.Events,
	}
	if err := putLedger(fsys, root, p, l, source); err != nil {
		return err
	}
	return removeStaleLedgers(fsys, root, p, m.SourceHash)
}

// putLedger writes l, filling in the source's absolute path, size and
// mtime and the time. The stat is taken now, after the import read the
// file and checked that its size did not change: a file changed since has
// another mtime, and a rerun reads it again.
func putLedger(fsys vfs.FS, root string, p Partition, l *Ledger, source string) error {
	dir := p.LedgerDir(root)
	if err := noSymlinks(root, dir); err != nil {
		return err
	}
	if err := vfs.MkdirAllSync(fsys, dir, 0o755); err != nil {
		return err
	}
	if st, err := fsys.Stat(source); err == nil && st.Mode().IsRegular() {
		l.SourceSize, l.SourceMtimeNS = st.Size(), st.ModTime().UnixNano()
	}
	if abs, err := filepath.Abs(source); err == nil {
		source = abs
	}
	l.SourcePath, l.ImportedAtNS = source, time.Now().UnixNano()
	return writeJSON(fsys, p.LedgerPath(root, l.FileHash), l)
}

// NSTime converts a timestamp in ns since the epoch to a UTC time.Time,
// refusing what an int64 ns count cannot hold (from 2262-04-11 on) rather
// than wrapping to a date in 1677..1970.
func NSTime(ns uint64) (time.Time, error) {
	if ns > math.MaxInt64 {
		return time.Time{}, fmt.Errorf("timestamp %d ns is past 2262-04-11, the last instant a signed 64-bit ns count holds", ns)
	}
	return time.Unix(0, int64(ns)).UTC(), nil
}
