//go:build !linux

package vfs

import (
	"io"
	"io/fs"
	"os"
)

// Outside Linux there is no atomic exchange or no-replace rename in package
// os; these fallbacks keep the tool usable there with a small window in
// which a reader can find the path absent.

func renameNoReplace(oldname, newname string) error {
	if _, err := os.Lstat(newname); err == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrExist}
	}
	return os.Rename(oldname, newname)
}

func exchange(a, b string) error {
	tmp := b + ".xchg"
	if err := os.Rename(b, tmp); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		os.Rename(tmp, b)
		return err
	}
	return os.Rename(tmp, a)
}

type fileCloser struct{ f *os.File }

func (l fileCloser) Close() error { return l.f.Close() }

func lockFile(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return fileCloser{f}, nil
}
