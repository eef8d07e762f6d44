package ingest

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// goldenCSV is a tiny day: a two-level snapshot, then a diff that deletes
// the ask and adds a bid with more decimals (so the price scale rises).
const goldenCSV = `exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount
binance,BTCUSDT,1000,2000,true,ask,100.5,2
binance,BTCUSDT,1000,2000,true,bid,100,1.5
binance,BTCUSDT,3000,4000,false,ask,100.5,0
binance,BTCUSDT,3000,4000,false,bid,100.25,3
`

// TestGoldenArchive imports goldenCSV and compares the segment byte for
// byte with testdata/golden/000000000.q.hex, an annotated dump whose every
// field was checked by hand against docs/FORMAT.md. On a mismatch it names
// the first differing offset. Run with -update to regenerate after an
// intended format change, then check the annotations again by hand.
func TestGoldenArchive(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "binance_incremental_book_L2_1970-01-01_BTCUSDT.csv")
	if err := os.WriteFile(in, []byte(goldenCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	o := importOpts(filepath.Join(dir, "root"), in)
	o.NoCheckpoints = true
	res := mustImport(t, o)
	got, err := os.ReadFile(filepath.Join(res.Dir, "000000000.q"))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden", "000000000.q.hex")
	if *update {
		os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, []byte(annotate(got)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	want := parseHexDump(t, string(text))
	for i := 0; i < min(len(got), len(want)); i++ {
		if got[i] != want[i] {
			t.Fatalf("segment differs from %s at offset %d: got %#02x want %#02x", golden, i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("segment is %d bytes, golden %d", len(got), len(want))
	}
}

// parseHexDump reads "hex  # comment" lines.
func parseHexDump(t *testing.T, s string) []byte {
	var out []byte
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.ReplaceAll(line, " ", "")
		if line == "" {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("golden: %v in %q", err, line)
		}
		out = append(out, b...)
	}
	return out
}

// annotate dumps a segment holding BookEvents field by field.
func annotate(b []byte) string {
	var sb strings.Builder
	off := 0
	field := func(n int, name string) {
		fmt.Fprintf(&sb, "%-40s # @%d %s\n", hex.EncodeToString(b[off:off+n]), off, name)
		off += n
	}
	sb.WriteString("# segment header\n")
	field(4, "magic SEG0")
	field(4, "version")
	field(4, "segment_id")
	field(4, "flags (1 = SEALED)")
	field(48, "reserved")
	for off < len(b) {
		start := off
		commit := int(b[off]) | int(b[off+1])<<8 | int(b[off+2])<<16 | int(b[off+3])<<24
		sb.WriteString("# message header\n")
		field(4, "commit_len = payload length + 1")
		field(4, "pad")
		field(8, "seq")
		field(8, "timestamp_ns")
		field(2, "type_id 0x1000 BookEvent")
		field(2, "flags")
		field(4, "crc32 of payload")
		field(32, "reserved")
		sb.WriteString("# BookEventHeader\n")
		field(2, "schema_version")
		field(2, "padding")
		field(4, "record_len")
		field(1, "endianness")
		field(1, "pad")
		field(2, "venue_id")
		field(4, "market_id")
		field(4, "stream_id")
		field(4, "padding")
		field(8, "ingest_ts_ns")
		field(8, "exchange_ts_ns")
		field(8, "seq")
		field(8, "native_seq")
		evType := b[off]
		field(1, "event_type")
		field(1, "book_mode")
		field(2, "flags")
		field(4, "pad")
		var nb, na int
		if evType == 1 {
			sb.WriteString("# L2Snapshot\n")
			field(1, "price_scale")
			field(1, "size_scale")
			field(2, "pad")
			nb = int(b[off]) | int(b[off+1])<<8
			field(4, "bid_count")
			na = int(b[off]) | int(b[off+1])<<8
			field(4, "ask_count")
		} else {
			sb.WriteString("# L2Diff\n")
			field(8, "update_id_first")
			field(8, "update_id_last")
			field(8, "update_id_prev")
			field(1, "price_scale")
			field(1, "size_scale")
			field(2, "flags (ABSOLUTE)")
			nb = int(b[off]) | int(b[off+1])<<8
			field(2, "bid_count")
			na = int(b[off]) | int(b[off+1])<<8
			field(2, "ask_count")
		}
		for i := 0; i < nb+na; i++ {
			side := "bid"
			if i >= nb {
				side = "ask"
			}
			field(8, side+" price")
			field(8, side+" size")
		}
		end := start + 64 + commit - 1
		pad := (64 - (end % 64)) % 64
		if pad > 0 {
			field(pad, "zero padding to 64")
		}
	}
	return sb.String()
}
