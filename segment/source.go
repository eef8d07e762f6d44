package segment

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/chronicle-archive/chronicle/vfs"
	"github.com/klauspost/compress/zstd"
)

// readBufSize is the .q read size: large reads, few syscalls.
const readBufSize = 4 << 20

// qSource reads a .q in readBufSize blocks into one reused buffer. One is
// enough because the scanner copies a straddling tail out before it asks
// for the next block.
type qSource struct {
	f    vfs.File
	path string
	size int64
	off  int64
	buf  []byte
}

func (s *qSource) init(f vfs.File, path string, size int64) {
	s.f, s.path, s.size, s.off = f, path, size, 0
}

func (s *qSource) start(off int64) error { s.off = off; return nil }

func (s *qSource) next() ([]byte, int64, error) {
	n := min(int64(readBufSize), s.size-s.off)
	if n <= 0 {
		return nil, s.off, io.ErrUnexpectedEOF
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
func (s *qSource) stop()          {}

// zstSource decodes a .q.zst frame by frame. Decoder goroutines read and
// decode ahead while the caller parses the current frame, so decompression
// and parsing overlap. With w workers, worker k decodes frames first+k,
// first+k+w, ... into its own channel, and next() takes from the channels
// in turn, so frames arrive in order.
type zstSource struct {
	f       vfs.File
	path    string
	ix      *Index
	dec     *zstd.Decoder
	workers int

	spare [][]byte // block buffers not in flight
	comps [][]byte // compressed frame buffer per worker

	first     int // frame the workers started at
	delivered int // index of the next frame next() will return

	free    chan []byte
	outs    []chan zblock
	done    chan struct{}
	wg      sync.WaitGroup
	running bool
}

type zblock struct {
	b   []byte
	off int64
	err error
}

// Block buffers: per worker one being decoded and one decoded and waiting,
// and one the scanner holds. With that many, a worker the scanner waits on
// always finds a free buffer.
func (s *zstSource) nbuf() int { return 2*s.workers + 1 }

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
	for len(s.comps) < workers {
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
	s.running = true
	s.first = s.ix.Find(off)
	s.delivered = s.first
	s.outs = s.outs[:0]
	for w := 0; w < s.workers; w++ {
		out := make(chan zblock, 1)
		s.outs = append(s.outs, out)
		s.wg.Add(1)
		go s.run(w, out)
	}
	return nil
}

func (s *zstSource) run(w int, out chan<- zblock) {
	defer s.wg.Done()
	defer close(out)
	for i := s.first + w; i < len(s.ix.Entries); i += s.workers {
		var buf []byte
		select {
		case buf = <-s.free:
		case <-s.done:
			return
		}
		b, err := s.decode(w, i, buf)
		if err != nil {
			s.free <- buf // cannot block: there are only nbuf buffers
		}
		select {
		case out <- zblock{b: b, off: int64(s.ix.Entries[i].UncompressedOffset), err: err}:
		case <-s.done:
			if err == nil {
				s.free <- b
			}
			return
		}
		if err != nil {
			return
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
	blk, ok := <-s.outs[(s.delivered-s.first)%s.workers]
	if !ok {
		return nil, 0, io.ErrUnexpectedEOF
	}
	s.delivered++ // a bad frame too: checkRest goes on after it
	return blk.b, blk.off, blk.err
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
	s.wg.Wait() // each worker closed its channel before exiting
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
	for _, out := range s.outs {
		for blk := range out {
			s.keep(blk.b)
		}
	}
}

func (s *zstSource) keep(b []byte) {
	if cap(b) > 0 && len(s.spare) < s.nbuf() {
		s.spare = append(s.spare, b[:0])
	}
}
