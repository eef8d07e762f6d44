package segment

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// fakeBlocks is a BlockFile of n blocks of size bytes, block i filled with
// byte i; block bad fails with a CorruptionError.
type fakeBlocks struct {
	n, size, bad int
	decoded      []int // written only by DecodeBlock, read after wait
}

func (f *fakeBlocks) Blocks() []BlockInfo {
	b := make([]BlockInfo, f.n)
	for i := range b {
		b[i] = BlockInfo{QOffset: int64(i * f.size), QLen: int64(f.size), CompOffset: int64(1000 + i)}
	}
	return b
}
func (f *fakeBlocks) QLen() int64 { return int64(f.n * f.size) }
func (f *fakeBlocks) DecodeBlock(i int, dst []byte) ([]byte, error) {
	f.decoded = append(f.decoded, i)
	if i == f.bad {
		return dst, &CorruptionError{Offset: int64(1000 + i), Err: ErrBlock}
	}
	return append(dst, bytes.Repeat([]byte{byte(i)}, f.size)...), nil
}

// TestColSourcePrefetch checks that read-ahead gives every block in order,
// delivers a bad block's error in its turn with file and offset, goes on
// after it, and that a seek while a block decodes ahead restarts cleanly.
func TestColSourcePrefetch(t *testing.T) {
	f := &fakeBlocks{n: 10, size: 100, bad: 5}
	var s colSource
	s.init(f, "x.q.col")
	if err := s.start(0); err != nil {
		t.Fatal(err)
	}
	readBlocks(t, &s, f.n, f.size, f.bad, false)
	if _, _, err := s.next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("past the end: %v", err)
	}
	s.stop()
	if len(f.decoded) != f.n {
		t.Fatalf("decoded %v, want each block once", f.decoded)
	}

	// Seek back while streaming: block 3 comes next, decoded once more.
	s.start(0)
	s.next()
	s.next()
	s.next() // block 3 now decodes ahead
	s.start(int64(3*f.size + 7))
	f.decoded = f.decoded[:0] // start waited for the read-ahead
	if b, off, err := s.next(); err != nil || off != int64(3*f.size) || b[0] != 3 {
		t.Fatalf("after seek: off %d, %v", off, err)
	}
	s.stop()
	if len(f.decoded) != 1 || f.decoded[0] != 3 {
		t.Fatalf("after seek decoded %v, want block 3 alone", f.decoded)
	}

	// checkRest after a stop mid-stream reports the bad block.
	s.start(0)
	for range 3 {
		s.next()
	}
	var ce *CorruptionError
	if err := s.checkRest(); !errors.As(err, &ce) || ce.Offset != int64(1000+f.bad) {
		t.Fatalf("checkRest: %v", err)
	}
}

// readBlocks reads n blocks of size bytes from s, started at 0: block i
// is size bytes of byte(i), but block bad, which is damage in x.q.col at
// 1000+bad. With crcFree, each good block must say it came crcFree.
func readBlocks(t *testing.T, s *colSource, n, size, bad int, crcFree bool) {
	t.Helper()
	for i := 0; i < n; i++ {
		b, off, err := s.next()
		if off != int64(i*size) {
			t.Fatalf("block %d at offset %d", i, off)
		}
		if i == bad {
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.Path != "x.q.col" || ce.Offset != int64(1000+i) {
				t.Fatalf("block %d: %v, want damage in x.q.col at %d", i, err, 1000+i)
			}
			continue
		}
		if err != nil || len(b) != size || b[0] != byte(i) || b[size-1] != byte(i) || crcFree && !s.crcFree() {
			t.Fatalf("block %d: %d bytes starting %v, crcFree %v, %v", i, len(b), b[:min(1, len(b))], s.crcFree(), err)
		}
		s.release(b)
	}
}
