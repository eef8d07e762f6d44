//go:build linux

package segment

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// withoutMap runs f with .q files read by pread, as CHRONICLE_MMAP=off
// makes them.
func withoutMap(t *testing.T, f func()) {
	t.Helper()
	old := mapDisabled.Load()
	mapDisabled.Store(true)
	defer mapDisabled.Store(old)
	f()
}

// bigStream writes a one-segment stream of about 3.5 mapSize windows on
// disk, with record sizes that make records straddle the windows.
func bigStream(t *testing.T) (string, []testRec, []Position) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var recs []testRec
	for size := int64(0); size < 3*mapSize+mapSize/2; {
		r := genRecs(1, uint64(len(recs)))[0]
		r.payload = append(r.payload, make([]byte, len(recs)%4000)...)
		recs = append(recs, r)
		size += int64(HeaderSize + len(r.payload) + 64)
	}
	pos := writeRecs(t, dir, WriterOptions{SegmentSize: 8 * mapSize}, recs)
	if pos[len(pos)-1].SegmentID != 0 {
		t.Fatalf("%d segments, want one", pos[len(pos)-1].SegmentID+1)
	}
	return dir, recs, pos
}

// TestMappedReads: a .q read through mapped windows gives exactly what
// pread gives, for a whole read and after a seek into every window.
func TestMappedReads(t *testing.T) {
	if mapDisabled.Load() {
		t.Skip("mapping is off here (CHRONICLE_MMAP=off, or no MADV_POPULATE_READ)")
	}
	dir, recs, pos := bigStream(t)
	got, err := readAll(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkRecs(t, got, recs, pos, 0)
	var want []Record
	withoutMap(t, func() { want, err = readAll(nil, dir) })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("mapped and pread reads differ")
	}
	r, err := OpenStream(dir, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, i := range []int{1, len(recs) / 3, len(recs) / 2, len(recs) - 1} {
		if err := r.Seek(0, pos[i].Offset); err != nil {
			t.Fatal(err)
		}
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("after seek to record %d: %v", i, err)
		}
		if rec.Offset != pos[i].Offset || string(rec.Payload) != string(recs[i].payload) {
			t.Fatalf("after seek to record %d: got the record at %d", i, rec.Offset)
		}
	}
	// The reads above were through a mapping, and Close unmaps it.
	seg := filepath.Join(dir, "000000000.q")
	if !mapped(t, seg) {
		t.Fatalf("%s is not mapped while a reader reads it", seg)
	}
	r.Close()
	if mapped(t, seg) {
		t.Fatalf("%s is still mapped after Close", seg)
	}
}

func mapped(t *testing.T, path string) bool {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	return strings.Contains(string(maps), path)
}

// TestMappedTruncated: a .q cut short after the reader opened it is an
// error at the offset where its bytes end, not a SIGBUS.
func TestMappedTruncated(t *testing.T) {
	dir, recs, _ := bigStream(t)
	r, err := OpenStream(dir, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seg := filepath.Join(dir, "000000000.q")
	if err := os.Truncate(seg, mapSize+12345); err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		if _, err = r.Next(); err != nil {
			break
		}
	}
	if n == 0 || n >= len(recs) {
		t.Fatalf("read %d of %d records, then %v", n, len(recs), err)
	}
	t.Logf("read %d of %d records, then: %v", n, len(recs), err)
}
