package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

func TestVerifyClean(t *testing.T) {
	fsys := newMemFS()
	recs := genRecs(500, 13)
	pos := writeRecs(t, "s", WriterOptions{FS: fsys, SegmentSize: 8 << 10, FirstID: 3, FirstSeq: 100}, recs)
	nseg := int(pos[len(pos)-1].SegmentID-3) + 1
	var bytesQ int64
	for _, d := range fsys.files {
		bytesQ += int64(len(d.b))
	}
	visited := 0
	rep, err := VerifyStream("s", fsys, func(r Record) error {
		if r.Seq != 100+uint64(visited) || r.Offset != pos[visited].Offset {
			return fmt.Errorf("visited seq %d at %d out of order", r.Seq, r.Offset)
		}
		visited++
		return nil
	})
	if err != nil || !rep.OK() {
		t.Fatalf("%v %v", rep.Problems, err)
	}
	if rep.Segments != nseg || rep.Records != 500 || visited != 500 || rep.Bytes != bytesQ || rep.DiskBytes != bytesQ {
		t.Fatalf("report %v (visited %d), want %d segments, %d bytes", rep, visited, nseg, bytesQ)
	}
	compressAll(t, fsys, "s", CompressOptions{BlockSize: 1000})
	zrep, err := VerifyStream("s", fsys, nil)
	if err != nil || !zrep.OK() || zrep.Records != 500 || zrep.Bytes != bytesQ || zrep.DiskBytes >= bytesQ {
		t.Fatalf("compressed: %v %v %v", zrep, zrep.Problems, err)
	}
}

// TestVerifyReportsAll: problems in several places are all reported, and
// damage to the framing of one segment does not stop the next.
func TestVerifyReportsAll(t *testing.T) {
	fsys := newMemFS()
	recs := genRecs(60, 1)
	pos := writeRecs(t, "s", WriterOptions{FS: fsys, SegmentSize: 2 << 10}, recs)
	if pos[len(pos)-1].SegmentID < 4 {
		t.Fatalf("%d segments", pos[len(pos)-1].SegmentID+1)
	}
	seg := func(id uint32) []byte { return fsys.files["s/"+Name(id)].b }
	// Segment 0: two checksum errors. Segment 1: bad magic (fatal).
	// Segment 2: truncated in its last record (fatal), after a padding
	// error. Segment 3: seq does not follow on from segment 2's last
	// record... which cannot be checked after segment 2's damage, so a
	// payload the visit function rejects instead.
	var firstOf [5]int
	for i := len(pos) - 1; i >= 0; i-- {
		firstOf[min(pos[i].SegmentID, 4)] = i
	}
	p0, p1 := pos[firstOf[0]], pos[firstOf[0]+1]
	seg(0)[p0.Offset+HeaderSize] ^= 1
	seg(0)[p1.Offset+HeaderSize] ^= 1
	seg(1)[0] = 'X'
	bad := recs[firstOf[2]]
	if n := len(bad.payload); n%64 == 0 {
		t.Fatalf("record %d has no padding", firstOf[2])
	}
	seg(2)[pos[firstOf[2]].Offset+HeaderSize+int64(len(bad.payload))] = 1
	d := fsys.files["s/"+Name(2)]
	d.b = d.b[:len(d.b)-1]
	rejected := pos[firstOf[3]+1]

	rep, err := VerifyStream("s", fsys, func(r Record) error {
		if r.SegmentID == rejected.SegmentID && r.Offset == rejected.Offset {
			return errors.New("payload rejected")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		file string
		off  int64
		kind error
	}
	var wants = []want{
		{Name(0), p0.Offset, ErrChecksum},
		{Name(0), p1.Offset, ErrChecksum},
		{Name(1), 0, ErrMagic},
		{Name(2), pos[firstOf[2]].Offset, ErrPadding},
		{Name(2), -1, ErrTruncated},
		{Name(3), rejected.Offset, nil},
	}
	if len(rep.Problems) != len(wants) {
		t.Fatalf("%d problems, want %d: %v", len(rep.Problems), len(wants), rep.Problems)
	}
	for i, w := range wants {
		p := rep.Problems[i]
		if p.Path != filepath.Join("s", w.file) || (w.off >= 0 && p.Offset != w.off) ||
			(w.kind != nil && !errors.Is(p.Err, w.kind)) || (w.kind == nil && IsCorruption(p.Err)) {
			t.Errorf("problem %d: %v, want %s offset %d %v", i, p, w.file, w.off, w.kind)
		}
	}
	if rep.Segments != int(pos[len(pos)-1].SegmentID)+1 {
		t.Fatalf("verified %d segments", rep.Segments)
	}
}

// TestVerifySeqAcrossSegments: the reader checks seq within a segment;
// VerifyStream checks it across the whole stream.
func TestVerifySeqAcrossSegments(t *testing.T) {
	fsys := newMemFS()
	writeRecs(t, "s", WriterOptions{FS: fsys, SegmentSize: 256}, genRecs(3, 0)[:1])
	writeRecs(t, "s", WriterOptions{FS: fsys, SegmentSize: 256, FirstID: 1, FirstSeq: 5}, genRecs(3, 0)[:1])
	if _, err := readAll(fsys, "s"); err != nil {
		t.Fatalf("reader: %v", err)
	}
	rep, err := VerifyStream("s", fsys, nil)
	if err != nil || len(rep.Problems) != 1 || !errors.Is(rep.Problems[0].Err, ErrSequence) ||
		rep.Problems[0].Path != filepath.Join("s", Name(1)) || rep.Problems[0].Offset != HeaderSize {
		t.Fatalf("%v %v", rep.Problems, err)
	}
	// Within a segment the reader sees it too.
	fsys2 := newMemFS()
	w, _ := NewWriter("s", WriterOptions{FS: fsys2})
	w.Append(1, 1, nil)
	w.Append(1, 1, nil)
	w.Close()
	b := fsys2.files["s/"+Name(0)].b
	binary.LittleEndian.PutUint64(b[128+offSeq:], 7)
	_, err = readAll(fsys2, "s")
	if ce := corruption(t, err, ErrSequence); ce.Offset != 128 || !ce.HasSeq || ce.Seq != 7 {
		t.Fatalf("%v", err)
	}
}
