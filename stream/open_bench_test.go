package stream_test

import (
	"os"
	"testing"

	"github.com/chronicle-archive/chronicle/replay"
	"github.com/chronicle-archive/chronicle/stream"
)

// BenchmarkOpen times opening a stream for reading, as every reader does
// (OpenEvents), and as a book query does (replay.Open: the events and the
// checkpoints), on the stream dir in CHRONICLE_BENCH_STREAM (skipped
// without it; docs/RELIABILITY.md has the figures for a 10M-row stream).
func BenchmarkOpen(b *testing.B) {
	dir := os.Getenv("CHRONICLE_BENCH_STREAM")
	if dir == "" {
		b.Skip("set CHRONICLE_BENCH_STREAM to a stream directory")
	}
	b.Run("OpenEvents", func(b *testing.B) {
		for b.Loop() {
			e, err := stream.OpenEvents(nil, dir)
			if err != nil {
				b.Fatal(err)
			}
			e.Close()
		}
	})
	b.Run("replay.Open", func(b *testing.B) {
		for b.Loop() {
			s, err := replay.Open(dir, replay.Options{})
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
}
