package segment

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"testing"
)

func TestName(t *testing.T) {
	for _, tc := range []struct {
		id               uint32
		q, zst, idx      string
		parsesBackAsNine bool
	}{
		{0, "000000000.q", "000000000.q.zst", "000000000.q.zst.idx", true},
		{7, "000000007.q", "000000007.q.zst", "000000007.q.zst.idx", true},
		{123456789, "123456789.q", "123456789.q.zst", "123456789.q.zst.idx", true},
		{MaxID, "999999999.q", "999999999.q.zst", "999999999.q.zst.idx", true},
		// Past MaxID the name needs ten digits and does not parse: the
		// writer refuses such ids.
		{MaxID + 1, "1000000000.q", "1000000000.q.zst", "1000000000.q.zst.idx", false},
	} {
		if got := Name(tc.id); got != tc.q {
			t.Errorf("Name(%d) = %q, want %q", tc.id, got, tc.q)
		}
		if got := CompressedName(tc.id); got != tc.zst {
			t.Errorf("CompressedName(%d) = %q, want %q", tc.id, got, tc.zst)
		}
		if got := IndexName(tc.id); got != tc.idx {
			t.Errorf("IndexName(%d) = %q, want %q", tc.id, got, tc.idx)
		}
		for kind, name := range map[Kind]string{KindSegment: tc.q, KindCompressed: tc.zst, KindIndex: tc.idx} {
			id, k, ok := ParseName(name)
			if ok != tc.parsesBackAsNine || (ok && (id != tc.id || k != kind)) {
				t.Errorf("ParseName(%q) = %d, %v, %v", name, id, k, ok)
			}
		}
	}
}

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   uint32
		kind Kind
		ok   bool
	}{
		{"000000003.q", 3, KindSegment, true},
		{"000000003.q.zst", 3, KindCompressed, true},
		{"000000003.q.zst.idx", 3, KindIndex, true},
		{"000000003.q.tmp", 0, 0, false},
		{"000000003.q.zst.tmp", 0, 0, false},
		{"000000003.q.zst.idx.tmp", 0, 0, false},
		{"meta.json", 0, 0, false},
		{"00000003.q", 0, 0, false},   // eight digits
		{"0000000003.q", 0, 0, false}, // ten digits
		{"00000000a.q", 0, 0, false},
		{"-00000003.q", 0, 0, false},
		{"000000003.Q", 0, 0, false},
		{"000000003.q.", 0, 0, false},
		{"000000003.qq", 0, 0, false},
		{"000000003", 0, 0, false},
		{"", 0, 0, false},
	} {
		id, kind, ok := ParseName(tc.name)
		if id != tc.id || kind != tc.kind || ok != tc.ok {
			t.Errorf("ParseName(%q) = %d, %v, %v; want %d, %v, %v", tc.name, id, kind, ok, tc.id, tc.kind, tc.ok)
		}
	}
}

// TestCRCPin pins the checksum to CRC-32 IEEE, the zlib polynomial, with
// the reference's test vector, and checks the writer puts it at offset 28.
func TestCRCPin(t *testing.T) {
	if got := crc32.ChecksumIEEE([]byte("hello")); got != 0x3610A686 {
		t.Fatalf("crc32(hello) = %#08x, want 0x3610a686", got)
	}
	fsys := newMemFS()
	w, err := NewWriter("s", WriterOptions{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(1, 2, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := fsys.get("s/000000000.q")
	if got := b[HeaderSize+28 : HeaderSize+32]; string(got) != "\x86\xa6\x10\x36" {
		t.Fatalf("checksum field % x, want 86 a6 10 36", got)
	}
}

func TestCorruptionError(t *testing.T) {
	e := &CorruptionError{Path: "v1/x/000000003.q", Offset: 4160,
		Err: detailf(ErrChecksum, "header %#08x payload %#08x", 0x3610a686, 0x12345678)}
	if got, want := e.Error(), "segment v1/x/000000003.q: offset 4160: crc mismatch: header 0x3610a686 payload 0x12345678"; got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
	e.Seq, e.HasSeq = 9, true
	if got, want := e.Error(), "segment v1/x/000000003.q: offset 4160: crc mismatch: header 0x3610a686 payload 0x12345678 (seq 9)"; got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
	if !errors.Is(e, ErrChecksum) || errors.Is(e, ErrPadding) {
		t.Error("errors.Is does not see the sentinel")
	}
	wrapped := fmt.Errorf("replay: %w", e)
	if !IsCorruption(wrapped) || IsCorruption(io.ErrUnexpectedEOF) || IsCorruption(nil) {
		t.Error("IsCorruption")
	}
	p := Problem{Path: e.Path, Offset: e.Offset, Err: e}
	if got, want := p.Error(), "v1/x/000000003.q: offset 4160: crc mismatch: header 0x3610a686 payload 0x12345678 (seq 9)"; got != want {
		t.Errorf("Problem.Error() = %q\nwant             %q", got, want)
	}
	p = Problem{Path: "d/000000001.q", Offset: 128, Err: errors.New("bad payload")}
	if got, want := p.Error(), "d/000000001.q: offset 128: bad payload"; got != want {
		t.Errorf("Problem.Error() = %q, want %q", got, want)
	}
	for _, s := range corruptionSentinels {
		if msg := s.Error(); len(msg) < 9 || msg[:9] != "segment: " {
			t.Errorf("sentinel %q lacks the segment: prefix", msg)
		}
	}
}
