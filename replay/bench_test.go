package replay_test

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/replay"
)

// benchCSV is the target scale of the issue: a 10M-row day. It is made
// with tardisgen when absent; $CHRONICLE_BENCH_CSV overrides it.
const benchCSV = "/tmp/l2-10m.csv.gz"

var benchStreams struct {
	sync.Mutex
	dirs map[bool]string // by compressed
	root string
}

// benchStream imports the benchmark input once per run (per compression).
func benchStream(b *testing.B, compress bool) string {
	benchStreams.Lock()
	defer benchStreams.Unlock()
	if d, ok := benchStreams.dirs[compress]; ok {
		return d
	}
	in := os.Getenv("CHRONICLE_BENCH_CSV")
	if in == "" {
		in = benchCSV
		if _, err := os.Stat(in); err != nil {
			in = tardisgen(b, 10_000_000, 200_000)
		}
	}
	if benchStreams.dirs == nil {
		benchStreams.dirs = map[bool]string{}
	}
	root, err := os.MkdirTemp(genDir, "bench-")
	if err != nil {
		b.Fatal(err)
	}
	// The partition comes from the file's columns; the date from the name
	// if it has one, else the first timestamp.
	res, err := ingest.Import(context.Background(), ingest.Options{Root: root, Input: in, Compress: compress})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("imported %s: %d rows, %d events, %d segments, compressed %v", filepath.Base(in), res.Rows, res.Events, res.Segments, compress)
	benchStreams.dirs[compress] = res.Dir
	return res.Dir
}

// BenchmarkBookAt measures a book query at a random time of a 10M-row
// stream, with checkpoints (the default, one every 100k events).
func BenchmarkBookAt(b *testing.B) {
	for _, c := range []struct {
		name     string
		compress bool
	}{{"q", false}, {"zst", true}} {
		b.Run(c.name, func(b *testing.B) {
			dir := benchStream(b, c.compress)
			m, err := archive.ReadMeta(nil, dir)
			if err != nil || m.EventTimeRange == nil {
				b.Fatalf("meta: %v", err)
			}
			lo, hi := m.EventTimeRange[0], m.EventTimeRange[1]
			r := rand.New(rand.NewSource(1))
			for b.Loop() {
				t := lo + uint64(r.Int63n(int64(hi-lo)+1))
				bk, _, err := replay.BookAt(dir, t, replay.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if bk.Len(book.Bid) == 0 {
					b.Fatal("empty book")
				}
			}
		})
	}
}
