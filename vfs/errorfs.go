package vfs

import (
	"errors"
	"io"
	"io/fs"
	"sync/atomic"
)

// OpKind names a file-system operation for fault injection.
type OpKind string

// The operations ErrorFS can fail.
const (
	OpCreate OpKind = "create"
	OpOpen   OpKind = "open"
	OpWrite  OpKind = "write"
	OpSync   OpKind = "sync"
	OpClose  OpKind = "close"
	OpRename OpKind = "rename"
	OpRemove OpKind = "remove"
	OpMkdir  OpKind = "mkdir"
	OpLock   OpKind = "lock"
)

// Op describes one operation: what and on which path.
type Op struct {
	Kind OpKind
	Path string
}

// ErrInjected is the error ErrorFS returns for an injected fault.
var ErrInjected = errors.New("vfs: injected fault")

// ErrorFS wraps an FS and fails the operation whose index (counted from 0
// across all mutating operations) equals FailAt, in the manner of Pebble's
// errorfs: a test runs a job with FailAt = 0, 1, 2, ... until the job
// succeeds, checking after each failure that nothing partial is visible.
// Reads are not counted. FailAt < 0 never fails.
type ErrorFS struct {
	FS
	FailAt int64
	// Err is returned for the injected fault; ErrInjected when nil.
	Err error
	n   atomic.Int64
}

// NewErrorFS wraps fsys, failing the failAt'th mutating operation.
func NewErrorFS(fsys FS, failAt int64) *ErrorFS {
	return &ErrorFS{FS: fsys, FailAt: failAt}
}

// Ops reports how many mutating operations have been attempted.
func (e *ErrorFS) Ops() int64 { return e.n.Load() }

func (e *ErrorFS) check(op Op) error {
	i := e.n.Add(1) - 1
	if e.FailAt >= 0 && i == e.FailAt {
		err := e.Err
		if err == nil {
			err = ErrInjected
		}
		return &fs.PathError{Op: string(op.Kind), Path: op.Path, Err: err}
	}
	return nil
}

func (e *ErrorFS) Create(name string) (File, error) {
	if err := e.check(Op{OpCreate, name}); err != nil {
		return nil, err
	}
	f, err := e.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e}, nil
}

func (e *ErrorFS) Rename(o, n string) error {
	if err := e.check(Op{OpRename, n}); err != nil {
		return err
	}
	return e.FS.Rename(o, n)
}

func (e *ErrorFS) RenameNoReplace(o, n string) error {
	if err := e.check(Op{OpRename, n}); err != nil {
		return err
	}
	return e.FS.RenameNoReplace(o, n)
}

func (e *ErrorFS) Exchange(a, b string) error {
	if err := e.check(Op{OpRename, b}); err != nil {
		return err
	}
	return e.FS.Exchange(a, b)
}

func (e *ErrorFS) Link(o, n string) error {
	if err := e.check(Op{OpCreate, n}); err != nil {
		return err
	}
	return e.FS.Link(o, n)
}

func (e *ErrorFS) Remove(name string) error {
	if err := e.check(Op{OpRemove, name}); err != nil {
		return err
	}
	return e.FS.Remove(name)
}

func (e *ErrorFS) RemoveAll(name string) error {
	if err := e.check(Op{OpRemove, name}); err != nil {
		return err
	}
	return e.FS.RemoveAll(name)
}

func (e *ErrorFS) MkdirAll(name string, p fs.FileMode) error {
	if err := e.check(Op{OpMkdir, name}); err != nil {
		return err
	}
	return e.FS.MkdirAll(name, p)
}

func (e *ErrorFS) SyncDir(name string) error {
	if err := e.check(Op{OpSync, name}); err != nil {
		return err
	}
	return e.FS.SyncDir(name)
}

func (e *ErrorFS) Lock(name string) (io.Closer, error) {
	if err := e.check(Op{OpLock, name}); err != nil {
		return nil, err
	}
	return e.FS.Lock(name)
}

type errorFile struct {
	File
	fs *ErrorFS
}

func (f *errorFile) Write(p []byte) (int, error) {
	if err := f.fs.check(Op{OpWrite, f.Name()}); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(Op{OpWrite, f.Name()}); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *errorFile) Sync() error {
	if err := f.fs.check(Op{OpSync, f.Name()}); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *errorFile) Close() error {
	if err := f.fs.check(Op{OpClose, f.Name()}); err != nil {
		f.File.Close()
		return err
	}
	return f.File.Close()
}
