package segment

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/chronicle-archive/chronicle/vfs"
	"github.com/klauspost/compress/zstd"
)

// readBufSize is the .q read size: large enough that syscalls are few (a
// few hundred per GB), small enough that a block stays in L2 cache from
// the read that fills it to the parsing and CRC of its records; 4 MiB
// blocks had to come back from L3 or memory.
const readBufSize = 512 << 10

// mapSize is the span of a .q that qSource maps at a time: a few syscalls
// per 10 MB, and a bounded resident size (the pages of one window per
// open reader) however long the stream.
const mapSize = 4 << 20

// qSource reads a .q in windows that it maps read-only (Linux), or else
// in readBufSize blocks into one reused buffer. Either way one window is
// live at a time: the scanner copies a straddling tail out before it asks
// for the next block, and what a record handed out refers to is valid only
// until the next call.
//
// Mapping is what makes a replay of .q files fast: the kernel's copy into
// a read buffer was the largest single cost of the merged replay (28% of
// its CPU time; bench/merged 15M records/s with pread, 19-20M mapped).
type qSource struct {
	f    vfs.File
	path string
	size int64
	off  int64
	buf  []byte
	mm   []byte // the mapped window, if any
}

func (s *qSource) init(f vfs.File, path string, size int64) {
	s.stop()
	s.f, s.path, s.size, s.off = f, path, size, 0
}

func (s *qSource) start(off int64) error { s.off = off; return nil }

func (s *qSource) next() ([]byte, int64, error) {
	n := min(int64(readBufSize), s.size-s.off)
	if n <= 0 {
		return nil, s.off, io.ErrUnexpectedEOF
	}
	s.stop()
	page := s.off &^ (pageSize - 1)
	if m, ok := mapWindow(s.f, page, int(min(mapSize, s.size-page))); ok {
		s.mm = m
		off := s.off
		s.off = page + int64(len(m))
		return m[off-page:], off, nil
	}
	if int64(cap(s.buf)) < n {
		// Small segments get a small buffer; it grows to readBufSize.
		s.buf = make([]byte, max(n, min(int64(readBufSize), s.size)))
	}
	b := s.buf[:n]
	m, err := s.f.ReadAt(b, s.off)
	if int64(m) < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, s.off, fmt.Errorf("segment %s: read at %d: %w", s.path, s.off, err)
	}
	off := s.off
	s.off += n
	return b, off, nil
}

func (s *qSource) release([]byte) {}

// stop unmaps the window: the blocks handed out are invalid from here.
func (s *qSource) stop() {
	if s.mm != nil {
		unmapWindow(s.mm)
		s.mm = nil
	}
}

// zstSource decodes a .q.zst frame by frame. Decoder goroutines read and
// decode ahead while the caller parses the current frame, so decompression
// and parsing overlap. Frames are taken in order from a shared counter
// (claim), each by whoever has a free block buffer, and frame i's result is
// sent to slots[i%len(slots)]; next() receives them in order. When the frame
// it needs is not ready, the caller decodes a later one itself instead of
// waiting, so that on a machine with a core per decoder plus one, no core
// idles while decoding is the bottleneck (it usually is: zstd decodes this
// data at about half the speed a replay parses it).
type zstSource struct {
	f       vfs.File
	path    string
	ix      *Index
	dec     *zstd.Decoder
	workers int

	spare [][]byte // block buffers not in flight
	comps [][]byte // compressed frame buffer per worker, then the caller's

	first     int          // frame the workers started at
	delivered int          // index of the next frame next() will return
	claim     atomic.Int64 // the next frame nobody has taken yet

	free    chan []byte
	slots   []chan zblock
	done    chan struct{}
	wg      sync.WaitGroup
	running bool
}

type zblock struct {
	b   []byte
	off int64
	err error
}

// Block buffers: per worker one being decoded and one decoded and
// waiting, one the caller decodes into, one the scanner holds. More only
// decode further ahead, which a reader that stops early (replay.BookAt)
// wastes. A frame is taken only with a buffer in hand, so at most nbuf
// frames are taken and not yet delivered: their slots are distinct, and a
// slot is empty when its next frame is sent (see put). And the frame
// next() waits for is always taken eventually: while nobody has taken it,
// nothing after it holds a buffer.
func (s *zstSource) nbuf() int { return 2*s.workers + 2 }

// zstSlack is extra capacity past a block: the decoder's fast paths want
// a little room, and a frame that decodes to more than its index entry is
// caught by the capacity limit instead of growing the buffer.
const zstSlack = 4 << 10

// noFCSAlloc is the first buffer size tried for a frame that does not
// declare its content size.
const noFCSAlloc = 4<<20 + zstSlack

// defaultDecoders leaves a core to the caller: decompression runs on
// the others, up to four.
func defaultDecoders() int { return max(1, min(4, runtime.GOMAXPROCS(0)-1)) }

func newDecoder(concurrency int) (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(concurrency),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(MaxBlockSize+zstSlack))
}

func (s *zstSource) init(f vfs.File, path string, ix *Index, dec *zstd.Decoder, workers int) {
	s.f, s.path, s.ix, s.dec, s.workers = f, path, ix, dec, workers
	for len(s.comps) < workers+1 {
		s.comps = append(s.comps, nil)
	}
}

func (s *zstSource) start(off int64) error {
	s.stop()
	n := s.nbuf()
	s.free = make(chan []byte, n)
	s.done = make(chan struct{})
	for i := 0; i < n; i++ {
		var b []byte
		if len(s.spare) > 0 {
			b, s.spare = s.spare[len(s.spare)-1], s.spare[:len(s.spare)-1]
		}
		s.free <- b
	}
	if len(s.slots) != n {
		s.slots = make([]chan zblock, n)
		for i := range s.slots {
			s.slots[i] = make(chan zblock, 1)
		}
	}
	s.running = true
	s.first = s.ix.Find(off)
	s.delivered = s.first
	s.claim.Store(int64(s.first))
	for w := 0; w < s.workers; w++ {
		s.wg.Add(1)
		go s.run(w)
	}
	return nil
}

func (s *zstSource) run(w int) {
	defer s.wg.Done()
	for {
		var buf []byte
		select {
		case buf = <-s.free:
		case <-s.done:
			return
		}
		i := int(s.claim.Add(1) - 1)
		if i >= len(s.ix.Entries) {
			s.free <- buf // cannot block: there are only nbuf buffers
			return
		}
		if !s.put(i, s.frame(w, i, buf)) {
			return
		}
	}
}

// frame decodes frame i into buf with decoder w's read buffer. A frame
// that fails keeps buf until next() delivers it, like one that decodes:
// frames taken and not delivered must each hold a buffer (see nbuf).
func (s *zstSource) frame(w, i int, buf []byte) zblock {
	b, err := s.decode(w, i, buf)
	if err != nil {
		b = buf
	}
	return zblock{b: b, off: int64(s.ix.Entries[i].UncompressedOffset), err: err}
}

// put hands frame i's result to next(). Its slot is empty (see nbuf); done
// is only there for safety.
func (s *zstSource) put(i int, blk zblock) bool {
	select {
	case s.slots[i%len(s.slots)] <- blk:
		return true
	case <-s.done:
		s.free <- blk.b // cannot block: there are only nbuf buffers
		return false
	}
}

// help decodes the next frame nobody has taken, on the caller's goroutine,
// if a buffer is free and the frame's slot is certainly empty (it is less
// than nbuf ahead of the frame next() waits for: the caller must never
// block in put). It reports whether it decoded one.
func (s *zstSource) help() bool {
	var buf []byte
	select {
	case buf = <-s.free:
	default:
		return false
	}
	for {
		c := s.claim.Load()
		if int(c) >= len(s.ix.Entries) || int(c)-s.delivered >= len(s.slots) {
			s.free <- buf
			return false
		}
		if s.claim.CompareAndSwap(c, c+1) {
			i := int(c)
			s.slots[i%len(s.slots)] <- s.frame(s.workers, i, buf)
			return true
		}
	}
}

// decode reads and decodes frame i into buf, with worker w's read buffer.
func (s *zstSource) decode(w, i int, buf []byte) ([]byte, error) {
	e := s.ix.Entries[i]
	frameErr := func(kind error, format string, args ...any) error {
		return &CorruptionError{Path: s.path, Offset: int64(e.CompressedOffset),
			Err: detailf(kind, "frame %d: "+format, append([]any{i}, args...)...)}
	}
	if cap(s.comps[w]) < int(e.CompressedSize) {
		s.comps[w] = make([]byte, e.CompressedSize)
	}
	comp := s.comps[w][:e.CompressedSize]
	if n, err := s.f.ReadAt(comp, int64(e.CompressedOffset)); n < len(comp) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("segment %s: read frame %d at %d: %w", s.path, i, e.CompressedOffset, err)
	}
	// Check the declared size before decoding, so that a frame that does
	// not match its entry costs no work and no allocation.
	var h zstd.Header
	if err := h.Decode(comp); err != nil {
		return nil, frameErr(ErrFrame, "header: %v", err)
	}
	if h.Skippable {
		return nil, frameErr(ErrFrame, "skippable frame")
	}
	if h.HasFCS && h.FrameContentSize != uint64(e.UncompressedSize) {
		return nil, frameErr(ErrIndex, "frame declares %d bytes, index says %d", h.FrameContentSize, e.UncompressedSize)
	}
	want := int(e.UncompressedSize) + zstSlack
	if !h.HasFCS && want > noFCSAlloc {
		// Nothing vouches for the index's size yet: start smaller, so
		// that a damaged index cannot make us allocate MaxBlockSize
		// buffers for a frame that turns out tiny.
		want = noFCSAlloc
	}
	if cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	b, err := s.dec.DecodeAll(comp, buf[:0])
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) && cap(buf) < int(e.UncompressedSize)+zstSlack {
		buf = make([]byte, 0, int(e.UncompressedSize)+zstSlack)
		b, err = s.dec.DecodeAll(comp, buf[:0])
	}
	if err != nil {
		return nil, frameErr(ErrFrame, "%v", err)
	}
	if len(b) != int(e.UncompressedSize) {
		return nil, frameErr(ErrIndex, "frame decodes to %d bytes, index says %d", len(b), e.UncompressedSize)
	}
	return b, nil
}

func (s *zstSource) next() ([]byte, int64, error) {
	if s.delivered >= len(s.ix.Entries) {
		return nil, 0, io.ErrUnexpectedEOF
	}
	slot := s.slots[s.delivered%len(s.slots)]
	var blk zblock
	for {
		select {
		case blk = <-slot:
		default:
			if s.help() {
				continue
			}
			blk = <-slot
		}
		break
	}
	s.delivered++ // a bad frame too: checkRest goes on after it
	if blk.err != nil {
		s.release(blk.b) // a failed frame's buffer goes back now
		return nil, blk.off, blk.err
	}
	return blk.b, blk.off, nil
}

// checkRest decodes, synchronously, the frames the scanner never asked
// for, so that VerifyStream checks every frame against the index even
// when damage stopped the record scan early. It returns the first error.
func (s *zstSource) checkRest() error {
	s.stop()
	var buf []byte
	if len(s.spare) > 0 {
		buf = s.spare[len(s.spare)-1]
	}
	for i := s.delivered; i < len(s.ix.Entries); i++ {
		b, err := s.decode(0, i, buf)
		if err != nil {
			return err
		}
		buf = b
	}
	return nil
}

// decodeSync decodes frame i with no worker running (after stop), into a
// kept buffer; the caller hands it back with keep.
func (s *zstSource) decodeSync(i int) ([]byte, error) {
	var buf []byte
	if len(s.spare) > 0 {
		buf, s.spare = s.spare[len(s.spare)-1], s.spare[:len(s.spare)-1]
	}
	b, err := s.decode(0, i, buf)
	if err != nil {
		s.keep(buf)
		return nil, err
	}
	return b, nil
}

func (s *zstSource) release(b []byte) {
	select {
	case s.free <- b[:0]:
	default: // not one of this run's buffers
	}
}

// stop ends the decoder goroutines and keeps their buffers for next time.
func (s *zstSource) stop() {
	if !s.running {
		return
	}
	close(s.done)
	s.wg.Wait()
	s.running = false
	for {
		select {
		case b := <-s.free:
			s.keep(b)
			continue
		default:
		}
		break
	}
	for _, slot := range s.slots {
		select {
		case blk := <-slot:
			s.keep(blk.b)
		default:
		}
	}
}

func (s *zstSource) keep(b []byte) {
	if cap(b) > 0 && len(s.spare) < s.nbuf() {
		s.spare = append(s.spare, b[:0])
	}
}
