package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/klauspost/compress/zstd"
)

// The corruption stream: segment 0 holds exactly four records,
//
//	offset  64: payload   5 bytes, record 128 bytes
//	offset 192: payload  70 bytes, record 192 bytes (padding 326..383)
//	offset 384: payload   0 bytes, record  64 bytes
//	offset 448: payload 130 bytes, record 256 bytes (ends at 704)
//
// and segments 1 and 2 five records of 5 bytes each.
func corruptionRecs() []testRec {
	sizes := []int{5, 70, 0, 130}
	for i := 0; i < 10; i++ {
		sizes = append(sizes, 5)
	}
	recs := make([]testRec, len(sizes))
	for i, n := range sizes {
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i*31 + j + 1)
		}
		recs[i] = testRec{typ: 0x1000, ts: 1000 + uint64(i), payload: p}
	}
	return recs
}

func corruptionStream(t *testing.T, compress bool) *memFS {
	t.Helper()
	fsys := newMemFS()
	pos := writeRecs(t, "s", WriterOptions{FS: fsys, SegmentSize: 704}, corruptionRecs())
	if pos[3] != (Position{0, 448}) || pos[4] != (Position{1, 64}) || pos[9] != (Position{2, 64}) {
		t.Fatalf("layout changed: %v", pos)
	}
	if compress {
		// 128-byte blocks: segment 0 is six frames.
		compressAll(t, fsys, "s", CompressOptions{BlockSize: 128})
	}
	return fsys
}

// expectVisit checks what no checksum covers, from what was written.
func expectVisit(recs []testRec) func(Record) error {
	return func(r Record) error {
		if r.Seq >= uint64(len(recs)) {
			return fmt.Errorf("unexpected seq %d", r.Seq)
		}
		w := recs[r.Seq]
		if r.Timestamp != w.ts || r.TypeID != w.typ {
			return fmt.Errorf("seq %d: timestamp %d type %#x, wrote %d %#x", r.Seq, r.Timestamp, r.TypeID, w.ts, w.typ)
		}
		return nil
	}
}

func TestCorruptions(t *testing.T) {
	const q0, z0, i0 = "000000000.q", "000000000.q.zst", "000000000.q.zst.idx"
	le := binary.LittleEndian
	at := func(name string, f func(b []byte)) func(*testing.T, *memFS) {
		return func(_ *testing.T, m *memFS) { f(m.files["s/"+name].b) }
	}
	resize := func(name string, n int) func(*testing.T, *memFS) {
		return func(_ *testing.T, m *memFS) { d := m.files["s/"+name]; d.b = d.b[:n] }
	}
	// Frame i of segment 0 in the index.
	frame := func(m *memFS, i int) IndexEntry {
		ix, err := ParseIndex(m.files["s/"+i0].b)
		if err != nil {
			panic(err)
		}
		return ix.Entries[i]
	}

	for _, tc := range []struct {
		name     string
		compress bool
		mutate   func(*testing.T, *memFS)
		kind     error
		file     string
		off      int64
		// onlyVisit: the format has no check for this; only VerifyStream's
		// visit function (which knows the payloads) can see it.
		onlyVisit bool
	}{
		{name: "payload byte", mutate: at(q0, func(b []byte) { b[192+64+10] ^= 0x01 }), kind: ErrChecksum, file: q0, off: 192},
		{name: "last payload byte", mutate: at(q0, func(b []byte) { b[448+64+129] ^= 0x80 }), kind: ErrChecksum, file: q0, off: 448},
		{name: "checksum", mutate: at(q0, func(b []byte) { b[192+28] ^= 0x01 }), kind: ErrChecksum, file: q0, off: 192},
		{name: "commit_len takes a padding byte", mutate: at(q0, func(b []byte) { le.PutUint32(b[192:], 72) }), kind: ErrChecksum, file: q0, off: 192},
		{name: "commit_len into the next record", mutate: at(q0, func(b []byte) { le.PutUint32(b[192:], 200) }), kind: ErrChecksum, file: q0, off: 192},
		{name: "commit_len past EOF", mutate: at(q0, func(b []byte) { le.PutUint32(b[448:], 1<<20) }), kind: ErrTruncated, file: q0, off: 448},
		{name: "commit_len max", mutate: at(q0, func(b []byte) { le.PutUint32(b[448:], 0xFFFFFFFF) }), kind: ErrTruncated, file: q0, off: 448},
		{name: "commit_len zero mid-segment", mutate: at(q0, func(b []byte) { le.PutUint32(b[192:], 0) }), kind: ErrTrailingData, file: q0, off: 192 + 8}, // first non-zero: seq 1
		{name: "pad", mutate: at(q0, func(b []byte) { b[192+4] = 1 }), kind: ErrHeader, file: q0, off: 192},
		{name: "seq", mutate: at(q0, func(b []byte) { b[192+8] ^= 0x04 }), kind: ErrSequence, file: q0, off: 192},
		{name: "timestamp", mutate: at(q0, func(b []byte) { b[192+16] ^= 0x01 }), kind: nil, file: q0, off: 192, onlyVisit: true},
		{name: "type_id", mutate: at(q0, func(b []byte) { b[192+24] ^= 0x01 }), kind: nil, file: q0, off: 192, onlyVisit: true},
		{name: "flags", mutate: at(q0, func(b []byte) { b[192+26] = 1 }), kind: ErrHeader, file: q0, off: 192},
		{name: "reserved", mutate: at(q0, func(b []byte) { b[192+63] = 1 }), kind: ErrHeader, file: q0, off: 192},
		{name: "padding byte", mutate: at(q0, func(b []byte) { b[192+64+70+3] = 9 }), kind: ErrPadding, file: q0, off: 192},
		{name: "last padding byte", mutate: at(q0, func(b []byte) { b[703] = 1 }), kind: ErrPadding, file: q0, off: 448},
		{name: "segment magic", mutate: at(q0, func(b []byte) { b[0] ^= 0x01 }), kind: ErrMagic, file: q0, off: 0},
		{name: "segment version", mutate: at(q0, func(b []byte) { b[4] = 2 }), kind: ErrHeader, file: q0, off: 0},
		{name: "segment id", mutate: at(q0, func(b []byte) { b[8] = 3 }), kind: ErrHeader, file: q0, off: 0},
		{name: "segment not sealed", mutate: at(q0, func(b []byte) { b[12] = 0 }), kind: ErrNotSealed, file: q0, off: 0},
		{name: "segment unknown flag", mutate: at(q0, func(b []byte) { b[13] = 1 }), kind: ErrHeader, file: q0, off: 0},
		{name: "segment reserved", mutate: at(q0, func(b []byte) { b[40] = 1 }), kind: ErrHeader, file: q0, off: 0},
		{name: "truncated mid-payload", mutate: resize(q0, 448+64+50), kind: ErrTruncated, file: q0, off: 448},
		{name: "truncated in padding", mutate: resize(q0, 700), kind: ErrTruncated, file: q0, off: 448},
		{name: "truncated mid-header", mutate: resize(q0, 448+30), kind: ErrTruncated, file: q0, off: 448},
		{name: "truncated segment header", mutate: resize(q0, 40), kind: ErrTruncated, file: q0, off: 0},
		{name: "empty file", mutate: resize(q0, 0), kind: ErrTruncated, file: q0, off: 0},
		{name: "data after zero tail", mutate: func(t *testing.T, m *memFS) {
			d := m.files["s/"+q0]
			d.b = append(d.b, make([]byte, 256)...)
			d.b[704+100] = 1
		}, kind: ErrTrailingData, file: q0, off: 704 + 100},
		{name: "missing segment", mutate: func(t *testing.T, m *memFS) { m.Remove("s/000000001.q") }, kind: ErrMissingSegment, file: "000000001.q", off: 0},

		{name: "zst: crc", compress: true, mutate: damagedThenCompressed(func(b []byte) { b[192+64] ^= 0xFF }), kind: ErrChecksum, file: z0, off: 192},
		{name: "zst: commit_len past the end", compress: true, mutate: damagedThenCompressed(func(b []byte) { le.PutUint32(b[448:], 200) }), kind: ErrTruncated, file: z0, off: 448},
		{name: "zst: padding", compress: true, mutate: damagedThenCompressed(func(b []byte) { b[700] = 1 }), kind: ErrPadding, file: z0, off: 448},
		{name: "zst: frame checksum byte", compress: true, mutate: func(t *testing.T, m *memFS) {
			e := frame(m, 1)
			m.files["s/"+z0].b[e.CompressedOffset+uint64(e.CompressedSize)-1] ^= 0x01
		}, kind: ErrFrame, file: z0, off: -1},
		{name: "zst: frame content byte", compress: true, mutate: func(t *testing.T, m *memFS) {
			e := frame(m, 2)
			m.files["s/"+z0].b[e.CompressedOffset+uint64(e.CompressedSize)/2] ^= 0x10
		}, kind: ErrFrame, file: z0, off: -2},
		{name: "zst: truncated", compress: true, mutate: func(t *testing.T, m *memFS) {
			d := m.files["s/"+z0]
			d.b = d.b[:len(d.b)-1]
		}, kind: ErrIndex, file: z0, off: -99},
		{name: "idx: magic", compress: true, mutate: at(i0, func(b []byte) { b[0] ^= 0x01 }), kind: ErrIndex, file: i0, off: 0},
		{name: "idx: version", compress: true, mutate: at(i0, func(b []byte) { b[8] = 2 }), kind: ErrIndex, file: i0, off: 8},
		{name: "idx: header_len", compress: true, mutate: at(i0, func(b []byte) { b[10] = 32 }), kind: ErrIndex, file: i0, off: 10},
		{name: "idx: block_size", compress: true, mutate: at(i0, func(b []byte) { b[12]++ }), kind: ErrIndex, file: i0, off: 24 + 20},
		{name: "idx: frame_count", compress: true, mutate: at(i0, func(b []byte) { b[16]-- }), kind: ErrIndex, file: i0, off: 16},
		{name: "idx: uncompressed_offset", compress: true, mutate: at(i0, func(b []byte) { b[24+24*2]++ }), kind: ErrIndex, file: i0, off: 24 + 24*2},
		{name: "idx: compressed_offset", compress: true, mutate: at(i0, func(b []byte) { b[24+24*2+8]++ }), kind: ErrIndex, file: i0, off: 24 + 24*2 + 8},
		{name: "idx: compressed_size", compress: true, mutate: at(i0, func(b []byte) { b[24+24*1+16]++ }), kind: ErrIndex, file: i0, off: 24 + 24*2 + 8},
		{name: "idx: uncompressed_size", compress: true, mutate: at(i0, func(b []byte) { b[24+24*1+20]-- }), kind: ErrIndex, file: i0, off: 24 + 24*1 + 20},
		{name: "idx: last uncompressed_size", compress: true, mutate: at(i0, func(b []byte) { b[24+24*5+20]-- }), kind: ErrIndex, file: z0, off: -5},
		{name: "idx: truncated", compress: true, mutate: resize(i0, 24+24*5+10), kind: ErrIndex, file: i0, off: 16},
		{name: "idx: missing", compress: true, mutate: func(t *testing.T, m *memFS) { m.Remove("s/" + i0) }, kind: ErrIndex, file: i0, off: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := corruptionStream(t, tc.compress)
			tc.mutate(t, m)
			off := tc.off
			if off < 0 && off > -99 {
				off = int64(frame(m, int(-off)).CompressedOffset) // frame damage: the frame's offset
			} else if off == -99 {
				off = int64(len(m.files["s/"+z0].b))
			}
			path := filepath.Join("s", tc.file)
			recs := corruptionRecs()

			// The reader stops at the damage, with its place.
			_, err := readAll(m, "s")
			if tc.onlyVisit {
				if err != nil {
					t.Fatalf("reader: %v; the format has no check for this", err)
				}
			} else {
				ce := corruption(t, err, tc.kind)
				if ce.Path != path || ce.Offset != off {
					t.Fatalf("reader: %v\nwant %s offset %d", err, path, off)
				}
			}

			// The verifier reports it too, and carries on.
			rep, err := VerifyStream("s", m, expectVisit(recs))
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range rep.Problems {
				if p.Path == path && p.Offset == off && (tc.kind == nil || errors.Is(p.Err, tc.kind)) {
					found = true
				}
			}
			if !found {
				t.Fatalf("verify did not report %v at %s offset %d; got %v", tc.kind, path, off, rep.Problems)
			}
			if rep.Segments < 2 {
				t.Fatalf("verify stopped early: %v", rep)
			}
		})
	}
}

// damagedThenCompressed replaces segment 0 of a compressed corruption
// stream by a damaged .q, compressed: the damage is carried over.
func damagedThenCompressed(damage func(b []byte)) func(*testing.T, *memFS) {
	return func(t *testing.T, m *memFS) {
		writeRecs(t, "t", WriterOptions{FS: m, SegmentSize: 704}, corruptionRecs()[:4])
		damage(m.files["t/"+Name(0)].b)
		if err := CompressSegment("t", 0, CompressOptions{FS: m, BlockSize: 128}); err != nil {
			t.Fatal(err)
		}
		m.files["s/"+CompressedName(0)], m.files["s/"+IndexName(0)] = m.files["t/"+CompressedName(0)], m.files["t/"+IndexName(0)]
	}
}

// flipTarget is a small segment of self-describing payloads: BookEvents
// whose ingest time is the record's timestamp.
func flipTarget(t *testing.T) (*memFS, func(Record) error) {
	fsys := newMemFS()
	w, err := NewWriter("s", WriterOptions{FS: fsys, FirstSeq: 3})
	if err != nil {
		t.Fatal(err)
	}
	events := []protocol.Event{
		{Type: protocol.Snapshot, IngestTS: 1_000_000, Bids: []protocol.Level{{Price: 100, Size: 1}}, Asks: []protocol.Level{{Price: 101, Size: 2}}},
		{Type: protocol.Diff, IngestTS: 1_000_001, Bids: []protocol.Level{{Price: 100, Size: 0}}},
		{Type: protocol.Heartbeat, IngestTS: 1_000_002},
		{Type: protocol.Diff, IngestTS: 1_000_003, Asks: []protocol.Level{{Price: 102, Size: 5}, {Price: 103, Size: 6}}},
	}
	for i := range events {
		p, err := protocol.AppendEvent(nil, &events[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append(protocol.TypeBookEvent, events[i].IngestTS, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// The check a consumer of BookEvents can make of the fields no
	// checksum covers.
	visit := func(r Record) error {
		var e protocol.Event
		if err := protocol.DecodeEvent(r.Payload, &e); err != nil {
			return err
		}
		if r.TypeID != protocol.TypeBookEvent || r.Timestamp != e.IngestTS {
			return fmt.Errorf("header says type %#x time %d; payload is a BookEvent at %d", r.TypeID, r.Timestamp, e.IngestTS)
		}
		return nil
	}
	return fsys, visit
}

// TestFlipEveryBit flips every bit of a small segment, one at a time.
// VerifyStream must report every flip; the reader must fail on all of
// them except flips in the fields no checksum covers (timestamp_ns and
// type_id, which only a visit function that knows the payload can check),
// and nothing may panic.
func TestFlipEveryBit(t *testing.T) {
	fsys, visit := flipTarget(t)
	b := fsys.files["s/"+Name(0)].b
	unprotected := map[int]bool{} // offsets of timestamp_ns and type_id
	for off := HeaderSize; off < len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:])) - 1
		for i := offTimestamp; i < offTypeID+2; i++ {
			unprotected[off+i] = true
		}
		off += int(recordLen(int64(n)))
	}
	var flips, silentToReader int
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			b[i] ^= 1 << bit
			flips++
			rep, err := VerifyStream("s", fsys, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, rerr := readAll(fsys, "s")
			if rerr != nil && !IsCorruption(rerr) {
				t.Fatalf("byte %d bit %d: reader: %v", i, bit, rerr)
			}
			if rep.OK() != (rerr == nil) {
				t.Fatalf("byte %d bit %d: reader says %v, verify %v", i, bit, rerr, rep.Problems)
			}
			if rep.OK() {
				silentToReader++
				if !unprotected[i] {
					t.Errorf("byte %d bit %d: flip not detected", i, bit)
				}
				if rep, _ := VerifyStream("s", fsys, visit); rep.OK() {
					t.Errorf("byte %d bit %d: flip not detected even with the payload check", i, bit)
				}
			} else if unprotected[i] {
				t.Errorf("byte %d bit %d: flip in an unprotected field detected: %v", i, bit, rep.Problems)
			}
			b[i] ^= 1 << bit
		}
	}
	if rep, err := VerifyStream("s", fsys, visit); err != nil || !rep.OK() {
		t.Fatalf("restored segment: %v %v", rep, err)
	}
	t.Logf("%d flips in %d bytes; %d seen only by the payload check (%d bytes of timestamp_ns and type_id)",
		flips, len(b), silentToReader, len(unprotected))
}

// TestFlipEveryBitCompressed does the same to the .q.zst and its index.
// Every flip of the index is detected (block_size cannot hide: the
// segment has several frames). A few flips of the .q.zst are not, and
// cannot be: they leave the decoded bytes unchanged (zstd's checksum and
// every record CRC pass). They are redundant bits of the zstd encoding,
// chiefly each frame's Window_Descriptor, which only needs to be at least
// the frame's size, plus table-description bits for symbols a block never
// uses. The test requires that every undetected flip still decodes, with
// a plain streaming zstd decoder, to exactly the original .q.
func TestFlipEveryBitCompressed(t *testing.T) {
	fsys, visit := flipTarget(t)
	orig := bytes.Clone(fsys.files["s/"+Name(0)].b)
	compressAll(t, fsys, "s", CompressOptions{BlockSize: 256})
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for _, name := range []string{IndexName(0), CompressedName(0)} {
		b := fsys.files["s/"+name].b
		benign := 0
		for i := range b {
			for bit := 0; bit < 8; bit++ {
				b[i] ^= 1 << bit
				rep, err := VerifyStream("s", fsys, visit)
				if err != nil {
					t.Fatal(err)
				}
				_, rerr := readAll(fsys, "s")
				if rerr != nil && !IsCorruption(rerr) {
					t.Fatalf("%s byte %d bit %d: reader: %v", name, i, bit, rerr)
				}
				if rep.OK() != (rerr == nil) {
					t.Fatalf("%s byte %d bit %d: reader says %v, verify %v", name, i, bit, rerr, rep.Problems)
				}
				if rep.OK() {
					if err := dec.Reset(bytes.NewReader(fsys.files["s/"+CompressedName(0)].b)); err != nil {
						t.Fatal(err)
					}
					got, err := io.ReadAll(dec)
					if err != nil || !bytes.Equal(got, orig) || name != CompressedName(0) {
						t.Errorf("%s byte %d bit %d: flip not detected, and it changes the data (%v)", name, i, bit, err)
					}
					benign++
				}
				b[i] ^= 1 << bit
			}
		}
		t.Logf("%s: %d bytes, %d flips, %d undetected and harmless", name, len(b), 8*len(b), benign)
	}
}
