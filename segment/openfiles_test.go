package segment

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/chronicle-archive/chronicle/vfs"
)

// openCountFS counts the files open at once.
type openCountFS struct {
	vfs.FS
	open, peak int
}

type openCountFile struct {
	vfs.File
	c *openCountFS
}

func (c *openCountFS) Open(name string) (vfs.File, error) {
	f, err := c.FS.Open(name)
	if err != nil {
		return nil, err
	}
	c.open++
	c.peak = max(c.peak, c.open)
	return &openCountFile{f, c}, nil
}

func (f *openCountFile) Close() error { f.c.open--; return f.File.Close() }

// TestOpenFiles: the reader holds at most MaxOpenSegments segment files
// (and, for a moment, the index it reads), and a file that does not match
// its spec is a *CorruptionError naming it when the reader reaches the
// batch of files it is in, even past the first batch.
func TestOpenFiles(t *testing.T) {
	n := 3*MaxOpenSegments + 2
	recs := genRecs(7*n, 3)
	for i := range recs {
		recs[i].payload = bytes.Repeat([]byte{byte(i)}, 150) // 7 to a segment
	}
	for _, compressed := range []bool{false, true} {
		base := newMemFS()
		writeRecs(t, "s", WriterOptions{FS: base, SegmentSize: 8 * 256}, recs)
		if compressed {
			compressAll(t, base, "s", CompressOptions{})
		}
		ls, err := listStream(base, "s")
		if err != nil || len(ls) != n {
			t.Fatalf("%d segments, %v", len(ls), err)
		}
		specs := func() []SegmentSpec {
			var out []SegmentSpec
			for _, l := range ls {
				out = append(out, l.spec)
			}
			return out
		}
		last := n - 1
		for _, tc := range []struct {
			name   string
			damage func(m *memFS, specs []SegmentSpec)
			kind   error
			path   string // base name the error names
			read   int    // records read before it: those of the batches before
		}{
			{"intact", func(*memFS, []SegmentSpec) {}, nil, "", 7 * n},
			{"last file shorter than its spec", func(_ *memFS, sp []SegmentSpec) { sp[last].Size += 64 },
				ErrTruncated, ls[last].spec.name(), 7 * (last / MaxOpenSegments * MaxOpenSegments)},
			{"last file longer than its spec", func(_ *memFS, sp []SegmentSpec) { sp[last].Size -= 64 },
				ErrTrailingData, ls[last].spec.name(), 7 * (last / MaxOpenSegments * MaxOpenSegments)},
			{"file missing past the first batch", func(m *memFS, sp []SegmentSpec) { m.Remove("s/" + sp[MaxOpenSegments+1].name()) },
				ErrMissingSegment, ls[MaxOpenSegments+1].spec.name(), 7 * MaxOpenSegments},
		} {
			t.Run(tc.name+map[bool]string{false: "", true: " (compressed)"}[compressed], func(t *testing.T) {
				m := &openCountFS{FS: cloneFS(base)}
				sp := specs()
				tc.damage(m.FS.(*memFS), sp)
				r, err := OpenFiles("s", sp, ReaderOptions{FS: m})
				if err != nil {
					t.Fatal(err)
				}
				got, err := drain(r)
				r.Close()
				if len(got) != tc.read {
					t.Errorf("read %d records, want %d", len(got), tc.read)
				}
				if tc.kind == nil {
					if err != nil {
						t.Fatal(err)
					}
				} else if ce := corruption(t, err, tc.kind); filepath.Base(ce.Path) != tc.path {
					t.Errorf("names %s, want %s", ce.Path, tc.path)
				}
				if m.peak > MaxOpenSegments+1 || m.open != 0 {
					t.Errorf("%d files open at once, %d left open; want at most %d, 0", m.peak, m.open, MaxOpenSegments+1)
				}
			})
		}
	}
}

func (sp SegmentSpec) name() string {
	if sp.Compressed {
		return CompressedName(sp.ID)
	}
	return Name(sp.ID)
}

func cloneFS(m *memFS) *memFS {
	c := newMemFS()
	for k, v := range m.files {
		c.files[k] = &memData{b: bytes.Clone(v.b)}
	}
	return c
}
