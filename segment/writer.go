package segment

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/chronicle-archive/chronicle/vfs"
)

const (
	// writeBufSize is how much the writer buffers before handing the bytes
	// to the segment's background goroutine, which writes them with one
	// write syscall. Larger buffers cost more system time per byte: the
	// kernel copies them from beyond the CPU caches.
	writeBufSize = 256 << 10
	// writeBufs buffers circulate between the writer and the goroutine:
	// one being filled, the others queued or being written. Memory stays at
	// writeBufs*writeBufSize whatever the input.
	writeBufs = 8
)

// syncEvery: each time this many more bytes of a segment are written to an
// OS file, a second background goroutine fsyncs it, so that the fsync at
// seal, which the caller waits for, has little left to do. On virtual disks
// an fsync costs time in proportion to the data written since the last one,
// even when the kernel has already written it back. A variable for tests.
var syncEvery int64 = 16 << 20

// fileSync is how the background syncer fsyncs; a variable for tests.
var fileSync = (*os.File).Sync

// ErrClosed is returned by a Writer used after Close or Abort.
var ErrClosed = errors.New("segment: writer closed")

// WriterOptions configures a Writer. The zero value is valid.
type WriterOptions struct {
	// FS is the file system; vfs.Default when nil.
	FS vfs.FS
	// SegmentSize is the largest a segment grows (DefaultSegmentSize when
	// 0): the writer rolls to a new segment when the next record would not
	// fit. A record larger than SegmentSize-HeaderSize gets a segment of its
	// own, which is then larger than SegmentSize. At least 2*HeaderSize.
	SegmentSize int64
	// FirstID is the id of the first segment written (at most MaxID).
	FirstID uint32
	// FirstSeq is the seq of the first record; each record adds one.
	FirstSeq uint64
	// OnSeal, when set, is called with each segment once it is published
	// (renamed to its .q and the directory fsynced), on the goroutine of
	// the Append or Close that sealed it: an import can compress it while
	// the next one is written.
	OnSeal func(PublishedFile)
	// Codec, when set, encodes each segment as it is written, on the
	// background goroutine, and publishes it as NNNNNNNNN.q.col: the .q is
	// never written, nor read back to be compressed. The .q.col is the one
	// CompressSegment would make of the .q, byte for byte.
	Codec AppendEncoder
}

// Writer appends records to a stream directory, one segment at a time.
//
// A segment is written as NNNNNNNNN.q.tmp and published as NNNNNNNNN.q only
// when complete: flushed, SEALED set, fsynced, closed, renamed without
// replacing anything, and the directory fsynced. A crash or an error
// therefore leaves at most a .tmp, which readers ignore, never a torn .q.
// The bytes written depend only on the options and the appends.
//
// Append only copies records into a buffer: while a segment is open, a
// background goroutine writes full buffers to the file, so that the caller's
// work overlaps the write syscalls, and computes the blake3 of the segment
// as it will be once sealed (PublishedFiles). A write error is sticky and
// returned by the next Append or by Close. The goroutine exists only while a
// segment is open: Close or Abort ends it.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	fs      vfs.FS
	dir     string
	segSize int64
	id      uint32 // id of the open segment, or of the next one
	seq     uint64

	f    vfs.File // open .tmp, nil between segments
	tmp  string   // its path, "" when there is none to clean up
	size int64    // bytes in the open segment, buffered ones included
	buf  []byte   // the buffer being filled; nil when the writer holds none
	bg   *flusher // writes the open segment's buffers; nil between segments
	free chan []byte
	nbuf int // buffers allocated, at most writeBufs

	hdr       [HeaderSize]byte
	onSeal    func(PublishedFile)
	codec     AppendEncoder
	published []PublishedFile
	err       error // sticky: the first failure
	closed    bool
}

// PublishedFile describes a segment the writer published.
type PublishedFile struct {
	ID   uint32
	Name string // file name in the directory (NNNNNNNNN.q, or .q.col)
	Size int64  // of the file
	// Blake3 is the hex blake3 of the file's bytes, as published; empty
	// for a .q.col (WriterOptions.Codec), whose bytes the writer does not
	// see whole.
	Blake3 string
	QSize  int64 // the .q's length, which a .q.col restores
}

// NewWriter returns a writer for the existing directory dir. It does no
// I/O: the first segment is created by the first Append.
func NewWriter(dir string, opts WriterOptions) (*Writer, error) {
	w := &Writer{fs: opts.FS, dir: dir, segSize: opts.SegmentSize, id: opts.FirstID, seq: opts.FirstSeq, onSeal: opts.OnSeal, codec: opts.Codec}
	if w.fs == nil {
		w.fs = vfs.Default
	}
	if w.segSize == 0 {
		w.segSize = DefaultSegmentSize
	}
	if w.segSize < 2*HeaderSize {
		return nil, fmt.Errorf("segment: SegmentSize %d is below the minimum %d", opts.SegmentSize, 2*HeaderSize)
	}
	if w.id > MaxID {
		return nil, fmt.Errorf("segment: FirstID %d is above MaxID %d", w.id, MaxID)
	}
	if w.codec != nil {
		if err := checkCodec(w.codec); err != nil {
			return nil, err
		}
	}
	w.free = make(chan []byte, writeBufs)
	return w, nil
}

// Append writes a record and returns where it starts. The record is
// buffered; it is durable and visible only once its segment is published
// (on roll or Close). After an error the writer is unusable: the error is
// returned again by every call, and the unpublished segment is removed.
func (w *Writer) Append(typeID uint16, timestampNS uint64, payload []byte) (Position, error) {
	// The common case, a small record that fits the open segment and the
	// buffer, is framed in place: one copy of the payload and no
	// intermediate header. Anything else takes the general path.
	n := recordLen(int64(len(payload)))
	if w.err != nil || w.closed || w.f == nil || w.size+n > w.segSize || int64(cap(w.buf)-len(w.buf)) < n {
		return w.AppendParts(typeID, timestampNS, payload)
	}
	pos := Position{SegmentID: w.id, Offset: w.size}
	at := len(w.buf)
	w.buf = w.buf[:at+int(n)]
	r := w.buf[at:]
	le := binary.LittleEndian
	end := HeaderSize + copy(r[HeaderSize:], payload)
	// The CRC runs over zeros in the header's place and the payload, from
	// the register that those zeros bring back to the initial one: the
	// same CRC, but over a multiple of 16 bytes and at least 64, which
	// hash/crc32 does with carry-less multiplication instead of its far
	// slower table loop for the tail (most records are 50 to 100 bytes).
	k := crcPad(len(payload))
	clear(r[HeaderSize-k : HeaderSize])
	crc := crc32.Update(crcUnzero[k], crc32.IEEETable, r[HeaderSize-k:end])
	le.PutUint32(r[offCommitLen:], uint32(len(payload))+1)
	le.PutUint32(r[offPad:], 0)
	le.PutUint64(r[offSeq:], w.seq)
	le.PutUint64(r[offTimestamp:], timestampNS)
	le.PutUint16(r[offTypeID:], typeID)
	le.PutUint16(r[offMsgFlags:], 0)
	le.PutUint32(r[offChecksum:], crc)
	// Buffers are reused: the reserved bytes and the padding are cleared.
	clear(r[offChecksum+4 : HeaderSize])
	clear(r[end:])
	w.size += n
	w.seq++
	return pos, nil
}

// AppendParts is Append of the concatenation of parts, without building
// it: the parts are copied straight into the writer's buffers, so a huge
// record (a snapshot of millions of levels) needs no copy of its own in
// memory. The writer holds at most writeBufs*writeBufSize bytes whatever
// the record's size.
func (w *Writer) AppendParts(typeID uint16, timestampNS uint64, parts ...[]byte) (Position, error) {
	if w.err != nil {
		return Position{}, w.err
	}
	if w.closed {
		return Position{}, ErrClosed
	}
	size := uint64(0)
	crc := uint32(0)
	for _, p := range parts {
		size += uint64(len(p))
		crc = crc32.Update(crc, crc32.IEEETable, p)
	}
	if size > MaxPayloadSize {
		// A usage error: the writer stays usable.
		return Position{}, fmt.Errorf("segment: payload of %d bytes exceeds MaxPayloadSize", size)
	}
	n := recordLen(int64(size))
	// An open segment always holds a record, so a record too large for
	// any segment still gets one of its own here.
	if w.f != nil && w.size+n > w.segSize {
		if err := w.seal(); err != nil {
			return Position{}, w.fail(err)
		}
	}
	if w.f == nil {
		if err := w.create(); err != nil {
			return Position{}, w.fail(err)
		}
	}
	pos := Position{SegmentID: w.id, Offset: w.size}

	h := w.hdr[:]
	binary.LittleEndian.PutUint32(h[offCommitLen:], uint32(size)+1)
	binary.LittleEndian.PutUint32(h[offPad:], 0)
	binary.LittleEndian.PutUint64(h[offSeq:], w.seq)
	binary.LittleEndian.PutUint64(h[offTimestamp:], timestampNS)
	binary.LittleEndian.PutUint16(h[offTypeID:], typeID)
	binary.LittleEndian.PutUint16(h[offMsgFlags:], 0)
	binary.LittleEndian.PutUint32(h[offChecksum:], crc)
	// reserved (32..64) is never written, so it stays zero.
	if err := w.write(h); err != nil {
		return Position{}, w.fail(err)
	}
	for _, p := range parts {
		if err := w.write(p); err != nil {
			return Position{}, w.fail(err)
		}
	}
	if err := w.write(zeros[:n-HeaderSize-int64(size)]); err != nil {
		return Position{}, w.fail(err)
	}
	w.size += n
	w.seq++
	return pos, nil
}

// crcPad is how many zero bytes before an n-byte payload make it a
// multiple of 16 and at least 64 bytes long (at most HeaderSize).
func crcPad(n int) int {
	k := -n & 15
	for n+k < 64 {
		k += 16
	}
	return k
}

// crcUnzero[k] is the CRC-32 (IEEE) value that k zero bytes take to 0, the
// value an empty input has: crc32.Update(crcUnzero[k], crc32.IEEETable,
// zeros(k)+p) is crc32.ChecksumIEEE(p). Each zero byte maps the register
// r to r>>8 ^ T[r&0xff], which is invertible because the top bytes of the
// table's 256 entries are all different.
var crcUnzero = func() (u [HeaderSize + 1]uint32) {
	t := crc32.IEEETable
	var byTop [256]byte
	for i := range 256 {
		byTop[t[i]>>24] = byte(i)
	}
	r := ^uint32(0) // the register of the value 0
	for k := range u {
		u[k] = ^r
		i := byTop[r>>24]
		r = (r^t[i])<<8 | uint32(i)
	}
	return u
}()

// write buffers p, handing full buffers to the background goroutine.
func (w *Writer) write(p []byte) error {
	if len(w.buf)+len(p) <= cap(w.buf) {
		w.buf = append(w.buf, p...)
		return nil
	}
	for len(p) > 0 {
		if len(w.buf) == cap(w.buf) {
			if err := w.handOff(); err != nil {
				return err
			}
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
	}
	return nil
}

// handOff queues the buffer, if it holds anything, to be written, and
// takes an empty one. It returns the background goroutine's error, if any.
func (w *Writer) handOff() error {
	if err := w.bg.failed(); err != nil {
		return err
	}
	if len(w.buf) > 0 {
		w.bg.jobs <- w.buf // never blocks: the channel holds every buffer
		w.buf = nil
	}
	if w.buf == nil {
		w.buf = w.getBuf()
	}
	return nil
}

// getBuf returns an empty buffer: an idle one, a new one while fewer than
// writeBufs exist, or else the next one the background goroutine is done
// with.
func (w *Writer) getBuf() []byte {
	select {
	case b := <-w.free:
		return b
	default:
	}
	if w.nbuf < writeBufs {
		w.nbuf++
		return make([]byte, 0, writeBufSize)
	}
	return <-w.free
}

func writeFull(f vfs.File, p []byte) error {
	n, err := f.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// create starts segment w.id as a .tmp with an unsealed header.
func (w *Writer) create() error {
	if w.id > MaxID {
		return fmt.Errorf("segment: segment id %d is above MaxID %d", w.id, MaxID)
	}
	tmp := filepath.Join(w.dir, w.name(w.id)+sufTmp)
	f, err := w.fs.Create(tmp)
	if err != nil {
		return err
	}
	w.f, w.tmp, w.size = f, tmp, HeaderSize
	h := w.header(false)
	var (
		enc SegmentAppend
		out *countWriter
	)
	if w.codec != nil {
		out = &countWriter{f: f}
		if enc, err = w.codec.NewAppend(out); err != nil {
			return err
		}
	}
	// The hash covers the header as it will be once sealed.
	w.bg = startFlusher(f, w.free, w.header(true), enc, out)
	if w.buf == nil {
		w.buf = w.getBuf()
	}
	// flags stay 0 until the segment is sealed: a reader that somehow got
	// hold of a half-written file would refuse it.
	w.buf = append(w.buf[:0], h[:]...)
	return nil
}

// name is the file name segment id is published under.
func (w *Writer) name(id uint32) string {
	if w.codec != nil {
		return ColumnarName(id)
	}
	return Name(id)
}

// header returns the open segment's header, as sealed or as first written.
func (w *Writer) header(sealed bool) []byte {
	h := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint32(h[offMagic:], Magic)
	binary.LittleEndian.PutUint32(h[offVersion:], Version)
	binary.LittleEndian.PutUint32(h[offSegmentID:], w.id)
	if sealed {
		binary.LittleEndian.PutUint32(h[offSegFlags:], FlagSealed)
	}
	return h
}

// seal publishes the open segment.
func (w *Writer) seal() error {
	enc := w.bg.enc
	sum, err := w.stopFlusher(true)
	if err != nil {
		return err
	}
	// A .q gets SEALED in its header; a .q.col gets its file header, which
	// holds the sealed segment header and the .q's size.
	at, patch := int64(offSegFlags), binary.LittleEndian.AppendUint32(nil, FlagSealed)
	if enc != nil {
		if patch, err = enc.Finish(w.header(true), w.size); err != nil {
			return err
		}
		at = 0
	}
	if n, err := w.f.WriteAt(patch, at); err != nil || n != len(patch) {
		if err == nil {
			err = io.ErrShortWrite
		}
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	size := w.size
	if enc != nil {
		// The blocks were checked as they were encoded; check that the
		// file opens and its index covers the whole .q.
		st, err := w.f.Stat()
		if err != nil {
			return err
		}
		size = st.Size()
		if err := checkEncoded(w.codec, w.f, size, w.size, w.tmp); err != nil {
			return err
		}
	}
	f := w.f
	w.f = nil
	if err := f.Close(); err != nil {
		return err
	}
	name := w.name(w.id)
	if err := w.fs.RenameNoReplace(w.tmp, filepath.Join(w.dir, name)); err != nil {
		return err
	}
	// The segment exists from here on, complete and sealed, even if the
	// directory fsync below fails (then its name may not survive a crash).
	w.tmp = ""
	w.published = append(w.published, PublishedFile{ID: w.id, Name: name, Size: size, Blake3: sum, QSize: w.size})
	w.id++
	if err := w.fs.SyncDir(w.dir); err != nil {
		return err
	}
	if w.onSeal != nil {
		w.onSeal(w.published[len(w.published)-1])
	}
	return nil
}

// stopFlusher ends the open segment's background goroutine, after it has
// written the buffered bytes when write is set, and returns the hex blake3
// of the segment as sealed.
func (w *Writer) stopFlusher(write bool) (string, error) {
	bg := w.bg
	if bg == nil {
		return "", nil
	}
	w.bg = nil
	if write && len(w.buf) > 0 && bg.failed() == nil {
		bg.jobs <- w.buf
		w.buf = nil
	}
	close(bg.jobs)
	<-bg.done
	if bg.err != nil {
		return "", bg.err
	}
	if !write {
		return "", nil
	}
	if bg.off != w.size {
		// Cannot happen; but a hash of other bytes than the file's must
		// never be published.
		return "", fmt.Errorf("segment: internal error: wrote %d bytes of a %d-byte segment", bg.off, w.size)
	}
	if bg.enc != nil {
		return "", nil
	}
	return hex.EncodeToString(bg.hash.Sum(nil)), nil
}

// fail makes err sticky and removes the unpublished segment.
func (w *Writer) fail(err error) error {
	w.err = err
	w.discard()
	return err
}

func (w *Writer) discard() {
	w.stopFlusher(false)
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if w.tmp != "" {
		w.fs.Remove(w.tmp)
		w.tmp = ""
	}
	w.buf = w.buf[:0]
}

// Close publishes the open segment, if it holds any record, and returns
// the first error the writer met. Close after Close or Abort returns nil,
// or the earlier error.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if w.f != nil {
		if err := w.seal(); err != nil {
			return w.fail(err)
		}
	}
	return nil
}

// Abort closes and removes the segment being written. Segments already
// published stay.
func (w *Writer) Abort() {
	w.closed = true
	w.discard()
}

// Published returns the ids of the segments published so far, in order.
func (w *Writer) Published() []uint32 {
	ids := make([]uint32, len(w.published))
	for i, p := range w.published {
		ids[i] = p.ID
	}
	return ids
}

// PublishedFiles describes the segments published so far, in order, with
// the size and blake3 of each file as the writer wrote it.
func (w *Writer) PublishedFiles() []PublishedFile {
	return append([]PublishedFile(nil), w.published...)
}

// flusher writes one segment's buffers, in order, in its own goroutine,
// and hashes the bytes it wrote, with the header as it will be once sealed.
type flusher struct {
	f    vfs.File
	enc  SegmentAppend // when set, the bytes go to it instead of f
	out  *countWriter  // what enc writes to
	jobs chan []byte   // buffers to write, in file order
	free chan []byte   // where written buffers go back
	done chan struct{}

	mu  sync.Mutex
	err error // the first write error; then the rest is not written

	// Owned by the goroutine until done is closed.
	hash   *blake3.Hasher
	off    int64 // bytes written
	synced int64 // off when the syncer was last kicked

	// The syncer, for OS files only: test file systems count and fail
	// operations, which must not depend on goroutine timing.
	sync      func() error
	syncEvery int64
	kick      chan struct{}
	syncDone  chan struct{}
}

func startFlusher(f vfs.File, free chan []byte, sealedHeader []byte, enc SegmentAppend, out *countWriter) *flusher {
	b := &flusher{
		f: f, free: free, enc: enc, out: out,
		jobs: make(chan []byte, writeBufs),
		done: make(chan struct{}),
	}
	if enc == nil {
		b.hash = blake3.New()
		b.hash.Write(sealedHeader)
	}
	if of, ok := f.(*os.File); ok {
		fsync := fileSync
		b.sync, b.syncEvery = func() error { return fsync(of) }, syncEvery
		b.kick = make(chan struct{}, 1)
		b.syncDone = make(chan struct{})
		go b.runSyncer()
	}
	go b.run()
	return b
}

func (b *flusher) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *flusher) setErr(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

func (b *flusher) run() {
	defer close(b.done)
	for p := range b.jobs {
		if b.failed() == nil {
			if err := b.write(p); err != nil {
				b.setErr(err)
			}
		}
		b.free <- p[:0] // never blocks: the channel holds every buffer
	}
	if b.kick != nil {
		close(b.kick)
		<-b.syncDone
	}
}

func (b *flusher) write(p []byte) error {
	h := p
	if b.off == 0 {
		h = p[HeaderSize:] // the unsealed header; the sealed one is hashed
	}
	written := b.off + int64(len(p))
	if b.enc != nil {
		if _, err := b.enc.Write(h); err != nil {
			return err
		}
		written = b.out.n
	} else {
		if err := writeFull(b.f, p); err != nil {
			return err
		}
		b.hash.Write(h)
	}
	b.off += int64(len(p))
	if b.kick != nil && written-b.synced >= b.syncEvery {
		select {
		case b.kick <- struct{}{}:
		default: // a sync is pending: it will cover these bytes too
		}
		b.synced = written
	}
	return nil
}

// countWriter is the file an encoder writes, counting the bytes for the
// syncer.
type countWriter struct {
	f vfs.File
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	err := writeFull(c.f, p)
	if err == nil {
		c.n += int64(len(p))
	}
	return len(p), err
}

// runSyncer fsyncs the file each time it is kicked. Its errors are the
// segment's: an fsync error reported here may not be reported again to the
// fsync at seal, so it must fail the segment.
func (b *flusher) runSyncer() {
	defer close(b.syncDone)
	for range b.kick {
		if b.failed() == nil {
			if err := b.sync(); err != nil {
				b.setErr(err)
			}
		}
	}
}

// zeros is a source of padding and of zeroes to compare against.
var zeros [64 << 10]byte
