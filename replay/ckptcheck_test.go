package replay_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/columnar/colseg"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// TestListedFile: the checkpoint file, the side file BookAt reads while it
// is hashed (archive.Stream.OpenListedFile), is read only as the manifest
// lists it: in pieces, or whole (ReadListedFile). Any other content or size
// is a *segment.CorruptionError naming it, from Check at the latest,
// before any of it is trusted; an absent file is fs.ErrNotExist.
func TestListedFile(t *testing.T) {
	dir := importCSV(t, binanceCSV, importCfg{every: 2, compress: true})
	path := filepath.Join(dir, book.FileName)
	listed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, fsys := range []vfs.FS{nil, remoteFS{vfs.Default}} {
		remote := fsys != nil
		listedFileCases(t, dir, path, listed, fsys, remote)
	}
}

// remoteFS stands for an object store's FS (s3archive): its files are not
// *os.File, so a ListedFile reads them whole, at once.
type remoteFS struct{ vfs.FS }

type remoteFile struct{ vfs.File }

func (r remoteFS) Open(name string) (vfs.File, error) {
	f, err := r.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return remoteFile{f}, nil
}

func listedFileCases(t *testing.T, dir, path string, listed []byte, fsys vfs.FS, remote bool) {
	n := int64(len(listed))
	other := bytes.Clone(listed)
	other[n/2] ^= 1
	for _, tc := range []struct {
		name    string
		disk    []byte // nil: no file
		openErr string // from OpenListedFile and ReadListedFile; "" for none
		sumErr  string // from Check and ReadListedFile (and OpenListedFile when remote)
	}{
		{name: "as listed", disk: listed},
		{name: "one bit differs", disk: other, sumErr: "blake3 differs"},
		{name: "shorter", disk: listed[:n-1], openErr: "meta.json lists"},
		{name: "longer", disk: append(bytes.Clone(listed), 0), openErr: "meta.json lists"},
		{name: "absent"},
	} {
		t.Run(fmt.Sprintf("%s, remote %v", tc.name, remote), func(t *testing.T) {
			os.Remove(path)
			if tc.disk != nil {
				if err := os.WriteFile(path, tc.disk, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, err := archive.OpenStream(fsys, dir, archive.Options{Codec: colseg.Codec{}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			isErr := func(what string, err error, want string) {
				t.Helper()
				var ce *segment.CorruptionError
				switch {
				case tc.disk == nil:
					if !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("%s: %v, want fs.ErrNotExist", what, err)
					}
				case want == "" && err != nil:
					t.Fatalf("%s: %v", what, err)
				case want != "" && (!errors.As(err, &ce) || ce.Path != path || !strings.Contains(err.Error(), want)):
					t.Fatalf("%s: %v, want a corruption of %s: %q", what, err, path, want)
				}
			}
			b, err := s.ReadListedFile(book.FileName)
			isErr("ReadListedFile", err, tc.openErr+tc.sumErr)
			if err == nil && !bytes.Equal(b, listed) {
				t.Fatal("ReadListedFile: not the file's bytes")
			}
			lf, err := s.OpenListedFile(book.FileName)
			if remote {
				isErr("OpenListedFile", err, tc.openErr+tc.sumErr)
			} else {
				isErr("OpenListedFile", err, tc.openErr)
			}
			if err != nil {
				return
			}
			defer lf.Close()
			// Pieces as a checkpoint reader takes them: the ends, then one
			// from the middle.
			for _, off := range []int64{0, n - 32, n / 2} {
				p := make([]byte, 32)
				if k, err := lf.ReadAt(p, off); k != len(p) {
					t.Fatalf("ReadAt(%d): %d, %v", off, k, err)
				}
				if !bytes.Equal(p, tc.disk[off:off+32]) {
					t.Fatalf("ReadAt(%d): not the file's bytes", off)
				}
			}
			lf.Start()
			if _, err := lf.ReadAt(make([]byte, 1), 0); !remote && err == nil {
				t.Fatal("ReadAt after Start: no error (the hash would not compare it)")
			}
			isErr("Check", lf.Check(), tc.sumErr)
			isErr("Check again", lf.Check(), tc.sumErr)
		})
	}
}

// TestListedFileChanged: what ReadAt returned must be what was hashed, so a
// file changed in place between a read and the hash (Chronicle never does
// it) is caught even when the hash is the manifest's.
func TestListedFileChanged(t *testing.T) {
	dir := importCSV(t, binanceCSV, importCfg{every: 2})
	path := filepath.Join(dir, book.FileName)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(orig))
	for _, tc := range []struct {
		name string
		at   int64 // the byte changed while it is read; -1: none
		off  int64 // the read
		len  int
	}{
		{"unchanged", -1, n / 3, 100},
		{"first byte", 0, 0, 32},
		{"in the middle", n/2 + 5, n / 2, 64},
		{"last byte", n - 1, n - 32, 32},
	} {
		s, err := archive.OpenStream(nil, dir)
		if err != nil {
			t.Fatal(err)
		}
		lf, err := s.OpenListedFile(book.FileName)
		if err != nil {
			t.Fatal(err)
		}
		changed := orig
		if tc.at >= 0 {
			changed = bytes.Clone(orig)
			changed[tc.at] ^= 0x40
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(changed, 0) // in place, as nothing of Chronicle's writes
		if _, err := lf.ReadAt(make([]byte, tc.len), tc.off); err != nil {
			t.Fatal(err)
		}
		f.WriteAt(orig, 0) // back to the listed bytes before the hash
		f.Close()
		lf.Start()
		err = lf.Check()
		var ce *segment.CorruptionError
		if tc.at < 0 && err != nil || tc.at >= 0 && (!errors.As(err, &ce) || ce.Path != path || !strings.Contains(err.Error(), "changed while it was read")) {
			t.Errorf("%s: Check: %v", tc.name, err)
		}
		lf.Close()
		s.Close()
	}
}
