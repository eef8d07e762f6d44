package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/chronicle-archive/chronicle/vfs"
)

// TestRoundTrip writes streams across several segments, reads them back
// as .q and again after compression with various block sizes (records
// straddle frames, frames are not 64-aligned), and requires the same
// records both ways.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		segSize int64
		blocks  []int // compression block sizes to try
	}{
		{"one segment", 50, 0, []int{0, 64, 100}},
		{"many small segments", 400, 2 << 10, []int{64, 1000, 4096}},
		{"medium segments", 2000, 64 << 10, []int{0, 777, 8192}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := genRecs(tc.n, uint64(tc.n))
			fsys := newMemFS()
			pos := writeRecs(t, "s", WriterOptions{FS: fsys, SegmentSize: tc.segSize, FirstSeq: 7}, recs)
			if tc.segSize != 0 && pos[len(pos)-1].SegmentID < 2 {
				t.Fatalf("only %d segments", pos[len(pos)-1].SegmentID+1)
			}
			got, err := readAll(fsys, "s")
			if err != nil {
				t.Fatal(err)
			}
			checkRecs(t, got, recs, pos, 7)
			for _, bs := range tc.blocks {
				z := newMemFS()
				for k, v := range fsys.files {
					z.files[k] = v
				}
				compressAll(t, z, "s", CompressOptions{BlockSize: bs})
				for _, decoders := range []int{1, 3} {
					r, err := OpenStream("s", ReaderOptions{FS: z, Decoders: decoders})
					if err != nil {
						t.Fatal(err)
					}
					for _, sf := range r.Segments() {
						if !sf.Compressed {
							t.Fatalf("block size %d: %s not compressed", bs, sf.Path)
						}
					}
					zgot, err := drain(r)
					r.Close()
					if err != nil {
						t.Fatalf("block size %d, %d decoders: %v", bs, decoders, err)
					}
					if !reflect.DeepEqual(zgot, got) {
						t.Fatalf("block size %d, %d decoders: .q.zst reads differently from .q", bs, decoders)
					}
				}
			}
		})
	}
}

// TestSeek seeks to every record (and to segment ends) in both forms.
func TestSeek(t *testing.T) {
	recs := genRecs(300, 11)
	fsys := newMemFS()
	pos := writeRecs(t, "s", WriterOptions{FS: fsys, SegmentSize: 4 << 10}, recs)
	z := newMemFS()
	for k, v := range fsys.files {
		z.files[k] = v
	}
	compressAll(t, z, "s", CompressOptions{BlockSize: 300})
	for _, form := range []struct {
		name     string
		fs       vfs.FS
		decoders int
	}{{"q", fsys, 0}, {"zst", z, 1}, {"zst 3 decoders", z, 3}} {
		t.Run(form.name, func(t *testing.T) {
			r, err := OpenStream("s", ReaderOptions{FS: form.fs, Decoders: form.decoders})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// Backwards, so that every seek really moves.
			for i := len(recs) - 1; i >= 0; i-- {
				if err := r.Seek(pos[i].SegmentID, pos[i].Offset); err != nil {
					t.Fatal(err)
				}
				rec, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				if rec.Seq != uint64(i) || rec.Offset != pos[i].Offset || !bytes.Equal(rec.Payload, recs[i].payload) {
					t.Fatalf("seek to record %d %v: got seq %d at %d", i, pos[i], rec.Seq, rec.Offset)
				}
			}
			// From a seek the rest of the stream follows.
			mid := len(recs) / 2
			if err := r.Seek(pos[mid].SegmentID, pos[mid].Offset); err != nil {
				t.Fatal(err)
			}
			rest, err := drain(r)
			if err != nil {
				t.Fatal(err)
			}
			checkRecs(t, rest, recs[mid:], pos[mid:], uint64(mid))
			// The end of a segment is a boundary too: next comes the
			// first record of the next segment.
			segs := r.Segments()
			if err := r.Seek(segs[0].ID, segs[0].DataSize); err != nil {
				t.Fatal(err)
			}
			rec, err := r.Next()
			if err != nil || rec.SegmentID != segs[1].ID || rec.Offset != HeaderSize {
				t.Fatalf("after seeking to the end of segment 0: %+v, %v", rec.SegmentID, err)
			}
			last := segs[len(segs)-1]
			if err := r.Seek(last.ID, last.DataSize); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("after seeking to the end: %v", err)
			}
			// Bad seeks are usage errors, not corruption.
			for _, bad := range []Position{{last.ID + 1, 64}, {0, 0}, {0, 32}, {0, 65}, {0, segs[0].DataSize + 64}} {
				err := r.Seek(bad.SegmentID, bad.Offset)
				if err == nil || IsCorruption(err) {
					t.Errorf("Seek(%v) = %v, want a usage error", bad, err)
				}
			}
			// A seek to a 64-aligned offset inside a record is not
			// detected by Seek but by Next.
			if err := r.Seek(pos[1].SegmentID, pos[1].Offset+64); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Next(); !IsCorruption(err) {
				t.Fatalf("reading from inside a record: %v", err)
			}
			// Seek clears the sticky error.
			if err := r.Seek(pos[1].SegmentID, pos[1].Offset); err != nil {
				t.Fatal(err)
			}
			if rec, err := r.Next(); err != nil || rec.Seq != 1 {
				t.Fatalf("after a good seek: %v", err)
			}
		})
	}
}

// TestZeroTail: the reference preallocates segments and leaves a zero
// tail; readers accept it in both forms.
func TestZeroTail(t *testing.T) {
	for _, tail := range []int{64, 4096, 5<<20 + 64} {
		t.Run(fmt.Sprint(tail), func(t *testing.T) {
			recs := genRecs(40, 2)
			fsys := newMemFS()
			pos := writeRecs(t, "s", WriterOptions{FS: fsys}, recs)
			d := fsys.files["s/"+Name(0)]
			d.b = append(d.b, make([]byte, tail)...)
			got, err := readAll(fsys, "s")
			if err != nil {
				t.Fatal(err)
			}
			checkRecs(t, got, recs, pos, 0)
			rep, err := VerifyStream("s", fsys, nil)
			if err != nil || !rep.OK() || rep.Records != 40 {
				t.Fatalf("verify: %v %v %v", rep, rep.Problems, err)
			}
			compressAll(t, fsys, "s", CompressOptions{})
			if got, err = readAll(fsys, "s"); err != nil {
				t.Fatal(err)
			}
			checkRecs(t, got, recs, pos, 0)
		})
	}
}

// TestPad: PAD records are checked but not returned, and do not take
// part in the seq check.
func TestPad(t *testing.T) {
	fsys := newMemFS()
	w, _ := NewWriter("s", WriterOptions{FS: fsys, SegmentSize: 512})
	for i, typ := range []uint16{1, TypePad, 1, TypePad, TypePad, 1} {
		if _, err := w.Append(typ, uint64(i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(fsys, "s")
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, r := range got {
		seqs = append(seqs, r.Seq)
	}
	if !reflect.DeepEqual(seqs, []uint64{0, 2, 5}) {
		t.Fatalf("read seqs %v, want [0 2 5]", seqs)
	}
	rep, err := VerifyStream("s", fsys, nil)
	if err != nil || !rep.OK() || rep.Records != 6 || rep.Pads != 3 {
		t.Fatalf("verify: %v %v", rep, err)
	}
}

func TestOpenStreamListing(t *testing.T) {
	recs := genRecs(30, 4)
	base := newMemFS()
	writeRecs(t, "s", WriterOptions{FS: base, SegmentSize: 1 << 10}, recs)
	n := len(base.files)
	if n < 3 {
		t.Fatalf("%d segments", n)
	}
	clone := func() *memFS {
		m := newMemFS()
		for k, v := range base.files {
			m.files[k] = &memData{b: bytes.Clone(v.b)}
		}
		return m
	}

	t.Run("ignores others", func(t *testing.T) {
		m := clone()
		m.put("s/meta.json", []byte(`{"venue":"x"}`))
		m.put("s/"+Name(uint32(n))+".tmp", []byte("half written"))
		m.put("s/"+CompressedName(0)+".tmp", []byte("junk"))
		m.put("s/"+IndexName(0)+".tmp", []byte("junk"))
		m.put("s/README", []byte("junk"))
		m.put("s/sub/"+Name(uint32(n)), []byte("junk")) // in a subdirectory
		got, err := readAll(m, "s")
		if err != nil || len(got) != len(recs) {
			t.Fatalf("%d records, %v", len(got), err)
		}
	})
	t.Run("gap", func(t *testing.T) {
		m := clone()
		m.Remove("s/" + Name(1))
		_, err := OpenStream("s", ReaderOptions{FS: m})
		ce := corruption(t, err, ErrMissingSegment)
		if ce.Path != filepath.Join("s", Name(1)) {
			t.Fatalf("gap names %s", ce.Path)
		}
	})
	t.Run("index without data", func(t *testing.T) {
		m := clone()
		m.put("s/"+IndexName(uint32(n)), []byte("x"))
		_, err := OpenStream("s", ReaderOptions{FS: m})
		corruption(t, err, ErrMissingSegment)
	})
	t.Run("prefers .q", func(t *testing.T) {
		m := clone()
		// A damaged compressed copy next to the .q is never read.
		m.put("s/"+CompressedName(1), []byte("garbage"))
		m.put("s/"+IndexName(1), []byte("garbage"))
		r, err := OpenStream("s", ReaderOptions{FS: m})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Segments()[1].Compressed {
			t.Fatal("chose the .q.zst")
		}
		if got, err := drain(r); err != nil || len(got) != len(recs) {
			t.Fatalf("%d records, %v", len(got), err)
		}
	})
	t.Run("size changed after listing", func(t *testing.T) {
		m := clone()
		ls, err := listStream(m, "s")
		if err != nil {
			t.Fatal(err)
		}
		m.put("s/"+Name(1), m.get("s/" + Name(1))[:HeaderSize*3])
		_, err = openSegment(m, "s", ls[1])
		if ce := corruption(t, err, ErrTruncated); ce.Path != filepath.Join("s", Name(1)) {
			t.Fatalf("names %s", ce.Path)
		}
	})
	t.Run("empty", func(t *testing.T) {
		got, err := readAll(newMemFS(), "s")
		if err != nil || len(got) != 0 {
			t.Fatalf("%d records, %v", len(got), err)
		}
	})
	t.Run("no directory", func(t *testing.T) {
		_, err := OpenStream(filepath.Join(t.TempDir(), "nope"), ReaderOptions{})
		if err == nil || IsCorruption(err) {
			t.Fatalf("%v, want an I/O error", err)
		}
	})
}

// TestReaderSnapshot: once OpenStream returns, replacing the directory
// does not change what the reader reads. A stream of at most
// MaxOpenSegments segments is read whole from the old version; a longer one
// fails with ErrReplaced when it needs a file the old version no longer
// has, never reading the new version's.
func TestReaderSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name     string
		segments int
		replaced bool
	}{
		{"all files open", MaxOpenSegments, false},
		{"longer than the window", MaxOpenSegments + 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "stream")
			os.Mkdir(dir, 0o755)
			// 256-byte records, 8 to a 2 KiB segment (with its header).
			recs := genRecs(7*tc.segments, 8)
			for i := range recs {
				recs[i].payload = bytes.Repeat([]byte{byte(i)}, 150)
			}
			pos := writeRecs(t, dir, WriterOptions{SegmentSize: 8 * 256}, recs)
			r, err := OpenStream(dir, ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if n := len(r.Segments()); n != tc.segments {
				t.Fatalf("%d segments, want %d", n, tc.segments)
			}
			// Swap in a different stream, the way the archive replaces one.
			next := dir + ".new"
			os.Mkdir(next, 0o755)
			writeRecs(t, next, WriterOptions{SegmentSize: 8 * 256}, genRecs(7*tc.segments, 9))
			if err := vfs.Default.Exchange(next, dir); err != nil {
				t.Fatal(err)
			}
			os.RemoveAll(next)
			got, err := drain(r)
			if tc.replaced {
				if !errors.Is(err, ErrReplaced) || len(got) != 7*MaxOpenSegments {
					t.Fatalf("read %d records, then %v; want %d, then ErrReplaced", len(got), err, 7*MaxOpenSegments)
				}
				checkRecs(t, got, recs[:len(got)], pos[:len(got)], 0)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkRecs(t, got, recs, pos, 0)
		})
	}
}

// TestLargeRecord: records bigger than the read buffer and than a frame
// are stitched from several blocks.
func TestLargeRecord(t *testing.T) {
	big := make([]byte, readBufSize*2+12345)
	for i := range big {
		big[i] = byte(i * 7)
	}
	recs := []testRec{{1, 1, []byte("a")}, {2, 2, big}, {3, 3, []byte("b")}, {4, 4, big[:readBufSize]}, {5, 5, nil}}
	fsys := newMemFS()
	pos := writeRecs(t, "s", WriterOptions{FS: fsys}, recs)
	got, err := readAll(fsys, "s")
	if err != nil {
		t.Fatal(err)
	}
	checkRecs(t, got, recs, pos, 0)
	compressAll(t, fsys, "s", CompressOptions{BlockSize: 1<<20 + 1, Level: 1})
	got, err = readAll(fsys, "s")
	if err != nil {
		t.Fatal(err)
	}
	checkRecs(t, got, recs, pos, 0)
}

func TestReaderClose(t *testing.T) {
	fsys := newMemFS()
	writeRecs(t, "s", WriterOptions{FS: fsys}, genRecs(3, 1))
	compressAll(t, fsys, "s", CompressOptions{BlockSize: 64})
	r, err := OpenStream("s", ReaderOptions{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil { // starts the read-ahead
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if err := r.Seek(0, 64); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("Seek after Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReaderAllocs: after warming up, reading allocates nothing per
// record, in either form.
func TestReaderAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	recs := genRecs(5000, 6)
	fsys := newMemFS()
	writeRecs(t, "s", WriterOptions{FS: fsys}, recs)
	z := newMemFS()
	for k, v := range fsys.files {
		z.files[k] = v
	}
	compressAll(t, z, "s", CompressOptions{BlockSize: 64 << 10})
	for _, form := range []struct {
		name   string
		fs     vfs.FS
		budget float64 // allocations per full pass
	}{{"q", fsys, 0}, {"zst", z, 8}} {
		r, err := OpenStream("s", ReaderOptions{FS: form.fs})
		if err != nil {
			t.Fatal(err)
		}
		pass := func() {
			if err := r.Seek(0, HeaderSize); err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := r.Next(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
		}
		pass()
		// Seek restarts the read-ahead goroutine (a few allocations);
		// nothing may grow with the number of records.
		if n := testing.AllocsPerRun(5, pass); n > form.budget {
			t.Errorf("%s: %v allocations for a pass over %d records", form.name, n, len(recs))
		}
		r.Close()
	}
}
