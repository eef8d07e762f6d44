package objstore

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Read-ahead of an Object: DefaultReadAhead chunks of DefaultChunkSize in
// flight. One chunk ahead only hides the time the reader spends on the
// chunk it has; to hide a GET's time to first byte from a reader faster
// than the link, several must be on their way (the benchmark shows it).
const (
	DefaultChunkSize = 8 << 20
	DefaultReadAhead = 4
)

// Object reads one version of an object at any offset (io.ReaderAt). Reads
// that do not continue where the previous one ended are ranged GETs of
// exactly the bytes asked for, as a block-index lookup wants; a run of
// contiguous reads is served from chunks, the next few of which are fetched
// in the background, as a full replay wants. Memory: (DefaultReadAhead+1)
// chunks while reading sequentially, none otherwise.
//
// All reads are pinned to the ETag seen by Open: if the object is replaced,
// reads fail with ErrChanged instead of mixing two versions. An Object is
// safe for concurrent use; Close stops the read-ahead.
type Object struct {
	s         *Store
	key       string
	info      Info
	chunkSize int64
	readAhead int

	ctx    context.Context // of the background fetches; cancelled by Close
	cancel context.CancelFunc

	mu      sync.Mutex
	lastEnd int64 // end of the previous read, -1 before the first
	cur     *chunk
	ahead   []*chunk // being fetched or fetched, contiguous after cur
	free    [][]byte // chunk buffers no chunk uses any more
}

type chunk struct {
	off, size int64 // the bytes asked for
	buf       []byte
	err       error
	done      chan struct{}
}

// Open stats key and returns a reader of the version it found.
func (s *Store) Open(ctx context.Context, key string) (*Object, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithCancel(ctx)
	return &Object{s: s, key: key, info: info, chunkSize: DefaultChunkSize, readAhead: DefaultReadAhead, ctx: octx, cancel: cancel, lastEnd: -1}, nil
}

// Size and ETag are those of the version being read.
func (o *Object) Size() int64  { return o.info.Size }
func (o *Object) ETag() string { return o.info.ETag }

// ReadAt implements io.ReaderAt.
func (o *Object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, o.s.fail("read", o.key, fmt.Errorf("negative offset %d", off))
	}
	if off >= o.info.Size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := o.info.Size - off; int64(want) > rest {
		p = p[:rest]
	}

	o.mu.Lock()
	sequential := off == o.lastEnd
	o.lastEnd = off + int64(len(p))
	var n int
	var err error
	if sequential {
		n, err = o.readChunked(p, off)
	}
	o.mu.Unlock()
	if !sequential {
		n, err = o.s.readRange(o.ctx, o.key, o.info.ETag, off, p)
	}
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// readChunked copies p from the chunks, fetching them as needed. o.mu is held.
func (o *Object) readChunked(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		c, err := o.chunkAt(pos)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], c.buf[pos-c.off:c.size])
	}
	return n, nil
}

// chunkAt returns the fetched chunk holding pos and keeps the read-ahead
// full behind it. o.mu is held.
func (o *Object) chunkAt(pos int64) (*chunk, error) {
	if c := o.cur; c != nil && pos >= c.off && pos < c.off+c.size {
		return c, nil
	}
	if o.cur != nil {
		o.free = append(o.free, o.cur.buf)
		o.cur = nil
	}
	if len(o.ahead) > 0 && o.ahead[0].off == pos {
		o.cur, o.ahead = o.ahead[0], o.ahead[1:]
	} else {
		o.dropAhead()
		o.cur = o.fetch(pos)
	}
	<-o.cur.done
	if err := o.cur.err; err != nil {
		o.free = append(o.free, o.cur.buf)
		o.cur = nil
		o.dropAhead()
		return nil, err
	}
	end := o.cur.off + o.cur.size
	if len(o.ahead) > 0 {
		last := o.ahead[len(o.ahead)-1]
		end = last.off + last.size
	}
	for len(o.ahead) < o.readAhead && end < o.info.Size {
		c := o.fetch(end)
		o.ahead = append(o.ahead, c)
		end += c.size
	}
	return o.cur, nil
}

// dropAhead waits for the read-ahead and keeps its buffers. o.mu is held.
func (o *Object) dropAhead() {
	for _, c := range o.ahead {
		<-c.done
		o.free = append(o.free, c.buf)
	}
	o.ahead = o.ahead[:0]
}

// fetch starts reading the chunk at off. o.mu is held.
func (o *Object) fetch(off int64) *chunk {
	var buf []byte
	if n := len(o.free); n > 0 {
		buf, o.free = o.free[n-1], o.free[:n-1]
	} else {
		buf = make([]byte, o.chunkSize)
	}
	c := &chunk{off: off, size: min(o.chunkSize, o.info.Size-off), buf: buf, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		n, err := o.s.readRange(o.ctx, o.key, o.info.ETag, off, buf[:c.size])
		if err == nil && int64(n) < c.size {
			err = o.s.fail("read", o.key, fmt.Errorf("object ended at offset %d, short of the %d bytes it had when opened", off+int64(n), o.info.Size))
		}
		c.err = err
	}()
	return c
}

// Close stops the read-ahead and waits for it.
func (o *Object) Close() error {
	o.cancel()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropAhead()
	o.cur, o.free = nil, nil
	return nil
}
