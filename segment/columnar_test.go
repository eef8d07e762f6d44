package segment_test

// Tests of .q.col segments read through the columnar codec. An external
// test package: the adapter (columnar/colseg) imports segment.

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/columnar/colseg"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
)

// colStream writes a stream of about total bytes in segments of segSize:
// BookEvents as an import writes them (which columnar predicts), every
// 50th record an opaque payload (kept verbatim), and with big a 1.5 MiB
// record (stored in raw blocks). It returns the directory.
func colStream(t testing.TB, segSize int64, n int, big bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := writeColStream(dir, segment.WriterOptions{SegmentSize: segSize, FirstSeq: 1}, n, big); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeColStream is colStream's writing, with any writer options, into dir.
func writeColStream(dir string, opts segment.WriterOptions, n int, big bool) error {
	w, err := segment.NewWriter(dir, opts)
	if err != nil {
		return err
	}
	defer w.Abort()
	x := uint64(0x9E3779B97F4A7C15)
	rnd := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	var payload []byte
	var e protocol.Event
	ts := uint64(1_714_521_600_000_000_000)
	for i := 0; i < n; i++ {
		seq := uint64(i) + 1
		ts += rnd() % 5_000_000
		switch {
		case big && i == n/2:
			payload = make([]byte, 3<<19)
			for j := range payload {
				payload[j] = byte(rnd())
			}
			if _, err := w.Append(protocol.TypeTrade, ts, payload); err != nil {
				return err
			}
			continue
		case i%50 == 49:
			payload = payload[:0]
			for j := int(rnd() % 200); j > 0; j-- {
				payload = append(payload, byte(rnd()))
			}
			if _, err := w.Append(protocol.TypeTrade, ts, payload); err != nil {
				return err
			}
			continue
		}
		e = protocol.Event{Type: protocol.Diff, BookMode: protocol.ModeL2, VenueID: 1, MarketID: 77, StreamID: 3,
			IngestTS: ts, ExchangeTS: ts - 1_000_000, Seq: seq, NativeSeq: seq, PriceScale: 1, SizeScale: 3,
			DiffFlags: protocol.FlagAbsolute, UpdateIDFirst: seq, UpdateIDLast: seq, UpdateIDPrev: seq - 1,
			Bids: e.Bids[:0], Asks: e.Asks[:0]}
		if i == 0 {
			e.Type, e.DiffFlags, e.UpdateIDFirst, e.UpdateIDLast, e.UpdateIDPrev = protocol.Snapshot, 0, 0, 0, 0
		}
		for j := int(rnd()%8) + 1; j > 0; j-- {
			e.Bids = append(e.Bids, protocol.Level{Price: 600_000 - rnd()%100, Size: rnd() % 10_000})
			e.Asks = append(e.Asks, protocol.Level{Price: 600_001 + rnd()%100, Size: rnd() % 10_000})
		}
		if payload, err = protocol.AppendEvent(payload[:0], &e); err != nil {
			return err
		}
		if _, err := w.Append(protocol.TypeBookEvent, ts, payload); err != nil {
			return err
		}
	}
	return w.Close()
}

// toColumnar copies the stream dir and compresses every segment of the
// copy with the codec.
func toColumnar(t testing.TB, dir string, c segment.BlockCodec) string {
	t.Helper()
	out := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var qSize, colSize int64
	for _, e := range ents {
		id, kind, ok := segment.ParseName(e.Name())
		if !ok || kind != segment.KindSegment {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := segment.CompressSegment(out, id, segment.CompressOptions{Codec: c}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(out, segment.ColumnarName(id)))
		if err != nil {
			t.Fatal(err)
		}
		qSize += int64(len(b))
		colSize += st.Size()
	}
	t.Logf("%s: %d .q bytes -> %d .q.col bytes", filepath.Base(dir), qSize, colSize)
	return out
}

func readStream(t testing.TB, dir string, opts segment.ReaderOptions) []segment.Record {
	t.Helper()
	r, err := segment.OpenStream(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, err := drainAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// drainAll reads r to the end (or an error), copying payloads.
func drainAll(r *segment.Reader) ([]segment.Record, error) {
	var out []segment.Record
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

func sameRecord(a, b segment.Record) bool {
	return a.SegmentID == b.SegmentID && a.Offset == b.Offset && a.Seq == b.Seq && a.Timestamp == b.Timestamp &&
		a.TypeID == b.TypeID && a.Flags == b.Flags && bytes.Equal(a.Payload, b.Payload)
}

// countingCodec counts the blocks decoded, the header block apart.
type countingCodec struct {
	colseg.Codec
	decoded *int
}

func (c countingCodec) Open(r io.ReaderAt, size int64) (segment.BlockFile, error) {
	f, err := c.Codec.Open(r, size)
	if err != nil {
		return nil, err
	}
	return countingFile{f, c.decoded}, nil
}

type countingFile struct {
	segment.BlockFile
	decoded *int
}

func (f countingFile) DecodeBlock(i int, dst []byte) ([]byte, error) {
	if i > 0 {
		*f.decoded++
	}
	return f.BlockFile.DecodeBlock(i, dst)
}

func TestColumnarReadSeekVerify(t *testing.T) {
	qdir := colStream(t, 3<<20, 40_000, true)
	cdir := toColumnar(t, qdir, colseg.Codec{})
	opts := segment.ReaderOptions{Codec: colseg.Codec{}}

	want := readStream(t, qdir, segment.ReaderOptions{})
	got := readStream(t, cdir, opts)
	if len(want) != 40_000 || len(got) != len(want) {
		t.Fatalf("read %d records from .q.col, %d from .q, wrote 40000", len(got), len(want))
	}
	nseg := int(want[len(want)-1].SegmentID) + 1
	if nseg < 3 {
		t.Fatalf("%d segments, want several", nseg)
	}
	for i := range want {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d: .q.col gives seg %d off %d seq %d, .q seg %d off %d seq %d (or the payloads differ)",
				i, got[i].SegmentID, got[i].Offset, got[i].Seq, want[i].SegmentID, want[i].Offset, want[i].Seq)
		}
	}

	// OpenFiles from specs as a manifest gives them.
	var specs []segment.SegmentSpec
	for id := range nseg {
		st, err := os.Stat(filepath.Join(cdir, segment.ColumnarName(uint32(id))))
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, segment.SegmentSpec{ID: uint32(id), Columnar: true, Size: st.Size(), IndexSize: -1})
	}
	decoded := 0
	r, err := segment.OpenFiles(cdir, specs, segment.ReaderOptions{Codec: countingCodec{decoded: &decoded}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i, s := range r.Segments() {
		if !s.Columnar || s.Compressed || s.Path != filepath.Join(cdir, segment.ColumnarName(uint32(i))) {
			t.Fatalf("segment %d: %+v", i, s)
		}
	}

	// Seek to many records, forwards and backwards: each gives the records
	// that follow, decoding only the block that holds it (and the next one
	// when the reader runs on into it).
	for k := 0; k < len(want); k += 997 {
		i := (k * 7919) % len(want)
		if k%2 == 1 {
			i = len(want) - 1 - i
		}
		decoded = 0
		if err := r.Seek(want[i].SegmentID, want[i].Offset); err != nil {
			t.Fatalf("Seek to record %d: %v", i, err)
		}
		rec, err := r.Next()
		if err != nil || !sameRecord(rec, want[i]) {
			t.Fatalf("after Seek to record %d (seg %d off %d): got seg %d off %d seq %d, %v",
				i, want[i].SegmentID, want[i].Offset, rec.SegmentID, rec.Offset, rec.Seq, err)
		}
		if len(want[i].Payload) < 1<<20 && decoded != 1 {
			t.Fatalf("Seek to record %d and Next decoded %d blocks, want 1", i, decoded)
		}
		for j := i + 1; j < min(i+300, len(want)); j++ {
			if rec, err := r.Next(); err != nil || !sameRecord(rec, want[j]) {
				t.Fatalf("record %d after Seek to %d: got seg %d off %d, %v", j, i, rec.SegmentID, rec.Offset, err)
			}
		}
	}
	// Seek to the end of a segment: the next record is the next segment's
	// first.
	seg0 := r.Segments()[0]
	if err := r.Seek(0, seg0.DataSize); err != nil {
		t.Fatal(err)
	}
	first1 := 0
	for want[first1].SegmentID == 0 {
		first1++
	}
	if rec, err := r.Next(); err != nil || !sameRecord(rec, want[first1]) {
		t.Fatalf("after Seek to the end of segment 0: seg %d off %d, %v", rec.SegmentID, rec.Offset, err)
	}

	// Verify: clean, and the same counts as the .q stream.
	qrep, err := segment.VerifyStream(qdir, nil, nil)
	if err != nil || !qrep.OK() {
		t.Fatalf(".q verify: %v %v", err, qrep.Problems)
	}
	visited := 0
	crep, err := segment.VerifyStreamWith(cdir, opts, func(segment.Record) error { visited++; return nil })
	if err != nil || !crep.OK() {
		t.Fatalf(".q.col verify: %v %v", err, crep.Problems)
	}
	if crep.Records != qrep.Records || crep.Bytes != qrep.Bytes || crep.Segments != nseg || visited != len(want) {
		t.Fatalf(".q.col verify %v, visited %d; .q verify %v", crep, visited, qrep)
	}

	// Compressing again finds nothing to do, and no .tmp is left.
	if err := segment.CompressSegment(cdir, 0, segment.CompressOptions{Codec: colseg.Codec{}}); err != nil {
		t.Fatalf("second compress: %v", err)
	}
	ents, _ := os.ReadDir(cdir)
	for _, e := range ents {
		if _, kind, ok := segment.ParseName(e.Name()); !ok || kind != segment.KindColumnar {
			t.Fatalf("%s left in the compressed stream", e.Name())
		}
	}
}

// TestColumnarNoCodec: a .q.col is never read, verified or written without
// a codec, and the error names the file.
func TestColumnarNoCodec(t *testing.T) {
	qdir := colStream(t, 1<<20, 2000, false)
	cdir := toColumnar(t, qdir, colseg.Codec{})
	name := segment.ColumnarName(0)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, segment.ErrNoCodec) || !strings.Contains(err.Error(), name) {
			t.Fatalf("%s without a codec: %v, want ErrNoCodec naming %s", what, err, name)
		}
	}
	_, err := segment.OpenStream(cdir, segment.ReaderOptions{})
	check("OpenStream", err)
	st, _ := os.Stat(filepath.Join(cdir, name))
	_, err = segment.OpenFiles(cdir, []segment.SegmentSpec{{ID: 0, Columnar: true, Size: st.Size(), IndexSize: -1}}, segment.ReaderOptions{})
	check("OpenFiles", err)
	_, err = segment.VerifyStream(cdir, nil, nil)
	check("VerifyStream", err)

	// A codec whose files ParseName would not list is refused.
	if err := segment.CompressSegment(qdir, 0, segment.CompressOptions{Codec: otherExt{}}); err == nil {
		t.Fatal("CompressSegment with a .q.foo codec succeeded")
	}
	if _, err := os.Stat(filepath.Join(qdir, segment.Name(0))); err != nil {
		t.Fatalf("the .q is gone after a refused compress: %v", err)
	}
}

type otherExt struct{ colseg.Codec }

func (otherExt) Ext() string { return ".q.foo" }

// TestColumnarCorrupt flips bytes all over a .q.col: reading gives the
// records before the damage, then a *CorruptionError naming the file and
// an offset in it, never different records; VerifyStream reports it.
func TestColumnarCorrupt(t *testing.T) {
	qdir := colStream(t, 256<<10, 2000, false)
	want := readStream(t, qdir, segment.ReaderOptions{})
	cdir := toColumnar(t, qdir, colseg.Codec{})
	opts := segment.ReaderOptions{Codec: colseg.Codec{}}
	path := filepath.Join(cdir, segment.ColumnarName(1))
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every byte of the header, the index and the trailer; a spread of the
	// blocks'.
	var at []int
	for i := range orig {
		if i < 96 || i >= len(orig)-200 || i%397 == 0 {
			at = append(at, i)
		}
	}
	for _, i := range at {
		x := byte(1) << (i % 8)
		b := bytes.Clone(orig)
		b[i] ^= x
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var got []segment.Record
		r, err := segment.OpenStream(cdir, opts)
		if err == nil {
			got, err = drainAll(r)
			r.Close()
		}
		var ce *segment.CorruptionError
		if !errors.As(err, &ce) || ce.Path != path || ce.Offset < 0 || ce.Offset >= int64(len(b)) {
			t.Fatalf("byte %d ^ %#x: %v, want a *CorruptionError in %s at an offset in it", i, x, err, path)
		}
		if i == 397 {
			t.Logf("a damaged block: %v", err)
		}
		for j := range got {
			if !sameRecord(got[j], want[j]) {
				t.Fatalf("byte %d ^ %#x: record %d differs", i, x, j)
			}
		}
		if len(got) > 0 && got[len(got)-1].SegmentID > 1 {
			t.Fatalf("byte %d ^ %#x: read on past the damaged segment", i, x)
		}
		rep, err := segment.VerifyStreamWith(cdir, opts, nil)
		if err != nil || rep.OK() || rep.Problems[0].Path != path {
			t.Fatalf("byte %d ^ %#x: verify %v, %v", i, x, err, rep)
		}
	}
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if rep, err := segment.VerifyStreamWith(cdir, opts, nil); err != nil || !rep.OK() {
		t.Fatalf("restored: %v %v", err, rep)
	}
}
