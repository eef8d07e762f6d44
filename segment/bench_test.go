package segment

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/vfs"
)

// benchEvents makes n BookEvent diffs like an L2 feed's: 1 to 9 levels,
// prices walking around a mid, sizes varied, ingest times a few µs apart.
// About 5 levels and 256 bytes on disk per record.
func benchEvents(n int) [][]byte {
	x := uint64(88172645463325252)
	rnd := func() uint64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x
	}
	mid := uint64(4_200_000)
	out := make([][]byte, n)
	var e protocol.Event
	for i := range out {
		mid = mid + rnd()%7 - 3
		e = protocol.Event{Type: protocol.Diff, VenueID: 1, MarketID: 3467451262,
			IngestTS: 1_575_158_400_000_000_000 + uint64(i)*3000, Seq: uint64(i), NativeSeq: uint64(i),
			PriceScale: 2, SizeScale: 3, DiffFlags: protocol.FlagAbsolute,
			UpdateIDFirst: uint64(i), UpdateIDLast: uint64(i), UpdateIDPrev: uint64(i) - 1}
		e.ExchangeTS = e.IngestTS - 1_000_000
		for k := 1 + int(rnd()%9); k > 0; k-- {
			l := protocol.Level{Price: mid - rnd()%50, Size: rnd() % 20000}
			if rnd()%2 == 0 {
				e.Bids = append(e.Bids, l)
			} else {
				l.Price += 60
				e.Asks = append(e.Asks, l)
			}
		}
		p, err := protocol.AppendEvent(nil, &e)
		if err != nil {
			panic(err)
		}
		out[i] = p
	}
	return out
}

// benchStream writes about 50 MB of events into a temporary directory, in
// 16 MiB segments, and compresses them when compressed is set.
func benchStream(b *testing.B, compressed bool) (dir string, records int, bytesOnQ int64) {
	b.Helper()
	dir = b.TempDir()
	events := benchEvents(200_000)
	w, err := NewWriter(dir, WriterOptions{SegmentSize: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	for i, p := range events {
		if _, err := w.Append(protocol.TypeBookEvent, 1_575_158_400_000_000_000+uint64(i)*3000, p); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fi, _ := e.Info()
		bytesOnQ += fi.Size()
	}
	if compressed {
		compressAll(b, vfs.Default, dir, CompressOptions{})
	}
	return dir, len(events), bytesOnQ
}

// BenchmarkReaderNext: one iteration is one record. MB/s counts the .q
// bytes the records occupy, whatever the form on disk.
func BenchmarkReaderNext(b *testing.B) {
	for _, form := range []struct {
		name       string
		compressed bool
		decoders   int
	}{{"q", false, 0}, {"zst", true, 1}, {"zst-2dec", true, 2}} {
		b.Run(form.name, func(b *testing.B) {
			dir, n, size := benchStream(b, form.compressed)
			r, err := OpenStream(dir, ReaderOptions{Decoders: form.decoders})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			first := r.Segments()[0].ID
			var disk int64
			for _, s := range r.Segments() {
				disk += s.Size + s.IndexSize
			}
			b.SetBytes(size / int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			var levels int
			for i := 0; i < b.N; {
				rec, err := r.Next()
				if err == io.EOF {
					if err := r.Seek(first, HeaderSize); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
				// What a replay would at least look at: the level counts.
				levels += int(rec.Payload[64+28]) + int(rec.Payload[64+30])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(size)/float64(disk), "ratio")
			_ = levels
		})
	}
}

func BenchmarkWriterAppend(b *testing.B) {
	events := benchEvents(10_000)
	dir := b.TempDir()
	w, err := NewWriter(dir, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Append(protocol.TypeBookEvent, uint64(i), events[i%len(events)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkCompressSegment(b *testing.B) {
	src, _, size := benchStream(b, false)
	ents, _ := os.ReadDir(src)
	one := filepath.Join(src, ents[0].Name())
	data, _ := os.ReadFile(one)
	b.SetBytes(int64(len(data)))
	_ = size
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		os.WriteFile(filepath.Join(dir, Name(0)), data, 0o644)
		b.StartTimer()
		if err := CompressSegment(dir, 0, CompressOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyStream(b *testing.B) {
	for _, form := range []struct {
		name       string
		compressed bool
	}{{"q", false}, {"zst", true}} {
		b.Run(form.name, func(b *testing.B) {
			dir, _, size := benchStream(b, form.compressed)
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rep, err := VerifyStream(dir, nil, nil)
				if err != nil || !rep.OK() {
					b.Fatal(err, rep.Problems)
				}
			}
		})
	}
}
