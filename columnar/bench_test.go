package columnar

import (
	"bytes"
	"testing"
)

// reportCPU adds a cpu-MB/s metric for n .q bytes per op since cpu0.
func reportCPU(b *testing.B, n int, cpu0 int64) {
	cpu, ok := processCPU()
	if ok && cpu.Nanoseconds() > cpu0 {
		b.ReportMetric(float64(n)*float64(b.N)/(float64(cpu.Nanoseconds()-cpu0)/1e9)/1e6, "cpu-MB/s")
	}
}

func cpuNow() int64 {
	cpu, _ := processCPU()
	return cpu.Nanoseconds()
}

// benchQ is the .q of the repository's 50,011-row incremental_book_L2
// sample, in one segment.
func benchQ(b *testing.B) []byte {
	return writeSegments(b, 0, importBook("../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz"))[0]
}

func BenchmarkEncode(b *testing.B) {
	q := benchQ(b)
	var c []byte
	b.SetBytes(int64(len(q)))
	b.ReportAllocs()
	cpu0 := cpuNow()
	for b.Loop() {
		var err error
		if c, err = Encode(c[:0], q); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, len(q), cpu0)
	b.ReportMetric(float64(len(c))/float64(len(q)), "ratio")
}

// BenchmarkDecode decodes block by block into one buffer, as a reader of
// the blocks would.
func BenchmarkDecode(b *testing.B) {
	benchDecode(b, func(f *File, i int, buf []byte) ([]byte, error) { return f.DecodeBlock(i, buf) })
}

// BenchmarkDecodeRecords is BenchmarkDecode for a reader of records
// (DecodeRecords: no CRC-32 per predicted record).
func BenchmarkDecodeRecords(b *testing.B) {
	var d Decoder
	benchDecode(b, func(f *File, i int, buf []byte) ([]byte, error) {
		out, _, err := f.DecodeRecords(&d, i, buf)
		return out, err
	})
}

func benchDecode(b *testing.B, decode func(f *File, i int, buf []byte) ([]byte, error)) {
	q, f := benchFile(b)
	var err error
	buf := make([]byte, 0, MaxBlockLen)
	b.SetBytes(int64(len(q)))
	b.ReportAllocs()
	cpu0 := cpuNow()
	for b.Loop() {
		for i := range f.Blocks() {
			if buf, err = decode(f, i, buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPU(b, len(q), cpu0)
}

// benchFile is the benchmark's .q and its columnar form, opened.
func benchFile(b *testing.B) ([]byte, *File) {
	q := benchQ(b)
	c, err := Encode(nil, q)
	if err != nil {
		b.Fatal(err)
	}
	f, err := Open(bytes.NewReader(c), int64(len(c)))
	if err != nil {
		b.Fatal(err)
	}
	return q, f
}
