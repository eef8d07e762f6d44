package columnar

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// TestMeasure reports sizes and speeds for the .q files in
// $COLUMNAR_MEASURE (a directory), checking each round trip.
func TestMeasure(t *testing.T) {
	dir := os.Getenv("COLUMNAR_MEASURE")
	if dir == "" {
		t.Skip("set COLUMNAR_MEASURE to a directory of .q files to measure")
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.q"))
	sort.Strings(names)
	var qTotal, cTotal int64
	var encT, decT time.Duration
	for _, n := range names {
		q, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		c, err := Encode(nil, q)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		got, err := Decode(make([]byte, 0, len(q)), bytes.NewReader(c), int64(len(c)))
		if err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		if !bytes.Equal(got, q) {
			t.Fatalf("%s: differs at %d", n, firstDiff(got, q))
		}
		encT += t1.Sub(t0)
		decT += t2.Sub(t1)
		qTotal += int64(len(q))
		cTotal += int64(len(c))
		t.Logf("%s: .q %d -> %d (%.4f)", filepath.Base(n), len(q), len(c), float64(len(c))/float64(len(q)))
		st, raw := columnSizes(t, c)
		for i := -1; i < 40; i++ {
			if st[i] > 0 {
				t.Logf("  column %2d: %10d stored, %10d raw", i, st[i], raw[i])
			}
		}
	}
	t.Logf("total .q %d -> %d; encode %.0f MB/s, decode %.0f MB/s (of .q bytes)", qTotal, cTotal,
		float64(qTotal)/encT.Seconds()/1e6, float64(qTotal)/decT.Seconds()/1e6)
}

// columnSizes sums the stored and raw bytes of each column of c's records
// blocks.
func columnSizes(t *testing.T, c []byte) (stored, raw map[int]int) {
	f, err := Open(bytes.NewReader(c), int64(len(c)))
	if err != nil {
		t.Fatal(err)
	}
	stored, raw = map[int]int{}, map[int]int{}
	for _, b := range f.Blocks() {
		src := c[b.CompOffset : b.CompOffset+int64(b.CompLen)]
		if src[0] != kindRecords {
			stored[-1] += len(src)
			continue
		}
		tid := le.Uint16(src[1:])
		_, n := binary.Uvarint(src[3:])
		src = src[3+n:]
		l := noLayout
		if tid != 0 {
			l = layouts[tid]
			if l.typ.Reference {
				src = src[bookCtxSize:]
			}
		}
		for i := range l.kinds {
			start := len(src)
			src = src[1:]
			r, n := binary.Uvarint(src)
			src = src[n:]
			s, n := binary.Uvarint(src)
			src = src[n+int(s):]
			stored[i] += start - len(src)
			raw[i] += int(r)
		}
	}
	return stored, raw
}

// TestMeasureCSV imports every Tardis .csv in $COLUMNAR_CSV, encodes its
// segments and reports the size against the FILE.csv.gz and FILE.parquet
// beside it.
func TestMeasureCSV(t *testing.T) {
	dir := os.Getenv("COLUMNAR_CSV")
	if dir == "" {
		t.Skip("set COLUMNAR_CSV to a directory of Tardis .csv files to measure")
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	for _, n := range names {
		var cLen int
		var qLen int
		stored := map[int]int{}
		for _, q := range buildQ(t, n, 0) {
			c := roundTrip(t, n, q)
			qLen += len(q)
			cLen += len(c)
			st, _ := columnSizes(t, c)
			for k, v := range st {
				stored[k] += v
			}
		}
		gz, _ := os.Stat(n + ".gz")
		pq, _ := os.Stat(n[:len(n)-4] + ".parquet")
		t.Logf("%s: .q %d, columnar %d = %.3fx .csv.gz (%d), %.3fx Parquet (%d); columns %v", filepath.Base(n), qLen, cLen,
			float64(cLen)/float64(gz.Size()), gz.Size(), float64(cLen)/float64(pq.Size()), pq.Size(), stored)
	}
}
