package segment_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chronicle-archive/chronicle/columnar/colseg"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
)

// TestColumnarRecordsSeek: reading a .q.col for records (CRC-free blocks,
// decoded ahead) after seeks forwards and backwards, into the middle of
// blocks, gives the records the .q gives.
func TestColumnarRecordsSeek(t *testing.T) {
	qdir := colStream(t, 3<<20, 30_000, true)
	cdir := toColumnar(t, qdir, colseg.Codec{})
	want := readStream(t, qdir, segment.ReaderOptions{})
	r, err := segment.OpenStream(cdir, segment.ReaderOptions{Codec: colseg.Codec{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for k := 0; k < len(want); k += 1499 {
		i := (k * 7919) % len(want)
		if k%2 == 1 {
			i = len(want) - 1 - i
		}
		if err := r.Seek(want[i].SegmentID, want[i].Offset); err != nil {
			t.Fatalf("Seek to record %d: %v", i, err)
		}
		for j := i; j < min(i+3000, len(want)); j++ {
			if rec, err := r.Next(); err != nil || !sameRecord(rec, want[j]) {
				t.Fatalf("record %d after Seek to %d: got seg %d off %d, %v", j, i, rec.SegmentID, rec.Offset, err)
			}
		}
	}
}

// TestColumnarRecordsDamage: what a reader of the .q reports, a reader of
// the .q.col reports too, though it does not compare the CRC-32 of
// predicted records: a verbatim record whose checksum is wrong (its block
// is decoded exactly then), and a seek into the middle of a record.
func TestColumnarRecordsDamage(t *testing.T) {
	qdir := colStream(t, 3<<20, 20_000, false)
	recs := readStream(t, qdir, segment.ReaderOptions{})
	var bad segment.Record // a verbatim record (an opaque trade) in segment 0
	for _, rec := range recs[100:] {
		if rec.TypeID == protocol.TypeTrade && rec.SegmentID == 0 && len(rec.Payload) > 0 {
			bad = rec
			break
		}
	}
	if bad.TypeID == 0 {
		t.Fatal("no verbatim record")
	}
	p := filepath.Join(qdir, segment.Name(0))
	q, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	q[bad.Offset+28] ^= 0x10 // its checksum
	if err := os.WriteFile(p, q, 0o644); err != nil {
		t.Fatal(err)
	}
	cdir := toColumnar(t, qdir, colseg.Codec{})
	for _, dir := range []string{qdir, cdir} {
		r, err := segment.OpenStream(dir, segment.ReaderOptions{Codec: colseg.Codec{}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = drainAll(r)
		var ce *segment.CorruptionError
		if !errors.As(err, &ce) || !errors.Is(err, segment.ErrChecksum) || ce.Offset != bad.Offset {
			t.Errorf("%s: %v, want a checksum error at offset %d", filepath.Base(dir), err, bad.Offset)
		}
		// A seek to the payload of a record (64-aligned) is damage too.
		var book segment.Record
		for _, rec := range recs[5000:] {
			if rec.TypeID == protocol.TypeBookEvent && len(rec.Payload) > 64 {
				book = rec
				break
			}
		}
		if err := r.Seek(book.SegmentID, book.Offset+64); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); !segment.IsCorruption(err) {
			t.Errorf("%s: Next after a seek into a record: %v, want corruption", filepath.Base(dir), err)
		}
		r.Close()
	}
}

// BenchmarkColumnarReader reads a stream of .q.col segments for records,
// as a replay does (b.N passes over about 37 MB of .q).
func BenchmarkColumnarReader(b *testing.B) {
	cdir := toColumnar(b, colStream(b, 16<<20, 100_000, false), colseg.Codec{})
	var rec segment.Record
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		r, err := segment.OpenStream(cdir, segment.ReaderOptions{Codec: colseg.Codec{}})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if err := r.NextInto(&rec); err != nil {
				break
			}
			n += int64(len(rec.Payload))
		}
		r.Close()
	}
	b.SetBytes(n / int64(b.N))
}
