package tardis

import (
	"bytes"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
)

// randChunkReader returns its data in reads of 1..max bytes, so that rows
// straddle chunk ends at every offset.
type randChunkReader struct {
	b   []byte
	r   *rand.Rand
	max int
}

func (c *randChunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), 1+c.r.IntN(c.max))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// TestChunkFastPath checks the fast path that parses rows straight from
// the chunk (readRow) against the general path, line by line, on mutated
// files read in random chunks: the events, and the first error with its
// line, must be the same.
func TestChunkFastPath(t *testing.T) {
	base := genCSV(400, 3)
	crlf := bytes.ReplaceAll(base, []byte("\n"), []byte("\r\n"))
	alphabet := []byte(",.\r\n\"0123456789eE-+ab")
	r := rand.New(rand.NewPCG(8, 9))
	trials := 600
	if testing.Short() {
		trials = 100
	}
	errs := 0
	for i := range trials {
		data := append([]byte{}, base...)
		if i%2 == 1 {
			data = append(data[:0], crlf...)
		}
		// Leave the header and the first row alone half the time, so
		// that the fast path is on for the mutations.
		lo := len(hdr) + 100
		for range r.IntN(4) {
			k := lo + r.IntN(len(data)-lo)
			switch r.IntN(3) {
			case 0:
				data[k] = alphabet[r.IntN(len(alphabet))]
			case 1:
				data = append(data[:k], data[k+1:]...)
			case 2:
				data = append(data[:k], append([]byte{alphabet[r.IntN(len(alphabet))]}, data[k:]...)...)
			}
		}
		for _, opts := range []Options{auto, {Name: "x.csv", PriceScale: FixedScale(2), SizeScale: FixedScale(4)}} {
			slow, serr := readWith(t, data, opts, true)
			fr, err := NewEventReader(&randChunkReader{data, r, 1 + r.IntN(300)}, opts)
			if err != nil {
				t.Fatal(err)
			}
			fast, ferr := readAll(fr)
			if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) {
				t.Fatalf("trial %d: fast path error %v, general path error %v", i, ferr, serr)
			}
			if serr != nil {
				errs++
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("trial %d %+v: fast and general paths disagree", i, opts)
			}
		}
	}
	if errs == 0 || errs == 2*trials {
		t.Fatalf("%d of %d reads failed: the mutations test too little", errs, 2*trials)
	}
}
