package segment

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fuzzBudget bounds one input's run: a hang is a failure.
const fuzzBudget = 10 * time.Second

// FuzzReader feeds arbitrary bytes to the reader and the verifier as a
// segment file. Neither may panic or hang, they must agree on whether the
// bytes are damaged, and a clean segment must read the same after a Seek
// to any record.
func FuzzReader(f *testing.F) {
	for _, s := range readerSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := newMemFS()
		fsys.put("s/"+Name(0), data)
		done := time.AfterFunc(fuzzBudget, func() { panic("reader hangs") })
		defer done.Stop()

		recs, rerr := readAll(fsys, "s")
		if rerr != nil && !IsCorruption(rerr) {
			t.Fatalf("reader: %v is not corruption", rerr)
		}
		rep, err := VerifyStream("s", fsys, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() != (rerr == nil) {
			t.Fatalf("reader: %v; verify: %v", rerr, rep.Problems)
		}
		if rerr != nil {
			return
		}
		if int64(len(recs)) != rep.Records-rep.Pads {
			t.Fatalf("reader read %d records, verify counted %d", len(recs), rep.Records-rep.Pads)
		}
		r, err := OpenStream("s", ReaderOptions{FS: fsys})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for i := len(recs) - 1; i >= 0 && i >= len(recs)-8; i-- {
			if err := r.Seek(recs[i].SegmentID, recs[i].Offset); err != nil {
				t.Fatal(err)
			}
			got, err := r.Next()
			if err != nil || got.Seq != recs[i].Seq || !bytes.Equal(got.Payload, recs[i].Payload) {
				t.Fatalf("seek to record %d: %v", i, err)
			}
		}
	})
}

// FuzzReaderCompressed feeds an arbitrary index and .q.zst to the reader
// and verifier: no panic, no hang, the same verdict.
func FuzzReaderCompressed(f *testing.F) {
	for _, s := range compressedSeeds(f) {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, idx, zst []byte) {
		fsys := newMemFS()
		fsys.put("s/"+IndexName(0), idx)
		fsys.put("s/"+CompressedName(0), zst)
		done := time.AfterFunc(fuzzBudget, func() { panic("reader hangs") })
		defer done.Stop()
		_, rerr := readAll(fsys, "s")
		if rerr != nil && !IsCorruption(rerr) {
			t.Fatalf("reader: %v is not corruption", rerr)
		}
		rep, err := VerifyStream("s", fsys, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() != (rerr == nil) {
			t.Fatalf("reader: %v; verify: %v", rerr, rep.Problems)
		}
	})
}

// FuzzParseIndex: no panic, and what parses re-encodes to the same bytes.
func FuzzParseIndex(f *testing.F) {
	for _, s := range indexSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := ParseIndex(b)
		if err != nil {
			if !IsCorruption(err) {
				t.Fatalf("%v is not corruption", err)
			}
			return
		}
		if got := ix.Append(nil); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded differently")
		}
		if ix.UncompressedSize() < int64(len(ix.Entries)) || ix.Find(ix.UncompressedSize()-1) != len(ix.Entries)-1 {
			t.Fatalf("sizes do not add up: %+v", ix)
		}
	})
}

// Seeds. They are also written to testdata/fuzz (go test -update), so that
// `go test` runs them as the seed corpus and `go test -fuzz` starts there.

func readerSeeds(tb testing.TB) [][]byte {
	m := newMemFS()
	writeRecs(tb, "a", WriterOptions{FS: m, FirstSeq: 41}, goldenRecs())
	golden := m.get("a/" + Name(0))

	w, _ := NewWriter("b", WriterOptions{FS: m})
	for i, typ := range []uint16{1, TypePad, 2, 3} {
		w.Append(typ, uint64(i), bytes.Repeat([]byte{byte(i)}, 60+i*10))
	}
	w.Close()
	withPad := m.get("b/" + Name(0))

	writeRecs(tb, "c", WriterOptions{FS: m}, genRecs(20, 3))
	many := m.get("c/" + Name(0))

	sealedEmpty := bytes.Clone(golden[:HeaderSize])
	sealedEmpty[8] = 0 // id 0
	golden0 := bytes.Clone(golden)
	golden0[8] = 0
	flipped := bytes.Clone(golden0)
	flipped[HeaderSize+HeaderSize] ^= 1
	return [][]byte{
		golden0,
		append(bytes.Clone(golden0), make([]byte, 256)...), // zero tail
		golden0[:300], // truncated
		flipped,       // crc
		withPad,       //
		many,          //
		sealedEmpty,   // header only
		golden0[:HeaderSize-1],
		nil,
	}
}

func compressedSeeds(tb testing.TB) [][2][]byte {
	m := newMemFS()
	writeRecs(tb, "s", WriterOptions{FS: m}, genRecs(30, 5))
	if err := CompressSegment("s", 0, CompressOptions{FS: m, BlockSize: 512}); err != nil {
		tb.Fatal(err)
	}
	idx, zst := m.get("s/"+IndexName(0)), m.get("s/"+CompressedName(0))
	return [][2][]byte{
		{idx, zst},
		{idx, zst[:len(zst)/2]},
		{idx[:len(idx)-24], zst},
		{nil, nil},
	}
}

func indexSeeds(tb testing.TB) [][]byte {
	return [][]byte{
		testIndex().Append(nil),
		(&Index{BlockSize: DefaultBlockSize, Entries: []IndexEntry{{0, 0, 100, 64}}}).Append(nil),
		[]byte("QZSTIDX1"),
		nil,
	}
}

// TestFuzzSeeds keeps testdata/fuzz in step with the seeds above (and
// writes it with -update).
func TestFuzzSeeds(t *testing.T) {
	corpus := map[string][][]any{}
	for _, s := range readerSeeds(t) {
		corpus["FuzzReader"] = append(corpus["FuzzReader"], []any{s})
	}
	for _, s := range compressedSeeds(t) {
		corpus["FuzzReaderCompressed"] = append(corpus["FuzzReaderCompressed"], []any{s[0], s[1]})
	}
	for _, s := range indexSeeds(t) {
		corpus["FuzzParseIndex"] = append(corpus["FuzzParseIndex"], []any{s})
	}
	for target, seeds := range corpus {
		for i, args := range seeds {
			var b bytes.Buffer
			b.WriteString("go test fuzz v1\n")
			for _, a := range args {
				fmt.Fprintf(&b, "[]byte(%q)\n", a)
			}
			path := filepath.Join("testdata", "fuzz", target, fmt.Sprintf("seed-%02d", i))
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, b.Bytes()) {
				t.Errorf("%s is missing or stale (%v): go test ./segment -run TestFuzzSeeds -update", path, err)
			}
		}
	}
}
