package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/vfs"
)

// writeBufSize is how much the writer buffers before a write syscall.
const writeBufSize = 1 << 20

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
}

// Writer appends records to a stream directory, one segment at a time.
//
// A segment is written as NNNNNNNNN.q.tmp and published as NNNNNNNNN.q only
// when complete: flushed, SEALED set, fsynced, closed, renamed without
// replacing anything, and the directory fsynced. A crash or an error
// therefore leaves at most a .tmp, which readers ignore, never a torn .q.
// The bytes written depend only on the options and the appends.
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
	buf  []byte   // bytes not yet written to f

	hdr       [HeaderSize]byte
	published []uint32
	err       error // sticky: the first failure
	closed    bool
}

// NewWriter returns a writer for the existing directory dir. It does no
// I/O: the first segment is created by the first Append.
func NewWriter(dir string, opts WriterOptions) (*Writer, error) {
	w := &Writer{fs: opts.FS, dir: dir, segSize: opts.SegmentSize, id: opts.FirstID, seq: opts.FirstSeq}
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
	return w, nil
}

// Append writes a record and returns where it starts. The record is
// buffered; it is durable and visible only once its segment is published
// (on roll or Close). After an error the writer is unusable: the error is
// returned again by every call, and the unpublished segment is removed.
func (w *Writer) Append(typeID uint16, timestampNS uint64, payload []byte) (Position, error) {
	if w.err != nil {
		return Position{}, w.err
	}
	if w.closed {
		return Position{}, ErrClosed
	}
	if uint64(len(payload)) > MaxPayloadSize {
		// A usage error: the writer stays usable.
		return Position{}, fmt.Errorf("segment: payload of %d bytes exceeds MaxPayloadSize", len(payload))
	}
	n := recordLen(int64(len(payload)))
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
	binary.LittleEndian.PutUint32(h[offCommitLen:], uint32(len(payload))+1)
	binary.LittleEndian.PutUint32(h[offPad:], 0)
	binary.LittleEndian.PutUint64(h[offSeq:], w.seq)
	binary.LittleEndian.PutUint64(h[offTimestamp:], timestampNS)
	binary.LittleEndian.PutUint16(h[offTypeID:], typeID)
	binary.LittleEndian.PutUint16(h[offMsgFlags:], 0)
	binary.LittleEndian.PutUint32(h[offChecksum:], crc32.ChecksumIEEE(payload))
	// reserved (32..64) is never written, so it stays zero.
	if err := w.write(h); err != nil {
		return Position{}, w.fail(err)
	}
	if err := w.write(payload); err != nil {
		return Position{}, w.fail(err)
	}
	if err := w.write(zeros[:n-HeaderSize-int64(len(payload))]); err != nil {
		return Position{}, w.fail(err)
	}
	w.size += n
	w.seq++
	return pos, nil
}

// write buffers p, writing the buffer out when it fills. Payloads larger
// than the buffer go straight to the file rather than through it.
func (w *Writer) write(p []byte) error {
	if len(w.buf)+len(p) > cap(w.buf) {
		if err := w.flush(); err != nil {
			return err
		}
		if len(p) > cap(w.buf) {
			return writeFull(w.f, p)
		}
	}
	w.buf = append(w.buf, p...)
	return nil
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := writeFull(w.f, w.buf)
	w.buf = w.buf[:0]
	return err
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
	if w.buf == nil {
		w.buf = make([]byte, 0, writeBufSize)
	}
	tmp := filepath.Join(w.dir, Name(w.id)+sufTmp)
	f, err := w.fs.Create(tmp)
	if err != nil {
		return err
	}
	w.f, w.tmp, w.size = f, tmp, HeaderSize
	var h [HeaderSize]byte
	binary.LittleEndian.PutUint32(h[offMagic:], Magic)
	binary.LittleEndian.PutUint32(h[offVersion:], Version)
	binary.LittleEndian.PutUint32(h[offSegmentID:], w.id)
	// flags stay 0 until the segment is sealed: a reader that somehow got
	// hold of a half-written file would refuse it.
	w.buf = append(w.buf[:0], h[:]...)
	return nil
}

// seal publishes the open segment.
func (w *Writer) seal() error {
	if err := w.flush(); err != nil {
		return err
	}
	var flags [4]byte
	binary.LittleEndian.PutUint32(flags[:], FlagSealed)
	if n, err := w.f.WriteAt(flags[:], offSegFlags); err != nil || n != len(flags) {
		if err == nil {
			err = io.ErrShortWrite
		}
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	f := w.f
	w.f = nil
	if err := f.Close(); err != nil {
		return err
	}
	if err := w.fs.RenameNoReplace(w.tmp, filepath.Join(w.dir, Name(w.id))); err != nil {
		return err
	}
	// The .q exists from here on, complete and sealed, even if the
	// directory fsync below fails (then its name may not survive a crash).
	w.tmp = ""
	w.published = append(w.published, w.id)
	w.id++
	return w.fs.SyncDir(w.dir)
}

// fail makes err sticky and removes the unpublished segment.
func (w *Writer) fail(err error) error {
	w.err = err
	w.discard()
	return err
}

func (w *Writer) discard() {
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
	return append([]uint32(nil), w.published...)
}

// zeros is a source of padding and of zeroes to compare against.
var zeros [64 << 10]byte
