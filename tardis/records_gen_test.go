package tardis

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chronicle-archive/chronicle/record"
	"github.com/klauspost/compress/gzip"
)

const sharedTools = "../../shared/tools"

// buildTardisgen builds the shared generator into dir, skipping the test
// when it is not there (it is outside this repository).
func buildTardisgen(t testing.TB, dir string) string {
	t.Helper()
	if _, err := os.Stat(sharedTools + "/tardisgen"); err != nil {
		t.Skipf("skipping: generator not found at %s (it is outside this repository)", sharedTools)
	}
	bin := filepath.Join(dir, "tardisgen")
	cmd := exec.Command("go", "build", "-o", bin, "./tardisgen")
	cmd.Dir = sharedTools
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot build the generator: %v\n%s", err, out)
	}
	return bin
}

// tardisgen writes the generator's output for args to path.
func tardisgen(t testing.TB, bin, path string, args ...string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	var w io.Writer = f
	var zw *gzip.Writer
	if filepath.Ext(path) == ".gz" {
		zw, _ = gzip.NewWriterLevel(f, gzip.DefaultCompression)
		w = zw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	cmd.Stdout = bw
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tardisgen %v: %v", args, err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecordTardisgen round-trips generated files of every record type
// (1M rows each, variants of a type 100,000; a fiftieth with -short):
// export byte-identical to the source, and the reference comparison agrees.
func TestRecordTardisgen(t *testing.T) {
	dir := t.TempDir()
	bin := buildTardisgen(t, dir)
	scale := 1
	if testing.Short() {
		scale = 50
	}
	tests := []struct {
		typ     string
		grouped bool
		rows    int
		args    []string
	}{
		{"trades", false, 1_000_000, []string{"-unknown-side", "0.01"}},
		{"trades", false, 100_000, []string{"-exchange", "bitmex", "-symbol", "XBTUSD", "-empty-id", "0.05", "-lot", "1"}},
		{"liquidations", false, 1_000_000, nil},
		{"quotes", false, 1_000_000, []string{"-empty-side", "0.01", "-lot", "0.0000001"}},
		{"book_ticker", false, 1_000_000, nil},
		{"derivative_ticker", false, 1_000_000, []string{"-exchange", "bitmex", "-symbol", "XBTUSD", "-empty-field", "0.02"}},
		{"options_chain", true, 1_000_000, []string{"-empty-field", "0.01"}},
		{"book_snapshot_25", false, 1_000_000, nil},
		{"book_snapshot_5", false, 1_000_000, []string{"-shallow", "0.01"}},
		{"book_snapshot_10", false, 100_000, []string{"-depth", "7"}},
	}
	for i, tt := range tests {
		rows := tt.rows / scale
		t.Run(tt.typ+"_"+strconv.Itoa(i), func(t *testing.T) {
			src := filepath.Join(dir, tt.typ+".csv")
			args := append([]string{"-type", tt.typ, "-rows", strconv.Itoa(rows), "-seed", strconv.Itoa(i + 1)}, tt.args...)
			tardisgen(t, bin, src, args...)
			defer os.Remove(src)
			r, err := OpenRecords(src, mustType(t, tt.typ), RecordOptions{Grouped: tt.grouped})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// Export into the reference comparison, hashing the export.
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(exportRecords(r, pw)) }()
			h := sha256.New()
			f, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, err := refCompare(tt.typ, bufio.NewReaderSize(f, 1<<20), io.TeeReader(pr, h))
			pr.CloseWithError(io.ErrClosedPipe)
			if err != nil {
				t.Fatal(err)
			}
			if st.rows != rows || r.Rows() != int64(rows) {
				t.Errorf("rows: reference %d, reader %d, want %d", st.rows, r.Rows(), rows)
			}
			f.Seek(0, 0)
			hs := sha256.New()
			io.Copy(hs, f)
			if !bytes.Equal(h.Sum(nil), hs.Sum(nil)) {
				t.Errorf("export is not byte-identical to the generated file (%d cells spelt differently)", st.textDiffs)
			}
			t.Logf("%d rows, scales %v", st.rows, r.Scales())
		})
	}
}

// benchFile generates a file of typ for the benchmarks, once per run.
func benchFile(b *testing.B, typ string, rows int) (plain, gz string) {
	dir := filepath.Join(os.TempDir(), "chronicle-bench")
	plain = filepath.Join(dir, typ+"-"+strconv.Itoa(rows)+".csv")
	gz = plain + ".gz"
	if _, err := os.Stat(gz); err == nil {
		return plain, gz
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	bin := buildTardisgen(b, b.TempDir())
	tardisgen(b, bin, plain, "-type", typ, "-rows", strconv.Itoa(rows))
	tardisgen(b, bin, gz+".tmp.gz", "-type", typ, "-rows", strconv.Itoa(rows))
	if err := os.Rename(gz+".tmp.gz", gz); err != nil {
		b.Fatal(err)
	}
	return plain, gz
}

// BenchmarkRecordReader reads generated trades and quotes (1M rows, or
// $TARDIS_BENCH_ROWS) three ways: parsing alone from memory, a whole
// import's read side (OpenRecords on the .csv.gz, gunzip in its
// goroutine), and the yardstick, klauspost gunzip of the same file. The
// requirement is Open at most 2x Gunzip. MB/s are of uncompressed bytes.
// Files are kept in $TMPDIR/chronicle-bench between runs.
func BenchmarkRecordReader(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("TARDIS_BENCH_ROWS"); s != "" {
		rows, _ = strconv.Atoi(s)
	}
	for _, typ := range []string{"trades", "quotes"} {
		plainPath, gzPath := benchFile(b, typ, rows)
		plain, err := os.ReadFile(plainPath)
		if err != nil {
			b.Fatal(err)
		}
		dt := mustType(b, typ)
		read := func(b *testing.B, r *RecordReader) {
			var rec record.Record
			for {
				err := r.Next(&rec)
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if r.Rows() != int64(rows) {
				b.Fatalf("rows %d, want %d", r.Rows(), rows)
			}
		}
		b.Run(typ+"/Parse", func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				r, err := NewRecordReader(bytes.NewReader(plain), typ, dt, RecordOptions{})
				if err != nil {
					b.Fatal(err)
				}
				read(b, r)
			}
			cpu.report(b)
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(typ+"/Open", func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				r, err := OpenRecords(gzPath, dt, RecordOptions{})
				if err != nil {
					b.Fatal(err)
				}
				read(b, r)
				r.Close()
			}
			cpu.report(b)
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(typ+"/Gunzip", func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			cpu := startCPU(b)
			for b.Loop() {
				f, err := os.Open(gzPath)
				if err != nil {
					b.Fatal(err)
				}
				zr, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, zr); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			cpu.report(b)
		})
	}
}
