package segment

import (
	"encoding/binary"
	"testing"
)

// TestRecordAt: a seek offset is a record start of a decoded block only
// when following the records' commit_len from the block's start lands on
// it.
func TestRecordAt(t *testing.T) {
	// Records of payloads 1, 64 and 65 bytes: 128, 128 and 192 bytes.
	var b []byte
	for _, n := range []int{1, 64, 65} {
		r := make([]byte, recordLen(int64(n)))
		binary.LittleEndian.PutUint32(r, uint32(n)+1)
		b = append(b, r...)
	}
	for _, tc := range []struct {
		off  int64
		want bool
	}{
		{0, true}, {128, true}, {256, true}, {448, true}, // the starts, and the end
		{64, false}, {192, false}, {300, false}, // inside records
		{512, false}, // past the end
	} {
		if got := recordAt(b, tc.off); got != tc.want {
			t.Errorf("recordAt(%d) = %v, want %v", tc.off, got, tc.want)
		}
	}
	// A commit_len of 0 ends the records: nothing after it is a start.
	z := append(append([]byte(nil), b[:128]...), make([]byte, 256)...)
	if recordAt(z, 192) || !recordAt(z, 128) {
		t.Error("recordAt followed a record of commit_len 0")
	}
}
