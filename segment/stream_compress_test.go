package segment_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/chronicle-archive/chronicle/columnar/colseg"
	"github.com/chronicle-archive/chronicle/segment"
)

// wholeCodec hides colseg's EncodeTo: CompressSegment then takes the
// whole-segment path.
type wholeCodec struct{ segment.BlockCodec }

// badStream is colseg with an EncodeTo that fails, or writes a file whose
// index does not open, after writing some bytes.
type badStream struct {
	colseg.Codec
	fail bool
}

func (c badStream) EncodeTo(w io.Writer, r io.ReaderAt, size int64) error {
	var buf bytes.Buffer
	if err := c.Codec.EncodeTo(&buf, r, size); err != nil {
		return err
	}
	if c.fail {
		w.Write(buf.Bytes()[:buf.Len()/2])
		return errors.New("injected")
	}
	_, err := w.Write(buf.Bytes()[:buf.Len()-1])
	return err
}

func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	ents, _ := os.ReadDir(from)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// TestCompressStreamSameFiles: the streaming path writes the same .q.col
// as the whole-segment one, and removes the .q.
func TestCompressStreamSameFiles(t *testing.T) {
	dir := colStream(t, 3<<20, 40_000, true)
	whole := copyDir(t, dir)
	ids := []uint32{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if id, k, ok := segment.ParseName(e.Name()); ok && k == segment.KindSegment {
			ids = append(ids, id)
		}
	}
	if len(ids) < 2 {
		t.Fatalf("%d segments, want several", len(ids))
	}
	for _, id := range ids {
		if err := segment.CompressSegment(dir, id, segment.CompressOptions{Codec: colseg.Codec{}}); err != nil {
			t.Fatal(err)
		}
		if err := segment.CompressSegment(whole, id, segment.CompressOptions{Codec: wholeCodec{colseg.Codec{}}}); err != nil {
			t.Fatal(err)
		}
		a, err := os.ReadFile(filepath.Join(dir, segment.ColumnarName(id)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(whole, segment.ColumnarName(id)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("segment %d: streamed .q.col (%d bytes) differs from the whole-segment one (%d)", id, len(a), len(b))
		}
		if _, err := os.Stat(filepath.Join(dir, segment.Name(id))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("segment %d: .q still there (%v)", id, err)
		}
	}
}

// TestCompressStreamFails: an encoder error or a file that does not open
// leaves the .q alone and no .q.col or .tmp.
func TestCompressStreamFails(t *testing.T) {
	for _, fail := range []bool{true, false} {
		dir := colStream(t, 0, 2000, false)
		err := segment.CompressSegment(dir, 0, segment.CompressOptions{Codec: badStream{fail: fail}})
		if err == nil {
			t.Fatalf("fail=%v: no error", fail)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 || ents[0].Name() != segment.Name(0) {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("fail=%v (%v): directory holds %v, want only the .q", fail, err, names)
		}
	}
}

func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}
