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
	tee *asyncTee // nil without Options.Hash
	n   atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if c.tee != nil {
		if n > 0 {
			c.tee.write(p[:n])
		}
		// The input is used up (or failed): the hash must be complete
		// before the reader reports the end, after which the caller may
		// Sum it. Waiting here, in the goroutine that read the last
		// bytes, orders every Write before that report.
		if err != nil {
			if terr := c.finish(); terr != nil && err == io.EOF {
				err = terr
			}
		}
	}
	return n, err
}

// finish waits for the tee to write what it was given and stops its
// goroutine. It is called by the goroutine reading c, or once that one
// has stopped; later calls return the same error.
func (c *countingReader) finish() error {
	if c.tee == nil {
		return nil
	}
	return c.tee.finish()
}

// asyncTee writes a copy of what it is given to w in a goroutine of its
// own: hashing the input (blake3, about a tenth of gunzip's time) would
// otherwise run in the reading goroutine, gunzip's, which sets the pace
// of an import. Copying costs far less than hashing, and the few buffers
// in flight bound both the memory and how far the hash may lag.
type asyncTee struct {
	w        io.Writer
	full     chan []byte
	free     chan []byte
	done     chan struct{} // closed by run when it has written everything
	err      error         // w's first error; read after done
	finished bool
}

const (
	teeChunk  = 256 << 10
	teeChunks = 4
)

func newAsyncTee(w io.Writer) *asyncTee {
	t := &asyncTee{w: w, full: make(chan []byte, teeChunks), free: make(chan []byte, teeChunks), done: make(chan struct{})}
	for range teeChunks {
		t.free <- make([]byte, teeChunk)
	}
	go t.run()
	return t
}

func (t *asyncTee) run() {
	defer close(t.done)
	for b := range t.full {
		if t.err == nil {
			_, t.err = t.w.Write(b)
		}
		t.free <- b[:cap(b)]
	}
}

// write queues a copy of p. run always hands buffers back, so this
// blocks only while run catches up.
func (t *asyncTee) write(p []byte) {
	if t.finished {
		// Bytes after the end (a file that grew): run has stopped, so
		// write them here, and the hash still covers every byte read.
		if t.err == nil {
			_, t.err = t.w.Write(p)
		}
		return
	}
	for len(p) > 0 {
		b := <-t.free
		n := copy(b, p)
		t.full <- b[:n]
		p = p[n:]
	}
}

func (t *asyncTee) finish() error {
	if !t.finished {
		t.finished = true
		close(t.full)
		<-t.done
	}
	return t.err
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
	r       io.Reader
	closer  io.Closer // may be nil
	counter *countingReader
	buf     []byte
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
	s.counter.finish()
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
	zr      *gzip.Reader
	closer  io.Closer
	counter *countingReader // read by the goroutine, through zr
	full    chan chunkMsg
	free    chan []byte
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	err     error
}

func newGzipSource(zr *gzip.Reader, closer io.Closer, counter *countingReader) *gzipSource {
	s := &gzipSource{
		zr:      zr,
		closer:  closer,
		counter: counter,
		full:    make(chan chunkMsg, gzipChunks),
		free:    make(chan []byte, gzipChunks),
		done:    make(chan struct{}),
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
		s.counter.finish() // the reading goroutine has stopped
		err := s.zr.Close()
		if cerr := s.closer.Close(); err == nil {
			err = cerr
		}
		s.err = err
	})
	return s.err
}
