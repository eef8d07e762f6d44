package columnar

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
)

// predictedSlow is what predicted decided before it compared in place:
// rebuild the record from its decoded values as the decoder does and
// compare the bytes.
func predictedSlow(e *encoder, l *layout, ctx bookCtx, r []byte, seq uint64) bool {
	if l.typ == nil || le.Uint16(r[24:]) != l.typ.ID {
		return false
	}
	plen := int(le.Uint32(r)) - 1
	p := r[SegHeaderSize : SegHeaderSize+plen]
	var b []byte
	var err error
	if l.typ.Reference {
		ev := &e.ev
		if protocol.DecodeEvent(p, ev) != nil || (ev.Type != protocol.Snapshot && ev.Type != protocol.Diff) {
			return false
		}
		predictBook(ev, seq, ctx)
		b, err = bookRecord(e.scratch[:0], seq, ev, true)
	} else {
		if record.Decode(l.typ, p, &e.rec) != nil {
			return false
		}
		b, err = extRecord(e.scratch[:0], seq, &e.rec, true)
	}
	e.scratch = b
	return err == nil && bytes.Equal(b, r)
}

// TestPredictedInPlace: predicted's in-place checks decide as rebuilding
// the record does, on every record of the samples of each type and on
// every single-byte change of the first records of each.
func TestPredictedInPlace(t *testing.T) {
	files, _ := filepath.Glob("testdata/samples/*.csv")
	if len(files) == 0 {
		t.Fatal("no samples")
	}
	for _, path := range files {
		q := buildQ(t, path, 0)[0]
		recs := records(q)
		if len(recs) > 400 {
			recs = recs[:400]
		}
		var e encoder
		l, ctx := e.chooseType(q, recs, 0)
		e.recordsBlock(nil, q[:recs[len(recs)-1]+recordLen(q, recs[len(recs)-1])], recs, 0)
		cols := e.cols[:len(l.kinds)] // the columns e's dictionaries point into
		same, diff := 0, 0
		check := func(r []byte, seq uint64, what string) {
			e.st.seq = seq - 1
			slow := predictedSlow(&e, l, ctx, r, seq)
			if fast := e.predicted(l, ctx, r, cols); fast != slow {
				t.Fatalf("%s: %s: predicted %v, rebuilding says %v", filepath.Base(path), what, fast, slow)
			}
			if slow {
				same++
			} else {
				diff++
			}
		}
		for i, off := range recs {
			r := q[off : off+recordLen(q, off)]
			seq := le.Uint64(r[8:])
			check(r, seq, "record")
			check(r, seq+1, "record, another seq")
			if i >= 3 {
				continue
			}
			for j := range r {
				// Not the length (recordLen would not cut this record); of a
				// long record, its first and last 256 bytes.
				if j < 4 || j >= 256 && j < len(r)-256 {
					continue
				}
				for _, x := range []byte{0x01, 0x80} {
					m := bytes.Clone(r)
					m[j] ^= x
					check(m, seq, "flipped byte")
				}
			}
		}
		if same == 0 || diff == 0 {
			t.Fatalf("%s: %d predicted, %d not: the test tests nothing", filepath.Base(path), same, diff)
		}
	}
}
