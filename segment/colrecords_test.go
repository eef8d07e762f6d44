package segment

import (
	"errors"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRecBlocks is a RecordBlockFile of n blocks of size bytes, block i
// filled with byte i; block bad fails with a CorruptionError. It counts
// the decodes of each block, exact (DecodeBlock) and for records.
type fakeRecBlocks struct {
	n, size, bad int
	exact, recs  []atomic.Int32
}

func newFakeRec(n, size, bad int) *fakeRecBlocks {
	return &fakeRecBlocks{n: n, size: size, bad: bad, exact: make([]atomic.Int32, n), recs: make([]atomic.Int32, n)}
}

func (f *fakeRecBlocks) Blocks() []BlockInfo {
	b := make([]BlockInfo, f.n)
	for i := range b {
		b[i] = BlockInfo{QOffset: int64(i * f.size), QLen: int64(f.size), CompOffset: int64(1000 + i)}
	}
	return b
}
func (f *fakeRecBlocks) QLen() int64 { return int64(f.n * f.size) }

func (f *fakeRecBlocks) fill(i int, dst []byte) ([]byte, error) {
	if i == f.bad {
		return dst, &CorruptionError{Offset: int64(1000 + i), Err: ErrBlock}
	}
	for range f.size {
		dst = append(dst, byte(i))
	}
	return dst, nil
}

func (f *fakeRecBlocks) DecodeBlock(i int, dst []byte) ([]byte, error) {
	f.exact[i].Add(1)
	return f.fill(i, dst)
}

func (f *fakeRecBlocks) NewRecordDecoder(RecordDecoder) RecordDecoder { return fakeRecDecoder{f} }

type fakeRecDecoder struct{ f *fakeRecBlocks }

func (d fakeRecDecoder) DecodeRecords(i int, dst []byte) ([]byte, bool, error) {
	d.f.recs[i].Add(1)
	b, err := d.f.fill(i, dst)
	return b, err == nil, err
}

// decodes returns how often each block was decoded, both ways together,
// and resets the counts.
func (f *fakeRecBlocks) decodes() []int {
	out := make([]int, f.n)
	for i := range out {
		out[i] = int(f.exact[i].Swap(0) + f.recs[i].Swap(0))
	}
	return out
}

// TestRecSource: blocks come in order, each decoded once, a bad block's
// error in its turn (with file and offset) and reading goes on after it;
// a reader of streamingAfter blocks decodes nothing more; a seek into the
// middle of a block where no record starts (the fake's blocks are not
// framed as records) decodes that block exactly (not crcFree).
func TestRecSource(t *testing.T) {
	f := newFakeRec(60, 100, 17)
	var s colSource
	s.init(f, "x.q.col")
	if !s.recs {
		t.Fatal("a RecordBlockFile is not read for records")
	}
	s.start(0)
	readBlocks(t, &s, f.n, f.size, f.bad, true)
	if _, _, err := s.next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("past the end: %v", err)
	}
	s.stop()
	for i, n := range f.decodes() {
		if n != 1 {
			t.Fatalf("block %d decoded %d times, want once", i, n)
		}
	}

	// streamingAfter blocks after a seek: no read-ahead.
	s.start(int64(5 * f.size))
	for range streamingAfter {
		b, _, _ := s.next()
		s.release(b)
	}
	s.stop()
	d := f.decodes()
	for i := range d {
		if want := b2i(i >= 5 && i < 5+streamingAfter); d[i] != want {
			t.Fatalf("a %d-block read from block 5 decoded %v", streamingAfter, d)
		}
	}

	// A start mid-block, not at a record: that block exactly, the next ones
	// for records.
	s.start(int64(3*f.size + 64))
	b, off, err := s.next()
	if err != nil || off != int64(3*f.size) || b[0] != 3 || s.crcFree() || f.exact[3].Load() != 1 {
		t.Fatalf("after a seek: off %d, crcFree %v, %d exact decodes, %v", off, s.crcFree(), f.exact[3].Load(), err)
	}
	s.release(b)
	for i := 4; i < 12; i++ {
		b, _, err := s.next()
		if err != nil || b[0] != byte(i) || !s.crcFree() {
			t.Fatalf("block %d after a seek: %v, crcFree %v", i, err, s.crcFree())
		}
		s.release(b)
	}
	// A seek while streaming restarts cleanly.
	s.start(int64(2 * f.size))
	for i := 2; i < f.n; i++ {
		b, off, err := s.next()
		if i != f.bad && (err != nil || off != int64(i*f.size) || b[0] != byte(i)) {
			t.Fatalf("block %d after the second seek: off %d, %v", i, off, err)
		}
		s.release(b)
	}
	s.stop()

	// checkRest after damage stopped a reader reports the bad block.
	s.start(0)
	for range 5 {
		b, _, _ := s.next()
		s.release(b)
	}
	var ce *CorruptionError
	if err := s.checkRest(); !errors.As(err, &ce) || ce.Offset != int64(1000+f.bad) {
		t.Fatalf("checkRest: %v", err)
	}

	// Exact (VerifyStream): never for records.
	var e colSource
	e.exact = true
	e.init(f, "x.q.col")
	if e.recs {
		t.Fatal("an exact colSource reads for records")
	}
}

// TestRecSourceAbandoned: a reader closed while blocks decode ahead, which
// stops no source (Reader.Close), leaves no goroutine behind.
func TestRecSourceAbandoned(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 20 {
		f := newFakeRec(40, 1000, -1)
		var s colSource
		s.init(f, "x.q.col")
		s.start(0)
		for range 6 {
			b, _, err := s.next()
			if err != nil {
				t.Fatal(err)
			}
			s.release(b)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRecSourceScanner: the scanner over a recSource, with the buffers
// held and released as it does, sees every byte in order (run with -race).
func TestRecSourceScanner(t *testing.T) {
	f := newFakeRec(300, 4096, -1)
	var s colSource
	s.init(f, "x.q.col")
	var sc scanner
	sc.reset(&s, "x.q.col", 0, f.QLen())
	for round := range 3 {
		start := int64(round * 37 * 4096)
		if err := sc.seek(start); err != nil {
			t.Fatal(err)
		}
		for sc.pos < sc.size {
			b, err := sc.ensure(int(min(3000, sc.size-sc.pos)))
			if err != nil {
				t.Fatal(err)
			}
			for j, c := range b {
				if want := byte((sc.pos + int64(j)) / 4096); c != want {
					t.Fatalf("round %d: byte %d is %d, want %d", round, sc.pos+int64(j), c, want)
				}
			}
			sc.pos += int64(len(b))
		}
	}
	sc.drop()
	s.stop()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRecSourceDecoders: ReaderOptions.Decoders sets how many goroutines
// decode a .q.col ahead, as for a .q.zst; 0 is the default.
func TestRecSourceDecoders(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		var s colSource
		s.ra.decoders = n
		s.init(newFakeRec(10, 100, -1), "x.q.col")
		want := n
		if n == 0 {
			want = defaultDecoders()
		}
		if s.ra.workers != want || cap(s.ra.decs) != want {
			t.Errorf("Decoders %d: %d workers, %d decoders; want %d", n, s.ra.workers, cap(s.ra.decs), want)
		}
		s.stop()
	}
}
