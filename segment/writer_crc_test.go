package segment

import (
	"hash/crc32"
	"testing"
)

// TestCRCUnzero: the fast path's CRC over zeros and the payload is the
// payload's CRC, for every pad and payload length it uses.
func TestCRCUnzero(t *testing.T) {
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(i*7 + 3)
	}
	for n := range len(data) {
		k := crcPad(n)
		if k > HeaderSize || (n+k)%16 != 0 || n+k < 64 {
			t.Fatalf("crcPad(%d) = %d", n, k)
		}
		for _, pad := range []int{0, 1, k, HeaderSize} {
			buf := append(make([]byte, pad), data[:n]...)
			if got, want := crc32.Update(crcUnzero[pad], crc32.IEEETable, buf), crc32.ChecksumIEEE(data[:n]); got != want {
				t.Fatalf("%d bytes after %d zeros: crc %#08x, want %#08x", n, pad, got, want)
			}
		}
	}
}
