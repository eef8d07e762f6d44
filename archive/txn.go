package archive

import (
	"context"
	"path/filepath"

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

// CompressDir compresses every .q segment of a staging directory.
func CompressDir(ctx context.Context, fsys vfs.FS, dir string) error {
	return compressDir(ctx, vfs.OrDefault(fsys), dir)
}

// WriteLedger records that the stream of p holds m, imported from source,
// and removes the stream's other (replaced) ledger entries.
func WriteLedger(fsys vfs.FS, root string, p Partition, m *Meta, source string, minTS, maxTS uint64) error {
	return writeLedger(vfs.OrDefault(fsys), root, p, m, source, minTS, maxTS)
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
