package columnar

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// hexLines writes b as hex, 32 bytes a line, the first line commented.
func hexLines(w *strings.Builder, b []byte, comment string) {
	for i := 0; i == 0 || i < len(b); i += 32 {
		line := hex.EncodeToString(b[i:min(i+32, len(b))])
		if i == 0 {
			fmt.Fprintf(w, "%-64s # %s\n", line, comment)
		} else {
			fmt.Fprintf(w, "%s\n", line)
		}
	}
}

// annotate dumps a compressed file as commented hex, one field a line.
func annotate(c []byte) string {
	var w strings.Builder
	f := func(n int, format string, args ...any) {
		hexLines(&w, c[:n], fmt.Sprintf(format, args...))
		c = c[n:]
	}
	uv := func(name string) uint64 {
		v, n := binary.Uvarint(c)
		f(n, "%s %d (uvarint)", name, v)
		return v
	}
	w.WriteString("# header\n")
	f(8, "magic %q", c[:8])
	f(2, "version %d", le.Uint16(c))
	f(2, "header_len %d", le.Uint16(c))
	f(4, "max_block_len %d", le.Uint32(c))
	f(8, "q_len %d", le.Uint64(c))
	f(8, "reserved")
	f(64, "segment header, verbatim")
	total := len(c)
	indexOff := int(le.Uint64(c[len(c)-TrailerSize:]))
	count := int(le.Uint32(c[len(c)-TrailerSize+8:]))
	for i := range count {
		e := c[indexOff-HeaderSize-(total-len(c))+i*IndexEntrySize:]
		compLen := int(le.Uint32(e[12:]))
		end := len(c) - compLen
		fmt.Fprintf(&w, "# block %d at offset %d: .q %d+%d\n", i, HeaderSize+total-len(c), le.Uint64(e), le.Uint32(e[8:]))
		kind := c[0]
		f(1, "kind %d", kind)
		ncols := 1
		if kind == kindRecords {
			tid := le.Uint16(c)
			f(2, "type_id %#04x", tid)
			uv("records")
			l := noLayout
			if tid != 0 {
				l = layouts[tid]
				if l.typ.Reference {
					f(2, "venue_id %d", le.Uint16(c))
					f(4, "market_id %d", le.Uint32(c))
					f(4, "stream_id %d", le.Uint32(c))
				}
			}
			ncols = len(l.kinds)
		}
		for j := range ncols {
			f(1, "column %d: method %d", j, c[0])
			uv("raw_len")
			n := uv("stored_len")
			f(int(n), "column %d bytes", j)
		}
		if len(c) != end {
			panic("block length")
		}
	}
	w.WriteString("# index\n")
	for i := range count {
		f(8, "block %d: q_offset %d", i, le.Uint64(c))
		f(4, "q_len %d", le.Uint32(c))
		f(4, "comp_len %d", le.Uint32(c))
		f(8, "comp_offset %d", le.Uint64(c))
		f(8, "first_seq %d", le.Uint64(c))
		f(8, "first_ts %d", le.Uint64(c))
		f(8, "last_ts %d", le.Uint64(c))
		f(4, "records %d", le.Uint32(c))
		f(4, "crc32c %#08x", le.Uint32(c))
	}
	w.WriteString("# trailer\n")
	f(8, "index_offset %d", le.Uint64(c))
	f(4, "block_count %d", le.Uint32(c))
	f(4, "crc32c of header and index %#08x", le.Uint32(c))
	f(8, "magic %q", c[:8])
	return w.String()
}

// parseHex reads what hexLines writes.
func parseHex(t *testing.T, s string) []byte {
	var out []byte
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		b, err := hex.DecodeString(strings.TrimSpace(line))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// TestGolden pins the format: a tiny .q (a snapshot, two diffs, a trade
// stored verbatim, a 100-byte zero tail) and its compressed form, annotated.
func TestGolden(t *testing.T) {
	q := append(mixedQ(t, 4, 3), make([]byte, 100)...)
	c, err := Encode(nil, q)
	if err != nil {
		t.Fatal(err)
	}
	qPath, cPath := filepath.Join("testdata", "golden", "tiny.q.hex"), filepath.Join("testdata", "golden", "tiny.col.hex")
	if *update {
		var w strings.Builder
		w.WriteString("# a .q segment file: a snapshot, two diffs, a trade, a 100-byte zero tail\n")
		hexLines(&w, q, "the whole file, 32 bytes a line")
		os.MkdirAll(filepath.Dir(qPath), 0o755)
		if err := os.WriteFile(qPath, []byte(w.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cPath, []byte("# its columnar form (docs/COLUMNAR.md)\n"+annotate(c)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	qs, err := os.ReadFile(qPath)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := os.ReadFile(cPath)
	if err != nil {
		t.Fatal(err)
	}
	wantQ, wantC := parseHex(t, string(qs)), parseHex(t, string(cs))
	if !bytes.Equal(q, wantQ) {
		t.Fatalf("the .q built today differs from %s at %d (segment or protocol changed)", qPath, firstDiff(q, wantQ))
	}
	if !bytes.Equal(c, wantC) {
		t.Errorf("Encode differs from %s at byte %d; annotated:\n%s", cPath, firstDiff(c, wantC), annotate(c))
	}
	got, err := Decode(nil, bytes.NewReader(wantC), int64(len(wantC)))
	if err != nil || !bytes.Equal(got, wantQ) {
		t.Errorf("Decode of %s: %v, equal %v", cPath, err, bytes.Equal(got, wantQ))
	}
}

// FuzzDecode: any input is an error or a .q; never a panic, and memory
// stays within what the index can claim (blocks of at most MaxBlockLen,
// columns of at most maxColumnsLen).
func FuzzDecode(f *testing.F) {
	for _, q := range [][]byte{mixedQ(f, 4, 3), mixedQ(f, 30, 1), make([]byte, 200)} {
		c, err := Encode(nil, q)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, c []byte) {
		file, err := Open(bytes.NewReader(c), int64(len(c)))
		if err != nil {
			return
		}
		var buf []byte
		for i, b := range file.Blocks() {
			if buf, err = file.DecodeBlock(i, buf[:0]); err != nil {
				continue
			}
			if len(buf) != b.QLen {
				t.Fatalf("block %d: %d bytes, index says %d", i, len(buf), b.QLen)
			}
		}
	})
}

// FuzzDecodeBlock feeds the block decoder directly, past the CRCs that
// stop FuzzDecode's damaged inputs early: whatever the bytes, an error or
// exactly the index's q_len bytes, never a panic.
func FuzzDecodeBlock(f *testing.F) {
	for _, q := range [][]byte{mixedQ(f, 12, 0), mixedQ(f, 12, 1), mixedQ(f, 12, 5), make([]byte, 200)} {
		c, err := Encode(nil, q)
		if err != nil {
			f.Fatal(err)
		}
		file, _ := Open(bytes.NewReader(c), int64(len(c)))
		for _, b := range file.Blocks() {
			f.Add(uint32(b.QLen), uint16(b.Records), b.FirstSeq, c[b.CompOffset:b.CompOffset+int64(b.CompLen)])
		}
	}
	var d, dr decoder
	dr.noCRC = true
	f.Fuzz(func(t *testing.T, qLen uint32, records uint16, firstSeq uint64, src []byte) {
		b := BlockInfo{QLen: int(qLen % (MaxBlockLen + 1)), Records: int(records), FirstSeq: firstSeq}
		out, err := d.block(nil, src, &b)
		if err == nil && len(out) != b.QLen {
			t.Fatalf("%d bytes, index says %d", len(out), b.QLen)
		}
		// Decoding for records (DecodeRecords, without its fallback to
		// exact) fails alike, and gives what recordsProblem allows.
		dr.inexact = false
		got, err2 := dr.block(nil, src, &b)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("exact decode: %v; for records: %v", err, err2)
		}
		if err != nil {
			return
		}
		if dr.inexact {
			return // DecodeRecords decodes exactly then
		}
		if p := recordsProblem(out, got, b.Records > 0, b.Records); p != "" {
			t.Fatal(p)
		}
	})
}

// TestGoldenOlderLevel: a file whose columns another zstd level compressed
// (the level is not part of the format) decodes to the same .q.
func TestGoldenOlderLevel(t *testing.T) {
	qs, err := os.ReadFile(filepath.Join("testdata", "golden", "tiny.q.hex"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := os.ReadFile(filepath.Join("testdata", "golden", "tiny.level7.col.hex"))
	if err != nil {
		t.Fatal(err)
	}
	wantQ, c := parseHex(t, string(qs)), parseHex(t, string(cs))
	now, err := Encode(nil, wantQ)
	if err != nil || bytes.Equal(now, c) {
		t.Fatalf("Encode: %v; same bytes as level 7's: %v (the test would test nothing)", err, err == nil)
	}
	got, err := Decode(nil, bytes.NewReader(c), int64(len(c)))
	if err != nil || !bytes.Equal(got, wantQ) {
		t.Errorf("Decode: %v, equal %v", err, bytes.Equal(got, wantQ))
	}
}
