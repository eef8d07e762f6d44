package segment

import (
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestPayloadCRC compares payloadCRC with crc32.ChecksumIEEE for every
// payload length from past crcInPlace down to 0, on random bytes behind a
// header of random bytes (which payloadCRC must take for zeros).
func TestPayloadCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := make([]byte, HeaderSize+crcInPlace+300)
	for n := crcInPlace + 300; n >= 0; n-- {
		for range 3 {
			for i := range r {
				r[i] = byte(rng.Uint32())
			}
			if got, want := payloadCRC(r, n), crc32.ChecksumIEEE(r[HeaderSize:HeaderSize+n]); got != want {
				t.Fatalf("len %d: payloadCRC %#08x, ChecksumIEEE %#08x", n, got, want)
			}
		}
	}
}

func FuzzPayloadCRC(f *testing.F) {
	f.Add([]byte("trade"), []byte("header"))
	f.Add(make([]byte, 64), []byte{0xff})
	f.Add(make([]byte, 100), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, p, h []byte) {
		r := make([]byte, HeaderSize, HeaderSize+len(p))
		for i := range r {
			if len(h) > 0 {
				r[i] = h[i%len(h)]
			}
		}
		r = append(r, p...)
		if got, want := payloadCRC(r, len(p)), crc32.ChecksumIEEE(p); got != want {
			t.Fatalf("len %d: payloadCRC %#08x, ChecksumIEEE %#08x", len(p), got, want)
		}
	})
}

// BenchmarkPayloadCRC times payloadCRC against crc32.ChecksumIEEE at the
// sizes of trades (50-64 bytes) and book events (around 100-200). On a
// loaded machine take the best of several counts (-count 8).
func BenchmarkPayloadCRC(b *testing.B) {
	for _, n := range []int{40, 57, 63, 100, 136, 200, 1000} {
		r := make([]byte, HeaderSize+n)
		for i := range r {
			r[i] = byte(i * 7)
		}
		b.Run("scan/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				payloadCRC(r, n)
			}
		})
		b.Run("stdlib/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				crc32.ChecksumIEEE(r[HeaderSize:])
			}
		})
	}
}
