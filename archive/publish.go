package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// ErrBusy is returned when another process holds the partition's lock.
var ErrBusy = errors.New("another chronicle process is writing this stream")

// txn is one change to a stream directory: made in a staging directory,
// published atomically by publish. Only one txn per partition runs at a
// time (lock file).
type txn struct {
	fsys    vfs.FS
	root    string
	p       Partition
	dir     string // the stream directory
	staging string
	lock    io.Closer
	done    bool // the staging path is no longer ours: published or aborted
}

// begin takes the partition lock, sweeps what a crashed writer left behind
// and creates an empty staging directory.
func begin(fsys vfs.FS, root string, p Partition) (*txn, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	t := &txn{fsys: fsys, root: root, p: p, dir: p.Dir(root), staging: p.stagingPath(root)}
	for _, path := range []string{t.dir, t.staging, p.lockPath(root)} {
		if err := noSymlinks(root, path); err != nil {
			return nil, err
		}
	}
	parent := filepath.Dir(t.dir)
	if err := vfs.MkdirAllSync(fsys, parent, 0o755); err != nil {
		return nil, err
	}
	lock, err := fsys.Lock(p.lockPath(root))
	if errors.Is(err, vfs.ErrLocked) {
		return nil, fmt.Errorf("%s: %w (lock %s); try again when it has finished", p, ErrBusy, p.lockPath(root))
	}
	if err != nil {
		return nil, err
	}
	t.lock = lock
	// A staging directory, or an old stream left by a crash between the
	// exchange and its removal, is garbage now that we hold the lock.
	if err := fsys.RemoveAll(t.staging); err != nil {
		t.abort()
		return nil, err
	}
	if err := sweepTmp(fsys, t.dir); err != nil {
		t.abort()
		return nil, err
	}
	if err := fsys.MkdirAll(t.staging, 0o755); err != nil {
		t.abort()
		return nil, err
	}
	return t, nil
}

// sideFile is the one file besides segments and meta.json that Chronicle
// writes into a stream directory (a book stream's checkpoints): its .tmp
// is Chronicle's to sweep.
const sideFile = "checkpoints.ckpt"

// sweepTmp removes the *.tmp files a crashed writer may have left in a
// stream directory, and only those Chronicle itself names (segment files,
// meta.json, checkpoints); they never hold published data.
func sweepTmp(fsys vfs.FS, dir string) error {
	ents, err := fsys.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".tmp")
		if _, _, seg := segment.ParseName(base); ok && e.Type().IsRegular() && (seg || base == MetaName || base == sideFile) {
			if err := fsys.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// linkExisting hard-links the current stream's files into the staging
// directory, for rewrites that change only some files.
func (t *txn) linkExisting() error {
	ents, err := t.fsys.ReadDir(t.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == MetaName {
			continue
		}
		if err := t.fsys.Link(filepath.Join(t.dir, e.Name()), filepath.Join(t.staging, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// publish writes meta.json (with a fresh manifest) into the staging
// directory and makes it the stream directory in one atomic step.
func (t *txn) publish(m *Meta) error { return t.publishKnown(m, nil) }

// publishKnown is publish, with the manifest entries of files whose hash
// is already known (see manifestWith).
func (t *txn) publishKnown(m *Meta, known map[string]FileEntry) error {
	files, err := manifestWith(t.fsys, t.staging, known)
	if err != nil {
		return err
	}
	m.Files = files
	if err := writeJSON(t.fsys, filepath.Join(t.staging, MetaName), m); err != nil {
		return err
	}
	if err := t.fsys.SyncDir(t.staging); err != nil {
		return err
	}
	parent := filepath.Dir(t.dir)
	if _, err := t.fsys.Stat(t.dir); err == nil {
		// Swap: readers that opened the old files keep reading them.
		if err := t.fsys.Exchange(t.staging, t.dir); err != nil {
			return err
		}
	} else if err := t.fsys.RenameNoReplace(t.staging, t.dir); err != nil {
		return err
	}
	// The rename is the commit point: from here the new stream is what
	// readers see, so nothing may treat it as unpublished.
	t.done = true
	if err := t.fsys.SyncDir(parent); err != nil {
		return &notDurableError{t.dir, err}
	}
	// The staging path now holds the old stream (or nothing); a failure to
	// remove it is harmless, the next writer sweeps it.
	t.fsys.RemoveAll(t.staging)
	return nil
}

// notDurableError reports a stream that was published (readers see it) but
// whose directory entry could not be fsynced: a power loss might still undo
// it. Rerunning the same command makes it durable and writes the ledger.
type notDurableError struct {
	dir string
	err error
}

func (e *notDurableError) Error() string {
	return fmt.Sprintf("%s published, but fsync of its directory failed (rerun to make it durable): %v", e.dir, e.err)
}

func (e *notDurableError) Unwrap() error { return e.err }

// abort removes the staging directory and releases the lock. It is safe
// after publish and after abort (once the lock is gone, the staging path
// may be another writer's).
func (t *txn) abort() {
	if !t.done {
		t.fsys.RemoveAll(t.staging)
		t.done = true
	}
	if t.lock != nil {
		t.lock.Close()
		t.lock = nil
	}
}
