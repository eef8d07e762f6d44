package columnar

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestEncodeCPU streams every .q under $COLUMNAR_ENC through EncodeTo with
// verify, as import --compress does, and reports CPU per 128 MiB of .q and
// a digest of the output (equal digests: equal bytes).
func TestEncodeCPU(t *testing.T) {
	dir := os.Getenv("COLUMNAR_ENC")
	if dir == "" {
		t.Skip("set COLUMNAR_ENC to a directory of .q files")
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.q"))
	sort.Strings(names)
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		h := sha256.New()
		cw := &countW{w: h}
		cpu0 := cpuNow()
		if err := EncodeTo(cw, f, st.Size(), true); err != nil {
			t.Fatal(err)
		}
		cpu := cpuNow() - cpu0
		f.Close()
		t.Logf("%s: .q %d -> %d (%.4f); CPU %.3f s, %.3f s per 128 MiB; sha256 %x", n, st.Size(), cw.n,
			float64(cw.n)/float64(st.Size()), float64(cpu)/1e9, float64(cpu)/1e9*float64(128<<20)/float64(st.Size()), h.Sum(nil)[:8])
	}
}

type countW struct {
	w io.Writer
	n int64
}

func (c *countW) Write(b []byte) (int, error) { c.n += int64(len(b)); return c.w.Write(b) }
