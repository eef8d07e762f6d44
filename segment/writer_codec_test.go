package segment_test

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/columnar/colseg"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// files returns the names and bytes of the files in dir.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// TestWriterCodec: a writer with a Codec publishes, segment by segment,
// exactly the .q.col files that compressing the .q files of a plain
// writer gives, and never a .q; they read back as the same records.
func TestWriterCodec(t *testing.T) {
	for _, tc := range []struct {
		name    string
		segSize int64
		n       int
		big     bool
	}{
		{"several segments", 3 << 20, 30_000, false},
		{"a record longer than a block", 3 << 20, 20_000, true},
		{"one small segment", 64 << 20, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qdir := colStream(t, tc.segSize, tc.n, tc.big)
			want := files(t, toColumnar(t, qdir, colseg.Codec{}))
			dir := t.TempDir()
			var sealed []segment.PublishedFile
			opts := segment.WriterOptions{SegmentSize: tc.segSize, FirstSeq: 1, Codec: colseg.Codec{},
				OnSeal: func(p segment.PublishedFile) { sealed = append(sealed, p) }}
			if err := writeColStream(dir, opts, tc.n, tc.big); err != nil {
				t.Fatal(err)
			}
			got := files(t, dir)
			if !maps.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("the writer published %d files, compressing gives %d (or their bytes differ)", len(got), len(want))
			}
			for _, p := range sealed {
				q, err := os.Stat(filepath.Join(qdir, segment.Name(p.ID)))
				if err != nil {
					t.Fatal(err)
				}
				if p.Name != segment.ColumnarName(p.ID) || p.Size != int64(len(got[p.Name])) || p.QSize != q.Size() || p.Blake3 != "" {
					t.Errorf("published %+v, want %s of %d bytes restoring %d", p, segment.ColumnarName(p.ID), len(got[p.Name]), q.Size())
				}
			}
			if len(sealed) != len(got) {
				t.Errorf("OnSeal saw %d segments, %d published", len(sealed), len(got))
			}
			r := readStream(t, qdir, segment.ReaderOptions{})
			c := readStream(t, dir, segment.ReaderOptions{Codec: colseg.Codec{}})
			if len(r) != len(c) {
				t.Fatalf("%d records read back, %d written", len(c), len(r))
			}
			for i := range r {
				if !sameRecord(r[i], c[i]) {
					t.Fatalf("record %d differs", i)
				}
			}
		})
	}
}

// TestWriterCodecFaults: whichever file operation of a writer with a Codec
// fails, the error is returned and the directory holds only whole,
// published .q.col files (each the one a fault-free run publishes), never
// a .tmp or a .q.
func TestWriterCodecFaults(t *testing.T) {
	ref := t.TempDir()
	opts := segment.WriterOptions{SegmentSize: 1 << 20, FirstSeq: 1, Codec: colseg.Codec{}}
	count := vfs.NewErrorFS(vfs.Default, -1)
	opts.FS = count
	if err := writeColStream(ref, opts, 6000, false); err != nil {
		t.Fatal(err)
	}
	want := files(t, ref)
	if len(want) < 2 {
		t.Fatalf("%d segments: the test needs several", len(want))
	}
	for i := range count.Ops() {
		dir := t.TempDir()
		opts.FS = vfs.NewErrorFS(vfs.Default, i)
		err := writeColStream(dir, opts, 6000, false)
		if !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("op %d: %v, want the injected fault", i, err)
		}
		for name, b := range files(t, dir) {
			if !strings.HasSuffix(name, ".q.col") || !bytes.Equal(b, want[name]) {
				t.Errorf("op %d: %s (%d bytes) left behind", i, name, len(b))
			}
		}
	}
}
