// Package vfs is the small file-system interface that Chronicle's writers go
// through, so that tests can inject faults (see ErrorFS) at any operation.
//
// The OS implementation adds the few primitives a crash-safe archive needs
// beyond package os: directory fsync, atomic directory exchange
// (renameat2 RENAME_EXCHANGE on Linux), rename without replace, and
// non-blocking exclusive locks that the kernel drops when a process dies.
package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is an open file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	Sync() error
	Stat() (fs.FileInfo, error)
	Name() string
}

// FS is the set of file-system operations Chronicle uses.
type FS interface {
	// Create creates or truncates name for reading and writing.
	Create(name string) (File, error)
	// Open opens name read-only.
	Open(name string) (File, error)
	// Rename renames, replacing a file at newname.
	Rename(oldname, newname string) error
	// RenameNoReplace renames and fails with fs.ErrExist if newname exists.
	RenameNoReplace(oldname, newname string) error
	// Exchange atomically swaps two existing paths.
	Exchange(a, b string) error
	// Link makes newname a hard link to oldname. Chronicle's files are
	// immutable once published, so a rewrite of a stream can share them.
	Link(oldname, newname string) error
	Remove(name string) error
	RemoveAll(name string) error
	MkdirAll(name string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir fsyncs a directory so that the names in it are durable.
	SyncDir(name string) error
	// Lock takes an exclusive, non-blocking lock on the file name (created
	// if absent). It fails with ErrLocked when another holder has it.
	Lock(name string) (io.Closer, error)
}

// ErrLocked is returned by Lock when the lock is held elsewhere.
var ErrLocked = errors.New("vfs: locked by another process")

// Default is the operating system's file system.
var Default FS = osFS{}

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}
func (osFS) Open(name string) (File, error)            { return os.Open(name) }
func (osFS) Rename(oldname, newname string) error      { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error                  { return os.Remove(name) }
func (osFS) Link(oldname, newname string) error        { return os.Link(oldname, newname) }
func (osFS) RemoveAll(name string) error               { return os.RemoveAll(name) }
func (osFS) MkdirAll(name string, p fs.FileMode) error { return os.MkdirAll(name, p) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return os.ReadDir(name)
}
func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (o osFS) RenameNoReplace(oldname, newname string) error {
	return renameNoReplace(oldname, newname)
}
func (osFS) Exchange(a, b string) error { return exchange(a, b) }
func (osFS) Lock(name string) (io.Closer, error) {
	return lockFile(name)
}

// WriteFileAtomic publishes data at name: it writes name+".tmp", fsyncs it,
// renames it over name and fsyncs the directory. A crash leaves either the
// old file or the new one (and perhaps a stray .tmp), never a torn one.
func WriteFileAtomic(fsys FS, name string, data []byte) error {
	fsys = OrDefault(fsys)
	tmp := name + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		fsys.Remove(tmp)
		return err
	}
	return fsys.SyncDir(filepath.Dir(name))
}

// ReadFile reads a whole file through fsys.
func ReadFile(fsys FS, name string) ([]byte, error) {
	fsys = OrDefault(fsys)
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Sized from Stat, as os.ReadFile does: io.ReadAll's doubling buffers
	// allocate (and page in) about 3.5 times the file, which was most of
	// the memory of a short command (book --at reads the checkpoint file).
	// One byte more, so that a file that grew since is still read whole.
	var b []byte
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > 0 && st.Size() < 1<<30 {
		b = make([]byte, 0, st.Size()+1)
	}
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// OrDefault returns fsys, or Default when fsys is nil, so that library
// callers may pass nil for the real file system.
func OrDefault(fsys FS) FS {
	if fsys == nil {
		return Default
	}
	return fsys
}

// MkdirAllSync is MkdirAll that also fsyncs the parent of every directory
// it creates, so that after a crash the new path still exists: a file
// fsynced into a directory whose own entry was never synced can vanish.
func MkdirAllSync(fsys FS, dir string, perm fs.FileMode) error {
	if _, err := fsys.Stat(dir); err == nil {
		return nil
	}
	// Find the first missing ancestor, create down from there.
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := fsys.MkdirAll(dir, perm); err != nil {
		return err
	}
	for _, d := range missing {
		if err := fsys.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// Identity is implemented by the FileInfo of a file system other than the
// OS's that can tell whether two FileInfos describe the same file (for
// example one that pins a directory to a stored version).
type Identity interface {
	SameFile(other fs.FileInfo) bool
}

// SameFile reports whether a and b describe the same file: by a's
// Identity when it has one, else as os.SameFile (which holds only for the
// os package's own FileInfo). Readers use it to tell a directory replaced
// under them.
func SameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return false
	}
	if id, ok := a.(Identity); ok {
		return id.SameFile(b)
	}
	return os.SameFile(a, b)
}
