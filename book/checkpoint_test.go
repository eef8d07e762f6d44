package book

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

func writeFile(t testing.TB, cps []Checkpoint) *CheckpointFile {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteCheckpointFile(&buf, cps); err != nil {
		t.Fatal(err)
	}
	f, err := OpenCheckpointFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// scriptedStream is a stream that puts every piece of replay state to work:
// a diff before the snapshot, a run of three snapshot messages (one reset), a
// gap, a crossing,
// a Reset event and a skipped diff, a scale raise, then random diffs.
func scriptedStream() []protocol.Event {
	L := func(p, s uint64) protocol.Level { return protocol.Level{Price: p, Size: s} }
	evs := []protocol.Event{
		{Type: protocol.Diff, Seq: 10, IngestTS: 100, ExchangeTS: 99, Bids: []protocol.Level{L(1, 1)}},
		{Type: protocol.Snapshot, Seq: 11, IngestTS: 200, ExchangeTS: 190, PriceScale: 1, SizeScale: 1, Bids: []protocol.Level{L(10000, 10), L(9990, 20)}},
		// A snapshot sent as three messages: one run, one reset.
		{Type: protocol.Snapshot, Seq: 12, IngestTS: 201, ExchangeTS: 190, PriceScale: 1, SizeScale: 1, Bids: []protocol.Level{L(9980, 30)}},
		{Type: protocol.Snapshot, Seq: 13, IngestTS: 203, ExchangeTS: 192, PriceScale: 1, SizeScale: 2, Asks: []protocol.Level{L(10010, 5), L(10020, 600)}},
		{Type: protocol.Diff, Seq: 14, IngestTS: 210, ExchangeTS: 185, PriceScale: 0, SizeScale: 0, Bids: []protocol.Level{L(998, 0), L(997, 0)}},
		{Type: protocol.Diff, Seq: 16, IngestTS: 220, ExchangeTS: 221, PriceScale: 2, SizeScale: 1, Bids: []protocol.Level{L(100150, 7)}}, // gap, crossed
		{Type: protocol.Diff, Seq: 17, IngestTS: 230, ExchangeTS: 231, PriceScale: 1, SizeScale: 1, Bids: []protocol.Level{L(10015, 0)}},
		{Type: protocol.Heartbeat, Seq: 18, IngestTS: 240, ExchangeTS: 241},
		{Type: protocol.Reset, Seq: 19, IngestTS: 250, ExchangeTS: 251},
		{Type: protocol.Diff, Seq: 20, IngestTS: 260, ExchangeTS: 261, Asks: []protocol.Level{L(1, 1)}},
		{Type: protocol.Snapshot, Seq: 21, IngestTS: 270, ExchangeTS: 271, PriceScale: 2, SizeScale: 3, Bids: []protocol.Level{L(100000, 1000)}, Asks: []protocol.Level{L(100100, 2000)}},
		{Type: protocol.Snapshot, Seq: 22, IngestTS: 270, ExchangeTS: 271, PriceScale: 3, SizeScale: 3, Bids: []protocol.Level{L(999990, 1000)}},
	}
	rng := rand.New(rand.NewPCG(7, 7))
	seq, ts := uint64(23), uint64(300)
	for range 300 {
		ev := protocol.Event{Type: protocol.Diff, Seq: seq, IngestTS: ts, ExchangeTS: ts - 5 + rng.Uint64N(10), PriceScale: uint8(rng.IntN(4)), SizeScale: 3}
		for range 1 + rng.IntN(6) {
			ev.Bids = append(ev.Bids, L(atScale(99900+rng.Uint64N(100), 2, ev.PriceScale), rng.Uint64N(4)*500))
			ev.Asks = append(ev.Asks, L(atScale(100100+rng.Uint64N(100), 2, ev.PriceScale), rng.Uint64N(4)*500))
		}
		evs = append(evs, ev)
		seq++
		ts += rng.Uint64N(3)
	}
	return evs
}

func replayAll(t *testing.T, r *Replayer, evs []protocol.Event) {
	t.Helper()
	for i := range evs {
		if err := r.Apply(&evs[i]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

// TestCheckpointResume: replaying 0..k, checkpointing (through the file
// format), restoring into a fresh replayer and replaying the rest gives the
// same state as an uninterrupted replay.
func TestCheckpointResume(t *testing.T) {
	evs := scriptedStream()
	full := NewReplayer(Options{})
	replayAll(t, full, evs)
	var want Checkpoint
	full.Checkpoint(&want)
	for _, tc := range []struct {
		name string
		k    int
	}{
		{"nothing applied", 0},
		{"before first snapshot", 1},
		{"inside snapshot run (1 of 3)", 2},
		{"inside snapshot run (2 of 3)", 3},
		{"after snapshot run", 4},
		{"before gap", 5},
		{"after gap and crossing", 6},
		{"after reset event", 9},
		{"after skipped diff", 10},
		{"inside second split snapshot", 11},
		{"in random diffs", 100},
		{"everything", len(evs)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReplayer(Options{})
			replayAll(t, r, evs[:tc.k])
			var cp, loaded Checkpoint
			r.Checkpoint(&cp)
			cp.SegmentID, cp.Offset = 3, int64(tc.k)
			f := writeFile(t, []Checkpoint{cp})
			if err := f.Load(0, &loaded); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normNil(loaded), normNil(cp)) {
				t.Fatalf("file round trip\n got %+v\nwant %+v", loaded, cp)
			}
			r2 := NewReplayer(Options{})
			if err := r2.Restore(&loaded); err != nil {
				t.Fatal(err)
			}
			replayAll(t, r2, evs[tc.k:])
			var got Checkpoint
			r2.Checkpoint(&got)
			if !reflect.DeepEqual(normNil(got), normNil(want)) {
				t.Fatalf("resumed state\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// normNil makes empty level slices nil so DeepEqual compares contents.
func normNil(cp Checkpoint) Checkpoint {
	if len(cp.Bids) == 0 {
		cp.Bids = nil
	}
	if len(cp.Asks) == 0 {
		cp.Asks = nil
	}
	return cp
}

func TestRestoreRejectsInvalid(t *testing.T) {
	L := func(p, s uint64) protocol.Level { return protocol.Level{Price: p, Size: s} }
	valid := Checkpoint{Seq: 5, IngestTS: 9, ExchangeTS: 8, MaxIngestTS: 9, MaxExchangeTS: 9, LastType: protocol.Diff,
		SnapshotSeen: true, Stats: Stats{Events: 2}, PriceScale: 2, SizeScale: 1,
		Bids: []protocol.Level{L(100, 1), L(99, 1)}, Asks: []protocol.Level{L(101, 1), L(102, 1)}}
	if err := NewReplayer(Options{}).Restore(&valid); err != nil {
		t.Fatalf("valid checkpoint: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Checkpoint)
	}{
		{"price scale", func(c *Checkpoint) { c.PriceScale = 19 }},
		{"size scale", func(c *Checkpoint) { c.SizeScale = 19 }},
		{"bids not best first", func(c *Checkpoint) { c.Bids = []protocol.Level{L(99, 1), L(100, 1)} }},
		{"asks not best first", func(c *Checkpoint) { c.Asks = []protocol.Level{L(102, 1), L(101, 1)} }},
		{"duplicate price", func(c *Checkpoint) { c.Asks = []protocol.Level{L(101, 1), L(101, 2)} }},
		{"zero size", func(c *Checkpoint) { c.Bids[1].Size = 0 }},
		{"levels without snapshot", func(c *Checkpoint) { c.SnapshotSeen = false }},
		{"bad last type", func(c *Checkpoint) { c.LastType = 9 }},
		{"snapshot last without snapshot seen", func(c *Checkpoint) {
			c.LastType, c.SnapshotSeen, c.Bids, c.Asks = protocol.Snapshot, false, nil, nil
		}},
		{"last fields without events", func(c *Checkpoint) { c.Stats.Events = 0 }},
		{"max below last", func(c *Checkpoint) { c.MaxExchangeTS = 7 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := valid
			cp.Bids, cp.Asks = slicesClone(valid.Bids), slicesClone(valid.Asks)
			tc.edit(&cp)
			r := NewReplayer(Options{})
			if err := r.Restore(&cp); !errors.Is(err, ErrInvalidCheckpoint) {
				t.Fatalf("Restore: %v, want ErrInvalidCheckpoint", err)
			}
			if r.Book().Len(Bid)+r.Book().Len(Ask) != 0 || r.Stats() != (Stats{}) {
				t.Fatal("failed Restore changed the replayer")
			}
			if err := WriteCheckpointFile(&bytes.Buffer{}, []Checkpoint{cp}); !errors.Is(err, ErrInvalidCheckpoint) {
				t.Fatalf("WriteCheckpointFile: %v, want ErrInvalidCheckpoint", err)
			}
		})
	}
}

func slicesClone(l []protocol.Level) []protocol.Level { return append([]protocol.Level(nil), l...) }

// manyCheckpoints replays the scripted stream and checkpoints every 7 events.
func manyCheckpoints(t testing.TB) []Checkpoint {
	evs := scriptedStream()
	r := NewReplayer(Options{})
	var cps []Checkpoint
	for i := range evs {
		if err := r.Apply(&evs[i]); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			var cp Checkpoint
			r.Checkpoint(&cp)
			cp.SegmentID, cp.Offset = uint32(i/100), int64(64+(i%100)*128)
			cps = append(cps, cp)
		}
	}
	return cps
}

func TestCheckpointFileRoundTrip(t *testing.T) {
	cps := manyCheckpoints(t)
	f := writeFile(t, cps)
	if f.Len() != len(cps) {
		t.Fatalf("Len %d, want %d", f.Len(), len(cps))
	}
	var got Checkpoint
	for i := range cps {
		if err := f.Load(i, &got); err != nil {
			t.Fatalf("Load(%d): %v", i, err)
		}
		if !reflect.DeepEqual(normNil(got), normNil(cps[i])) {
			t.Fatalf("Load(%d)\n got %+v\nwant %+v", i, got, cps[i])
		}
	}
	if err := f.Load(len(cps), &got); err == nil {
		t.Fatal("Load past the end succeeded")
	}
	empty := writeFile(t, nil)
	if empty.Len() != 0 {
		t.Fatal("empty file has checkpoints")
	}
	if _, ok := empty.Find(1<<60, false); ok {
		t.Fatal("Find in empty file")
	}
}

// TestCheckpointFind checks Find and FindPosition against a linear scan for
// every key around every checkpoint's keys.
func TestCheckpointFind(t *testing.T) {
	cps := manyCheckpoints(t)
	f := writeFile(t, cps)
	linear := func(pred func(*Checkpoint) bool) (int, bool) {
		i := -1
		for k := range cps {
			if pred(&cps[k]) {
				i = k
			}
		}
		return i, i >= 0
	}
	for _, cp := range cps {
		for _, d := range []int64{-1, 0, 1} {
			for _, exch := range []bool{false, true} {
				ts := cp.MaxIngestTS
				if exch {
					ts = cp.MaxExchangeTS
				}
				ts = uint64(int64(ts) + d)
				wi, wok := linear(func(c *Checkpoint) bool {
					if exch {
						return c.MaxExchangeTS <= ts
					}
					return c.MaxIngestTS <= ts
				})
				if i, ok := f.Find(ts, exch); i != wi || ok != wok {
					t.Errorf("Find(%d, %v) = %d, %v; want %d, %v", ts, exch, i, ok, wi, wok)
				}
			}
			off := cp.Offset + d
			wi, wok := linear(func(c *Checkpoint) bool { return posLE(c.SegmentID, c.Offset, cp.SegmentID, off) })
			if i, ok := f.FindPosition(cp.SegmentID, off); i != wi || ok != wok {
				t.Errorf("FindPosition(%d, %d) = %d, %v; want %d, %v", cp.SegmentID, off, i, ok, wi, wok)
			}
		}
	}
	if _, ok := f.Find(0, false); ok {
		t.Error("Find(0) found a checkpoint")
	}
}

func TestCheckpointWriterOrder(t *testing.T) {
	cps := manyCheckpoints(t)[:3]
	for _, tc := range []struct {
		name string
		edit func(c []Checkpoint)
	}{
		{"position backwards", func(c []Checkpoint) { c[2].Offset = c[1].Offset - 1 }},
		{"segment backwards", func(c []Checkpoint) { c[1].SegmentID, c[2].SegmentID = 2, 1 }},
		{"max ingest backwards", func(c []Checkpoint) { c[2].MaxIngestTS, c[2].IngestTS = c[1].MaxIngestTS-1, 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := append([]Checkpoint(nil), cps...)
			tc.edit(c)
			if err := WriteCheckpointFile(&bytes.Buffer{}, c); err == nil {
				t.Fatal("out-of-order checkpoints accepted")
			}
		})
	}
}

func validFile(t testing.TB) []byte {
	var buf bytes.Buffer
	if err := WriteCheckpointFile(&buf, manyCheckpoints(t)[:4]); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// openAndLoad opens data and loads every checkpoint, returning the first error.
func openAndLoad(data []byte) error {
	f, err := OpenCheckpointFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	var cp Checkpoint
	for i := range f.Len() {
		if err := f.Load(i, &cp); err != nil {
			return err
		}
		if err := NewReplayer(Options{}).Restore(&cp); err != nil {
			return err
		}
	}
	return nil
}

func TestCheckpointFileCorruption(t *testing.T) {
	good := validFile(t)
	if err := openAndLoad(good); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	size := len(good)
	trailer := size - ckptTrailerSize
	ioff := int(le.Uint64(good[trailer:]))
	// fixTrailer recomputes the trailer CRC so a test reaches the check behind it.
	fixTrailer := func(b []byte) {
		le.PutUint32(b[trailer+20:], crc32.ChecksumIEEE(b[trailer:trailer+20]))
	}
	fixIndex := func(b []byte) {
		le.PutUint32(b[trailer+16:], crc32.ChecksumIEEE(b[ioff:trailer]))
		fixTrailer(b)
	}
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"truncated", func(b []byte) []byte { return b[:size-1] }},
		{"extra byte", func(b []byte) []byte { return append(b, 0) }},
		{"header only", func(b []byte) []byte { return b[:ckptHeaderSize] }},
		{"bad magic", func(b []byte) []byte { b[0] ^= 1; return b }},
		{"bad version", func(b []byte) []byte { b[8] = 2; return b }},
		{"bad header_len", func(b []byte) []byte { b[10] = 33; return b }},
		{"header reserved", func(b []byte) []byte { b[20] = 1; return b }},
		{"trailer magic", func(b []byte) []byte { b[size-1] ^= 1; return b }},
		{"trailer CRC", func(b []byte) []byte { b[trailer+20] ^= 1; return b }},
		{"index CRC", func(b []byte) []byte { b[ioff+30] ^= 1; return b }},
		{"count too big", func(b []byte) []byte { le.PutUint64(b[trailer+8:], 1<<62); fixTrailer(b); return b }},
		{"index offset past trailer", func(b []byte) []byte { le.PutUint64(b[trailer:], uint64(size)); fixTrailer(b); return b }},
		{"entry record offset", func(b []byte) []byte { le.PutUint64(b[ioff+ckptEntrySize:], 40); fixIndex(b); return b }},
		{"entry record len", func(b []byte) []byte { le.PutUint32(b[ioff+8:], ckptRecordFixed+8); fixIndex(b); return b }},
		{"entries out of order", func(b []byte) []byte {
			le.PutUint64(b[ioff+ckptEntrySize+32:], 0) // second entry's max ingest ts
			fixIndex(b)
			return b
		}},
		{"entry disagrees with record", func(b []byte) []byte { b[ioff+24] ^= 1; fixIndex(b); return b }},
		{"record CRC", func(b []byte) []byte { b[ckptHeaderSize+100] ^= 1; return b }},
		{"record_len", func(b []byte) []byte { b[ckptHeaderSize] ^= 1; return b }},
		{"record invalid state", func(b []byte) []byte {
			r := b[ckptHeaderSize:]
			r[14] = 19 // price scale
			le.PutUint32(r[4:], crc32.ChecksumIEEE(r[8:le.Uint32(r)]))
			return b
		}},
		{"record level counts", func(b []byte) []byte {
			r := b[ckptHeaderSize:]
			le.PutUint32(r[152:], le.Uint32(r[152:])+1)
			le.PutUint32(r[4:], crc32.ChecksumIEEE(r[8:le.Uint32(r)]))
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(bytes.Clone(good))
			if err := openAndLoad(b); !errors.Is(err, ErrCorruptCheckpointFile) && !errors.Is(err, ErrInvalidCheckpoint) {
				t.Fatalf("err = %v, want a corruption error", err)
			}
		})
	}
	// Every byte is under a magic, a CRC or an exact check: no single-bit
	// flip anywhere goes unnoticed.
	for i := range good {
		for bit := range 8 {
			b := bytes.Clone(good)
			b[i] ^= 1 << bit
			if openAndLoad(b) == nil {
				t.Fatalf("flip of byte %d bit %d not detected", i, bit)
			}
		}
	}
}

func FuzzCheckpointFile(f *testing.F) {
	f.Add(validFile(f))
	f.Add([]byte(ckptMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := OpenCheckpointFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		fl.Find(uint64(len(data)), false)
		fl.FindPosition(0, int64(len(data)))
		var cp Checkpoint
		for i := range fl.Len() {
			if fl.Load(i, &cp) != nil {
				continue
			}
			// A loaded checkpoint is valid: it restores, and writes back the same.
			r := NewReplayer(Options{})
			if err := r.Restore(&cp); err != nil {
				t.Fatalf("Load(%d) gave a checkpoint Restore rejects: %v", i, err)
			}
			var back Checkpoint
			r.Checkpoint(&back)
			back.SegmentID, back.Offset = cp.SegmentID, cp.Offset
			if !reflect.DeepEqual(normNil(back), normNil(cp)) {
				t.Fatalf("Restore+Checkpoint changed checkpoint %d", i)
			}
		}
	})
}
