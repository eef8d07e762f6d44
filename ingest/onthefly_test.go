package ingest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/vfs"
)

// failColFS fails the creation of one segment's .q.col.tmp: the segment
// writer's first step for that segment when it encodes as it writes.
type failColFS struct {
	vfs.FS
	name string
}

var errColFS = errors.New("injected: no space for the .q.col")

func (f failColFS) Create(name string) (vfs.File, error) {
	if filepath.Base(name) == f.name {
		return nil, errColFS
	}
	return f.FS.Create(name)
}

// TestCompressOnTheFlyFails: a segment that cannot be compressed fails the
// import, and nothing is published or left behind.
func TestCompressOnTheFlyFails(t *testing.T) {
	for _, seg := range []string{"000000000", "000000002"} { // an early one, and one in the middle
		for _, c := range codecCases[:1] {
			root := t.TempDir()
			o := Options{FS: failColFS{vfs.Default, seg + ".q.col.tmp"}, Root: root, Input: c.input, SegmentSize: c.segSize, Compress: true}
			_, err := Import(t.Context(), o)
			if !errors.Is(err, errColFS) {
				t.Fatalf("segment %s: Import: %v, want the injected error", seg, err)
			}
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".lock") {
					t.Errorf("segment %s: %s left behind", seg, p)
				}
				return nil
			})
			// The same import without the fault publishes.
			o.FS = nil
			if _, err := Import(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, "v1")); err != nil {
				t.Fatal(err)
			}
		}
	}
}
