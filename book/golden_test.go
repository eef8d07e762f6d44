package book

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

// TestCheckpointGolden pins every byte of a one-checkpoint file against the
// layout in docs/FORMAT.md ("Book checkpoints").
func TestCheckpointGolden(t *testing.T) {
	cp := Checkpoint{SegmentID: 7, Offset: 0x40, Seq: 5, IngestTS: 0x10, ExchangeTS: 0x0f, LastType: protocol.Diff,
		MaxIngestTS: 0x10, MaxExchangeTS: 0x11, SnapshotSeen: true,
		Stats: Stats{Events: 6, Snapshots: 1, Diffs: 5, LevelUpdates: 9, Resets: 1, AbsentRemovals: 2,
			SkippedBeforeSnapshot: 0x0a, Gaps: 1, CrossedEvents: 0x0b, FirstGapSeq: 3, FirstCrossedSeq: 0x0c},
		PriceScale: 2, SizeScale: 3, Bids: []protocol.Level{{Price: 100, Size: 1}}, Asks: []protocol.Level{{Price: 101, Size: 2}}}
	var buf bytes.Buffer
	if err := WriteCheckpointFile(&buf, []Checkpoint{cp}); err != nil {
		t.Fatal(err)
	}
	u64 := func(v uint64) string { return hex.EncodeToString(binary.LittleEndian.AppendUint64(nil, v)) }
	header := strings.Join([]string{
		hex.EncodeToString([]byte("CHRNCKPT")), "0100", "2000", "00000000", strings.Repeat("00", 16),
	}, "")
	body := strings.Join([]string{ // record from offset 8
		"07000000",             // segment_id
		"01", "02", "02", "03", // flags (snapshot_seen), last_type, price_scale, size_scale
		u64(0x40), u64(5), u64(0x10), u64(0x0f), u64(0x10), u64(0x11), // offset, seq, ingest, exchange, max ingest, max exchange
		u64(6), u64(1), u64(5), u64(9), u64(1), u64(2), u64(0x0a), u64(1), u64(0x0b), u64(3), u64(0x0c), // stats
		"01000000", "01000000", // bid_count, ask_count
		u64(100), u64(1), u64(101), u64(2), // levels
	}, "")
	bodyBytes, _ := hex.DecodeString(body)
	record := "c0000000" + hex.EncodeToString(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(bodyBytes))) + body
	entry := u64(32) + "c0000000" + "07000000" + u64(0x40) + u64(5) + u64(0x10) + u64(0x11)
	entryBytes, _ := hex.DecodeString(entry)
	trailer0 := u64(224) + u64(1) + hex.EncodeToString(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(entryBytes)))
	t0, _ := hex.DecodeString(trailer0)
	trailer := trailer0 + hex.EncodeToString(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(t0))) + hex.EncodeToString([]byte("CHRNCKIX"))
	want := header + record + entry + trailer
	if got := hex.EncodeToString(buf.Bytes()); got != want {
		for i := 0; i < min(len(got), len(want)); i += 2 {
			if got[i:i+2] != want[i:i+2] {
				t.Fatalf("first difference at byte %d\n got %s\nwant %s", i/2, got, want)
			}
		}
		t.Fatalf("length %d, want %d", len(got)/2, len(want)/2)
	}
}
