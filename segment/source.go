package segment

import (
	"fmt"
	"io"

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

// zstSource decodes a .q.zst frame by frame. A goroutine reads and decodes
// ahead (up to zstBuffers-1 frames) while the caller parses the current
// one, so on two cores decompression and parsing overlap.
type zstSource struct {
	f    vfs.File
	path string
	ix   *Index
	dec  *zstd.Decoder

	spare [][]byte // block buffers not in flight
	comp  []byte   // compressed frame, owned by the goroutine while it runs

	delivered int // index of the next frame next() will return

	free    chan []byte
	out     chan zblock
	done    chan struct{}
	exited  chan struct{}
	running bool
}

type zblock struct {
	b   []byte
	off int64
	err error
}

// zstBuffers block buffers circulate: one the scanner holds, one decoded and
// waiting, one being decoded.
const zstBuffers = 3

// zstSlack is extra capacity past a block: the decoder's fast paths want
// a little room, and a frame that decodes to more than its index entry is
// caught by the capacity limit instead of growing the buffer.
const zstSlack = 4 << 10

func newDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(MaxBlockSize+zstSlack))
}

func (s *zstSource) init(f vfs.File, path string, ix *Index, dec *zstd.Decoder) {
	s.f, s.path, s.ix, s.dec = f, path, ix, dec
}

func (s *zstSource) start(off int64) error {
	s.stop()
	s.free = make(chan []byte, zstBuffers)
	s.out = make(chan zblock, zstBuffers-2)
	s.done = make(chan struct{})
	s.exited = make(chan struct{})
	for i := 0; i < zstBuffers; i++ {
		var b []byte
		if len(s.spare) > 0 {
			b, s.spare = s.spare[len(s.spare)-1], s.spare[:len(s.spare)-1]
		}
		s.free <- b
	}
	s.running = true
	s.delivered = s.ix.Find(off)
	go s.run(s.delivered)
	return nil
}

func (s *zstSource) run(first int) {
	defer close(s.exited)
	defer close(s.out)
	for i := first; i < len(s.ix.Entries); i++ {
		var buf []byte
		select {
		case buf = <-s.free:
		case <-s.done:
			return
		}
		b, err := s.decode(i, buf)
		if err != nil {
			s.free <- buf // cannot block: the scanner gets no buffer from us
		}
		select {
		case s.out <- zblock{b: b, off: int64(s.ix.Entries[i].UncompressedOffset), err: err}:
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

// decode reads and decodes frame i into buf.
func (s *zstSource) decode(i int, buf []byte) ([]byte, error) {
	e := s.ix.Entries[i]
	frameErr := func(kind error, format string, args ...any) error {
		return &CorruptionError{Path: s.path, Offset: int64(e.CompressedOffset),
			Err: detailf(kind, "frame %d: "+format, append([]any{i}, args...)...)}
	}
	if cap(s.comp) < int(e.CompressedSize) {
		s.comp = make([]byte, e.CompressedSize)
	}
	comp := s.comp[:e.CompressedSize]
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
	if cap(buf) < want {
		buf = make([]byte, 0, max(want, int(s.ix.BlockSize)+zstSlack))
	}
	b, err := s.dec.DecodeAll(comp, buf[:0])
	if err != nil {
		return nil, frameErr(ErrFrame, "%v", err)
	}
	if len(b) != int(e.UncompressedSize) {
		return nil, frameErr(ErrIndex, "frame decodes to %d bytes, index says %d", len(b), e.UncompressedSize)
	}
	return b, nil
}

func (s *zstSource) next() ([]byte, int64, error) {
	blk, ok := <-s.out
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
		b, err := s.decode(i, buf)
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

// stop ends the read-ahead goroutine and keeps its buffers for next time.
func (s *zstSource) stop() {
	if !s.running {
		return
	}
	close(s.done)
	<-s.exited // the goroutine closed out before exiting
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
	for blk := range s.out {
		s.keep(blk.b)
	}
}

func (s *zstSource) keep(b []byte) {
	if cap(b) > 0 && len(s.spare) < zstBuffers {
		s.spare = append(s.spare, b[:0])
	}
}
