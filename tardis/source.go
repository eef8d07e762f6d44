package tardis

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
)

// A source hands the parser its input in chunks. next returns the next
// chunk and may reuse prev, the previous chunk, which the parser no longer
// references. After next returns an error it is not called again.
type source interface {
	next(prev []byte) ([]byte, error)
	close() error
}

// countingReader counts the bytes read through it, for BytesRead, which
// another goroutine may call while this one reads, and copies them to tee
// when set (Options.Hash).
type countingReader struct {
	r   io.Reader
	tee io.Writer
	n   atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if c.tee != nil && n > 0 {
		if _, werr := c.tee.Write(p[:n]); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

const (
	plainChunk = 64 << 10 // read size for uncompressed input
	gzipChunk  = 1 << 20  // decompressed chunk handed from the gzip goroutine
	gzipChunks = 3        // one being parsed, one queued, one being filled
)

// readerSource reads uncompressed input in the caller's goroutine: reading
// a file from the page cache is far faster than parsing it, so a goroutine
// would only add a way to leak.
type readerSource struct {
	r      io.Reader
	closer io.Closer // may be nil
	buf    []byte
}

func (s *readerSource) next([]byte) ([]byte, error) {
	if s.buf == nil {
		s.buf = make([]byte, plainChunk)
	}
	// Like bufio, give up on a reader that keeps returning nothing.
	for range 100 {
		n, err := s.r.Read(s.buf)
		if n > 0 || err != nil {
			return s.buf[:n], err
		}
	}
	return nil, io.ErrNoProgress
}

func (s *readerSource) close() error {
	if s.closer == nil {
		return nil
	}
	c := s.closer
	s.closer = nil
	return c.Close()
}

type chunkMsg struct {
	b   []byte
	err error
}

// gzipSource decompresses in its own goroutine, so that on two cores
// decompression and parsing overlap. Chunks circulate between the two
// goroutines through free and full, so steady state allocates nothing.
type gzipSource struct {
	zr     *gzip.Reader
	closer io.Closer
	full   chan chunkMsg
	free   chan []byte
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGzipSource(zr *gzip.Reader, closer io.Closer) *gzipSource {
	s := &gzipSource{
		zr:     zr,
		closer: closer,
		full:   make(chan chunkMsg, gzipChunks),
		free:   make(chan []byte, gzipChunks),
		done:   make(chan struct{}),
	}
	for range gzipChunks {
		s.free <- make([]byte, gzipChunk)
	}
	s.wg.Add(1)
	go s.run()
	return s
}

func (s *gzipSource) run() {
	defer s.wg.Done()
	for {
		var b []byte
		select {
		case b = <-s.free:
		case <-s.done:
			return
		}
		// Fill the whole chunk: fewer, larger hand-offs.
		n := 0
		var err error
		for n < len(b) && err == nil {
			var m int
			m, err = s.zr.Read(b[n:])
			n += m
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = truncatedError{}
		}
		select {
		case s.full <- chunkMsg{b[:n], err}:
		case <-s.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *gzipSource) next(prev []byte) ([]byte, error) {
	if prev != nil {
		s.free <- prev[:cap(prev)]
	}
	m := <-s.full
	return m.b, m.err
}

func (s *gzipSource) close() error {
	s.once.Do(func() {
		close(s.done)
		s.wg.Wait()
		err := s.zr.Close()
		if cerr := s.closer.Close(); err == nil {
			err = cerr
		}
		s.err = err
	})
	return s.err
}
