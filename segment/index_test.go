package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func testIndex() *Index {
	return &Index{BlockSize: 100, Entries: []IndexEntry{
		{UncompressedOffset: 0, CompressedOffset: 0, CompressedSize: 40, UncompressedSize: 100},
		{UncompressedOffset: 100, CompressedOffset: 40, CompressedSize: 30, UncompressedSize: 100},
		{UncompressedOffset: 200, CompressedOffset: 70, CompressedSize: 20, UncompressedSize: 64},
	}}
}

func TestIndexRoundTrip(t *testing.T) {
	ix := testIndex()
	b := ix.Append([]byte("prefix"))
	if string(b[:6]) != "prefix" || len(b) != 6+24+3*24 {
		t.Fatalf("Append gave %d bytes", len(b))
	}
	got, err := ParseIndex(b[6:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ix) {
		t.Fatalf("round trip: %+v", got)
	}
	if ix.UncompressedSize() != 264 || ix.CompressedSize() != 90 {
		t.Fatalf("sizes %d %d", ix.UncompressedSize(), ix.CompressedSize())
	}
	for off, want := range map[int64]int{0: 0, 99: 0, 100: 1, 199: 1, 200: 2, 263: 2, 264: 3, 1000: 3} {
		if got := ix.Find(off); got != want {
			t.Errorf("Find(%d) = %d, want %d", off, got, want)
		}
	}
}

func TestParseIndexStrict(t *testing.T) {
	good := testIndex().Append(nil)
	le := binary.LittleEndian
	for _, tc := range []struct {
		name   string
		mutate func(b []byte) []byte
		off    int64
	}{
		{"empty", func(b []byte) []byte { return nil }, 0},
		{"short header", func(b []byte) []byte { return b[:23] }, 0},
		{"magic", func(b []byte) []byte { b[7] = '2'; return b }, 0},
		{"version", func(b []byte) []byte { le.PutUint16(b[8:], 2); return b }, 8},
		{"header_len", func(b []byte) []byte { le.PutUint16(b[10:], 32); return b }, 10},
		{"block_size zero", func(b []byte) []byte { le.PutUint32(b[12:], 0); return b }, 12},
		{"block_size huge", func(b []byte) []byte { le.PutUint32(b[12:], MaxBlockSize+1); return b }, 12},
		{"block_size not the frames'", func(b []byte) []byte { le.PutUint32(b[12:], 101); return b }, 24 + 20},
		{"block_size below the last frame", func(b []byte) []byte { le.PutUint32(b[12:], 63); return b }, 24 + 20},
		{"no frames", func(b []byte) []byte { le.PutUint64(b[16:], 0); return b[:24] }, 16},
		{"frame_count high", func(b []byte) []byte { le.PutUint64(b[16:], 4); return b }, 16},
		{"frame_count huge", func(b []byte) []byte { le.PutUint64(b[16:], 1<<62); return b }, 16},
		{"partial entry", func(b []byte) []byte { return b[:len(b)-1] }, 16},
		{"extra bytes", func(b []byte) []byte { return append(b, 0) }, 16},
		{"first uncompressed_offset", func(b []byte) []byte { le.PutUint64(b[24:], 1); return b }, 24},
		{"first compressed_offset", func(b []byte) []byte { le.PutUint64(b[32:], 1); return b }, 32},
		{"uncompressed gap", func(b []byte) []byte { le.PutUint64(b[48:], 101); return b }, 48},
		{"compressed overlap", func(b []byte) []byte { le.PutUint64(b[56:], 39); return b }, 56},
		{"compressed_size zero", func(b []byte) []byte { le.PutUint32(b[64:], 0); return b }, 64},
		{"middle frame short", func(b []byte) []byte { le.PutUint32(b[68:], 99); return b }, 68},
		{"last frame empty", func(b []byte) []byte { le.PutUint32(b[24+48+20:], 0); return b }, 24 + 48 + 20},
		{"last frame too big", func(b []byte) []byte { le.PutUint32(b[24+48+20:], 101); return b }, 24 + 48 + 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIndex(tc.mutate(bytes.Clone(good)))
			var ce *CorruptionError
			if !errors.As(err, &ce) || !errors.Is(err, ErrIndex) || ce.Offset != tc.off {
				t.Fatalf("%v, want ErrIndex at offset %d", err, tc.off)
			}
		})
	}
}
