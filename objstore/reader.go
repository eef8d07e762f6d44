package objstore

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Read-ahead of an Object: up to DefaultReadAhead chunks of at most
// DefaultChunkSize in flight. One chunk ahead only hides the time the
// reader spends on the chunk it has; to hide a GET's time to first byte
// from a reader faster than the link, several must be on their way (the
// benchmark shows it).
//
// A run of contiguous reads from the object's start (a replay: the header,
// then on) reads full chunks, all in flight, at once. A run starting
// further in (on from the block a block-index lookup found) starts small and
// grows, as the kernel's read-ahead does: chunks from twice the first read
// (at least firstChunk), doubling, one in flight, then all of them once
// chunks are full. A book --at that reads on a few MiB past its block must
// not wait for 8 MiB nor pull 40 MiB it never reads.
const (
	DefaultChunkSize = 8 << 20
	DefaultReadAhead = 4
	firstChunk       = 256 << 10
)

// Object reads one version of an object at any offset (io.ReaderAt). Reads
// that do not continue where the previous one ended are ranged GETs of
// exactly the bytes asked for, as a block-index lookup wants; a run of
// contiguous reads is served from chunks, the next few of which are fetched
// in the background, as a full replay wants. Memory: at most
// (DefaultReadAhead+1) chunks while reading sequentially, none otherwise.
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

	pinMu sync.Mutex
	etag  string // the version read; "" until the first GET of OpenSized's

	mu      sync.Mutex
	lastEnd int64 // end of the previous read, -1 before the first
	cur     *chunk
	ahead   []*chunk // being fetched or fetched, contiguous after cur
	free    [][]byte // chunk buffers no chunk uses any more
	next    int64    // size of the next chunk of this run of contiguous reads
	depth   int      // chunks to keep in flight behind cur in this run
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
	return s.newObject(ctx, key, info), nil
}

// OpenSized returns a reader of key, whose size the caller already knows
// (the archive's commit object lists it), without a HEAD request: the
// version read is the one the first GET answers from, every later GET is
// pinned to its ETag, and an object whose size is not size fails the first
// read.
func (s *Store) OpenSized(ctx context.Context, key string, size int64) *Object {
	return s.newObject(ctx, key, Info{Key: key, Size: size})
}

func (s *Store) newObject(ctx context.Context, key string, info Info) *Object {
	octx, cancel := context.WithCancel(ctx)
	return &Object{s: s, key: key, info: info, etag: info.ETag, chunkSize: DefaultChunkSize, readAhead: DefaultReadAhead, ctx: octx, cancel: cancel, lastEnd: -1}
}

// Size is that of the version being read; ETag is its ETag, "" before the
// first read of an Object from OpenSized.
func (o *Object) Size() int64 { return o.info.Size }
func (o *Object) ETag() string {
	o.pinMu.Lock()
	defer o.pinMu.Unlock()
	return o.etag
}

// get fills p from off, from the version pinned, or pins the version the
// answer came from.
func (o *Object) get(off int64, p []byte) (int, error) {
	etag := o.ETag()
	n, v, err := o.s.readRangeVersion(o.ctx, o.key, etag, off, p)
	if etag != "" || v.etag == "" {
		return n, err
	}
	o.pinMu.Lock()
	defer o.pinMu.Unlock()
	switch {
	case v.size >= 0 && v.size != o.info.Size:
		return 0, o.s.fail("read", o.key, fmt.Errorf("%d bytes, %d expected: %w", v.size, o.info.Size, ErrChanged))
	case o.etag == "":
		o.etag = v.etag
	case o.etag != v.etag: // two first reads at once, answered by two versions
		return 0, o.s.fail("read", o.key, ErrChanged)
	}
	return n, err
}

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
		n, err = o.get(off, p)
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
		c, err := o.chunkAt(pos, len(p)-n)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], c.buf[pos-c.off:c.size])
	}
	return n, nil
}

// chunkAt returns the fetched chunk holding pos and keeps the read-ahead
// full behind it. o.mu is held.
func (o *Object) chunkAt(pos int64, want int) (*chunk, error) {
	if c := o.cur; c != nil && pos >= c.off && pos < c.off+c.size {
		return c, nil
	}
	if o.cur != nil {
		o.free = append(o.free, o.cur.buf)
		o.cur = nil
	}
	if len(o.ahead) > 0 && o.ahead[0].off == pos {
		o.cur, o.ahead = o.ahead[0], o.ahead[1:]
		if o.cur.size == o.chunkSize {
			// Grown to full chunks, the run has read several MiB on:
			// a replay, to be read at the link's speed. While chunks
			// grow, the one ahead is as large as all the run read so far.
			o.depth = o.readAhead
		}
	} else {
		// A new run: from the object's start, a whole read (a replay):
		// full chunks at once. Elsewhere (on from a block a lookup
		// found), start small, at twice what the reader asked for.
		o.dropAhead()
		o.next = min(max(firstChunk, 2*int64(want)), o.chunkSize)
		o.depth = min(1, o.readAhead)
		if pos < firstChunk {
			o.next, o.depth = o.chunkSize, o.readAhead
		}
		o.cur = o.fetch(pos)
	}
	// The read-ahead starts before the wait for cur: at a run's start the
	// chunk after it is on its way at once.
	end := o.cur.off + o.cur.size
	if len(o.ahead) > 0 {
		last := o.ahead[len(o.ahead)-1]
		end = last.off + last.size
	}
	for len(o.ahead) < o.depth && end < o.info.Size {
		c := o.fetch(end)
		o.ahead = append(o.ahead, c)
		end += c.size
	}
	<-o.cur.done
	if err := o.cur.err; err != nil {
		o.free = append(o.free, o.cur.buf)
		o.cur = nil
		o.dropAhead()
		return nil, err
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

// fetch starts reading the next chunk of the run, at off, and doubles the
// size of the one after. o.mu is held.
func (o *Object) fetch(off int64) *chunk {
	size := min(o.next, o.info.Size-off)
	o.next = min(2*o.next, o.chunkSize)
	c := &chunk{off: off, size: size, buf: o.buffer(size), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		n, err := o.get(off, c.buf[:size])
		if err == nil && int64(n) < size {
			err = o.s.fail("read", o.key, fmt.Errorf("object ended at offset %d, short of the %d bytes it had when opened", off+int64(n), o.info.Size))
		}
		c.err = err
	}()
	return c
}

// buffer returns a free buffer of at least size bytes, else a new one; the
// free list never holds more buffers than can be in use at once. o.mu is held.
func (o *Object) buffer(size int64) []byte {
	for i, b := range o.free {
		if int64(cap(b)) >= size {
			o.free[i] = o.free[len(o.free)-1]
			o.free = o.free[:len(o.free)-1]
			return b[:size]
		}
	}
	if len(o.free) > o.readAhead {
		o.free = o.free[1:] // a smaller buffer of the run's start: let it go
	}
	return make([]byte, size)
}

// Prefetch starts reading the object from its start in the background,
// before any read: a run of reads from offset 0 then continues from the
// chunks already on their way. A replay calls it for the next file while it
// reads the end of the current one, so that the switch does not wait for a
// GET. It does nothing once the object has been read. Memory: prefetchChunks
// chunks until the reads begin.
func (o *Object) Prefetch() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lastEnd != -1 || o.cur != nil || len(o.ahead) > 0 || o.info.Size == 0 || o.ctx.Err() != nil {
		return
	}
	o.next, o.depth = o.chunkSize, o.readAhead
	for end := int64(0); len(o.ahead) < min(prefetchChunks, o.readAhead) && end < o.info.Size; {
		c := o.fetch(end)
		o.ahead = append(o.ahead, c)
		end += c.size
	}
	o.lastEnd = 0 // the first read, at 0, continues this run
}

// prefetchChunks is how many chunks Prefetch fetches: enough to cover the
// time the reader's first reads take to fill the rest of the read-ahead.
const prefetchChunks = 2

// Close stops the read-ahead and waits for it.
func (o *Object) Close() error {
	o.cancel()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropAhead()
	o.cur, o.free = nil, nil
	return nil
}
