package segment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/vfs"
	"github.com/klauspost/compress/zstd"
)

// The golden stream: segment 7 with two records, seq 41 and 42.
const (
	goldenID   = 7
	goldenSeq  = 41
	goldenTS0  = 1_700_000_000_000_000_000
	goldenTS1  = 1_700_000_000_000_000_001
	goldenType = 0x1000
	goldenBS   = 256 // two frames: 256 + 128 bytes
)

func goldenRecs() []testRec {
	p1 := make([]byte, 70) // crosses a 64-byte boundary: 58 bytes of padding
	for i := range p1 {
		p1[i] = byte(i)
	}
	return []testRec{
		{typ: goldenType, ts: goldenTS0, payload: []byte("hello")},
		{typ: 0x1002, ts: goldenTS1, payload: p1},
	}
}

// handBuiltGolden lays the golden segment out from FORMAT.md with literal
// offsets, independently of the package's constants and writer.
func handBuiltGolden() []byte {
	le := binary.LittleEndian
	b := make([]byte, 64+128+192)
	// Segment header.
	le.PutUint32(b[0:], 0x53454730) // magic "SEG0"
	le.PutUint32(b[4:], 1)          // version
	le.PutUint32(b[8:], 7)          // segment_id
	le.PutUint32(b[12:], 1)         // flags: SEALED
	// Record 0 at 64: "hello", padded to 64.
	le.PutUint32(b[64:], 6) // commit_len = 5 + 1
	le.PutUint64(b[72:], 41)
	le.PutUint64(b[80:], goldenTS0)
	le.PutUint16(b[88:], 0x1000)
	le.PutUint32(b[92:], 0x3610A686) // crc32("hello")
	copy(b[128:], "hello")
	// Record 1 at 192: 70 bytes, padded to 128.
	p1 := goldenRecs()[1].payload
	le.PutUint32(b[192:], 71)
	le.PutUint64(b[200:], 42)
	le.PutUint64(b[208:], goldenTS1)
	le.PutUint16(b[216:], 0x1002)
	le.PutUint32(b[220:], crc32.ChecksumIEEE(p1))
	copy(b[256:], p1)
	return b
}

// writeGolden writes the golden stream into dir and returns the .q bytes.
func writeGolden(t testing.TB, fsys vfs.FS, dir string) []byte {
	t.Helper()
	w, err := NewWriter(dir, WriterOptions{FS: fsys, FirstID: goldenID, FirstSeq: goldenSeq})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range goldenRecs() {
		if _, err := w.Append(r.typ, r.ts, r.payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := vfs.ReadFile(fsys, filepath.Join(dir, Name(goldenID)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenSegment(t *testing.T) {
	dir := t.TempDir()
	got := writeGolden(t, vfs.Default, dir)
	compareBytes(t, "writer vs hand-built layout", got, handBuiltGolden(), nil)
	checkFixture(t, "testdata/golden/000000007.q.hex", got, dumpSegment(got))

	// And it reads back.
	recs, err := readAll(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkRecs(t, recs, goldenRecs(), []Position{{7, 64}, {7, 192}}, goldenSeq)
}

func TestGoldenCompressed(t *testing.T) {
	dir := t.TempDir()
	q := writeGolden(t, vfs.Default, dir)
	if err := CompressSegment(dir, goldenID, CompressOptions{BlockSize: goldenBS}); err != nil {
		t.Fatal(err)
	}
	zst, err := os.ReadFile(filepath.Join(dir, CompressedName(goldenID)))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(dir, IndexName(goldenID)))
	if err != nil {
		t.Fatal(err)
	}
	// The index by hand: two frames, 256 and 128 bytes.
	ix, err := ParseIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Entries) != 2 || ix.BlockSize != goldenBS ||
		ix.Entries[0].UncompressedSize != 256 || ix.Entries[1].UncompressedOffset != 256 || ix.Entries[1].UncompressedSize != 128 ||
		ix.Entries[1].CompressedOffset != uint64(ix.Entries[0].CompressedSize) || ix.CompressedSize() != int64(len(zst)) {
		t.Fatalf("index %+v for a %d-byte .zst", ix, len(zst))
	}
	le := binary.LittleEndian
	if string(idx[:8]) != "QZSTIDX1" || le.Uint16(idx[8:]) != 1 || le.Uint16(idx[10:]) != 24 ||
		le.Uint32(idx[12:]) != goldenBS || le.Uint64(idx[16:]) != 2 || len(idx) != 24+2*24 {
		t.Fatalf("index header % x", idx[:24])
	}
	// Each frame alone decodes to its block; together they give the .q.
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	for i, e := range ix.Entries {
		b, err := dec.DecodeAll(zst[e.CompressedOffset:e.CompressedOffset+uint64(e.CompressedSize)], nil)
		if err != nil || !bytes.Equal(b, q[e.UncompressedOffset:e.UncompressedOffset+uint64(e.UncompressedSize)]) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	checkFixture(t, "testdata/golden/000000007.q.zst.idx.hex", idx, dumpIndex(idx))
	// The frames pin the zstd encoder's output. If upgrading
	// klauspost/compress changes them, check that zstd -dc still restores
	// the .q and regenerate with -update.
	checkFixture(t, "testdata/golden/000000007.q.zst", zst, nil)
	if _, err := os.Stat(filepath.Join(dir, Name(goldenID))); !os.IsNotExist(err) {
		t.Fatalf("the .q is still there: %v", err)
	}
	recs, err := readAll(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkRecs(t, recs, goldenRecs(), []Position{{7, 64}, {7, 192}}, goldenSeq)
}

// checkFixture compares got with the fixture at path: a hex dump (parsed)
// when dump is not nil, raw bytes otherwise. With -update it rewrites it.
func checkFixture(t *testing.T, path string, got []byte, dump []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		data := got
		if dump != nil {
			data = dump
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	want, notes := raw, []string(nil)
	if dump != nil {
		if want, notes, err = parseHexDump(raw); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	compareBytes(t, path, got, want, notes)
}

// compareBytes fails naming the first differing offset (and the fixture's
// note for that byte).
func compareBytes(t *testing.T, what string, got, want []byte, notes []string) {
	t.Helper()
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			note := ""
			if i < len(notes) && notes[i] != "" {
				note = " (" + notes[i] + ")"
			}
			t.Fatalf("%s: first difference at offset %d%s: got %#02x, want %#02x; got %d bytes, want %d",
				what, i, note, got[i], want[i], len(got), len(want))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: identical up to offset %d, then got %d bytes, want %d", what, n, len(got), len(want))
	}
}

// The hex dump format: "# comment" lines, and lines of
// "OFFSET  hh hh ...  | note" where OFFSET is 8 hex digits and must follow
// on from the previous line.

type dumper struct {
	b   []byte
	off int
	out strings.Builder
}

func (d *dumper) comment(s string) { fmt.Fprintf(&d.out, "# %s\n", s) }

// field dumps the next n bytes, 16 to a line.
func (d *dumper) field(n int, note string) {
	for n > 0 {
		k := min(n, 16)
		hex := make([]string, k)
		for i := range hex {
			hex[i] = fmt.Sprintf("%02x", d.b[d.off+i])
		}
		fmt.Fprintf(&d.out, "%08x  %-47s  | %s\n", d.off, strings.Join(hex, " "), note)
		d.off += k
		n -= k
	}
}

func dumpSegment(b []byte) []byte {
	le := binary.LittleEndian
	d := &dumper{b: b}
	d.comment("Golden segment: two records, written by TestGoldenSegment.")
	d.comment("Checked by hand against docs/FORMAT.md. Regenerate: go test ./segment -run TestGolden -update")
	d.comment("segment header")
	d.field(4, fmt.Sprintf("magic %#08x (\"SEG0\")", le.Uint32(b)))
	d.field(4, fmt.Sprintf("version %d", le.Uint32(b[4:])))
	d.field(4, fmt.Sprintf("segment_id %d", le.Uint32(b[8:])))
	d.field(4, fmt.Sprintf("flags %#x (SEALED)", le.Uint32(b[12:])))
	d.field(48, "reserved")
	for d.off+HeaderSize <= len(b) {
		h := b[d.off:]
		commit := le.Uint32(h)
		if commit == 0 {
			break
		}
		n := int(commit - 1)
		d.comment(fmt.Sprintf("record at offset %d", d.off))
		d.field(4, fmt.Sprintf("commit_len %d (payload %d bytes)", commit, n))
		d.field(4, "pad")
		d.field(8, fmt.Sprintf("seq %d", le.Uint64(h[8:])))
		d.field(8, fmt.Sprintf("timestamp_ns %d", le.Uint64(h[16:])))
		d.field(2, fmt.Sprintf("type_id %#04x", le.Uint16(h[24:])))
		d.field(2, "flags")
		d.field(4, fmt.Sprintf("checksum %#08x", le.Uint32(h[28:])))
		d.field(32, "reserved")
		d.field(n, fmt.Sprintf("payload (%d bytes)", n))
		d.field(int(recordLen(int64(n)))-64-n, "padding")
	}
	if d.off < len(b) {
		d.field(len(b)-d.off, "tail")
	}
	return []byte(d.out.String())
}

func dumpIndex(b []byte) []byte {
	le := binary.LittleEndian
	d := &dumper{b: b}
	d.comment("Golden index of 000000007.q.zst (block_size 256), written by TestGoldenCompressed.")
	d.comment("Regenerate: go test ./segment -run TestGolden -update")
	d.field(8, fmt.Sprintf("magic %q", b[:8]))
	d.field(2, fmt.Sprintf("version %d", le.Uint16(b[8:])))
	d.field(2, fmt.Sprintf("header_len %d", le.Uint16(b[10:])))
	d.field(4, fmt.Sprintf("block_size %d", le.Uint32(b[12:])))
	d.field(8, fmt.Sprintf("frame_count %d", le.Uint64(b[16:])))
	for i := 0; d.off+24 <= len(b); i++ {
		e := b[d.off:]
		d.comment(fmt.Sprintf("frame %d", i))
		d.field(8, fmt.Sprintf("uncompressed_offset %d", le.Uint64(e)))
		d.field(8, fmt.Sprintf("compressed_offset %d", le.Uint64(e[8:])))
		d.field(4, fmt.Sprintf("compressed_size %d", le.Uint32(e[16:])))
		d.field(4, fmt.Sprintf("uncompressed_size %d", le.Uint32(e[20:])))
	}
	return []byte(d.out.String())
}

// parseHexDump reads a dump back, with each byte's note.
func parseHexDump(text []byte) ([]byte, []string, error) {
	var b []byte
	var notes []string
	for ln, line := range strings.Split(string(text), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		data, note, _ := strings.Cut(line, "|")
		f := strings.Fields(data)
		if len(f) < 2 {
			return nil, nil, fmt.Errorf("line %d: %q", ln+1, line)
		}
		off, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || int(off) != len(b) {
			return nil, nil, fmt.Errorf("line %d: offset %q, want %08x", ln+1, f[0], len(b))
		}
		for _, h := range f[1:] {
			v, err := strconv.ParseUint(h, 16, 8)
			if err != nil || len(h) != 2 {
				return nil, nil, fmt.Errorf("line %d: byte %q", ln+1, h)
			}
			b = append(b, byte(v))
			notes = append(notes, strings.TrimSpace(note))
		}
	}
	return b, notes, nil
}
