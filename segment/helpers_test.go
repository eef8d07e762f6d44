package segment

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"testing"

	"github.com/chronicle-archive/chronicle/vfs"
)

var update = flag.Bool("update", false, "rewrite golden files and fuzz seed corpora in testdata/")

// testRec is one record to append.
type testRec struct {
	typ     uint16
	ts      uint64
	payload []byte
}

// interestingSizes are payload lengths around the 64-byte alignment.
var interestingSizes = []int{0, 1, 5, 62, 63, 64, 65, 100, 127, 128, 129, 191, 192, 255, 300, 511, 700}

// genRecs makes n deterministic records with sizes from interestingSizes
// and pseudo-random contents.
func genRecs(n int, seed uint64) []testRec {
	x := seed*0x9E3779B97F4A7C15 + 1
	rnd := func() uint64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x
	}
	recs := make([]testRec, n)
	for i := range recs {
		p := make([]byte, interestingSizes[(i+int(seed))%len(interestingSizes)])
		for j := range p {
			p[j] = byte(rnd())
		}
		recs[i] = testRec{typ: 0x1000 + uint16(i%3), ts: 1_600_000_000_000_000_000 + uint64(i)*1000, payload: p}
	}
	return recs
}

func writeRecs(t testing.TB, dir string, opts WriterOptions, recs []testRec) []Position {
	t.Helper()
	w, err := NewWriter(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	pos := make([]Position, len(recs))
	for i, r := range recs {
		if pos[i], err = w.Append(r.typ, r.ts, r.payload); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return pos
}

func readAll(fsys vfs.FS, dir string) ([]Record, error) {
	r, err := OpenStream(dir, ReaderOptions{FS: fsys})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return drain(r)
}

// drain reads r to the end, copying payloads.
func drain(r *Reader) ([]Record, error) {
	var out []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		rec.Payload = bytes.Clone(rec.Payload)
		out = append(out, rec)
	}
}

// checkRecs compares what was read with what was written.
func checkRecs(t testing.TB, got []Record, want []testRec, pos []Position, firstSeq uint64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d records, wrote %d", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.SegmentID != pos[i].SegmentID || g.Offset != pos[i].Offset || g.Seq != firstSeq+uint64(i) ||
			g.Timestamp != w.ts || g.TypeID != w.typ || g.Flags != 0 || !bytes.Equal(g.Payload, w.payload) {
			t.Fatalf("record %d: got seg %d off %d seq %d ts %d type %#x len %d; want seg %d off %d seq %d ts %d type %#x len %d",
				i, g.SegmentID, g.Offset, g.Seq, g.Timestamp, g.TypeID, len(g.Payload),
				pos[i].SegmentID, pos[i].Offset, firstSeq+uint64(i), w.ts, w.typ, len(w.payload))
		}
	}
}

// compressAll compresses every .q in dir.
func compressAll(t testing.TB, fsys vfs.FS, dir string, opts CompressOptions) {
	t.Helper()
	opts.FS = fsys
	ls, err := listStream(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.q {
			if err := CompressSegment(dir, l.id, opts); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := vfs.Default.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := vfs.ReadFile(vfs.Default, filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := writeSynced(vfs.Default, filepath.Join(dst, e.Name()), b); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// corruption asserts that err is a *CorruptionError of the given kind.
func corruption(t testing.TB, err error, kind error) *CorruptionError {
	t.Helper()
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want a *CorruptionError", err, err)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("got %v, want %v", err, kind)
	}
	return ce
}
