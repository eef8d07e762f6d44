package objstore

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/internal/s3test"
)

// BenchmarkSequentialRead reads a 256 MiB object start to end through the
// read-ahead ReaderAt, against the same bytes from an os.File on local disk
// (page cache warm), both through io.SectionReader with 1 MiB reads; and
// the same chunks fetched one after another without read-ahead, on loopback
// and through a proxy adding 20 ms to each request.
func BenchmarkSequentialRead(b *testing.B) {
	const size = 256 << 20
	st, _ := newStore(b)
	ctx := context.Background()
	if err := st.Put(ctx, "big", stream(5, size), size); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "big")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, stream(5, size)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	buf := make([]byte, 1<<20)

	// Loopback has no latency to hide; 20 ms per request is a typical
	// bucket's time to first byte.
	srvAddr := os.Getenv("AWS_ENDPOINT_URL")[len("http://"):]
	slow := s3test.NewCutProxy(b, srvAddr, 1, 20*time.Millisecond)
	b.Setenv("AWS_ENDPOINT_URL", slow.Endpoint())
	far, err := New(ctx, st.Bucket(), st.Prefix())
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		st   *Store
	}{{"loopback", st}, {"20ms", far}} {
		b.Run("s3-readahead-"+tc.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				o, err := tc.st.Open(ctx, "big")
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.CopyBuffer(io.Discard, io.NewSectionReader(o, 0, size), buf); err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
				o.Close()
			}
		})
		b.Run("s3-no-readahead-"+tc.name, func(b *testing.B) { // the same chunks, one after another
			b.SetBytes(size)
			chunk := make([]byte, DefaultChunkSize)
			for b.Loop() {
				for off := int64(0); off < size; off += DefaultChunkSize {
					if _, err := tc.st.readRange(ctx, "big", "", off, chunk); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
	b.Run("os-file", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.CopyBuffer(io.Discard, io.NewSectionReader(f, 0, size), buf); err != nil || n != size {
				b.Fatalf("%d bytes, %v", n, err)
			}
			f.Close()
		}
	})
}
