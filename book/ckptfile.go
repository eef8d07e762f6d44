package book

// Checkpoint file (docs/FORMAT.md, "Book checkpoints", has the byte tables):
//
//	0          32                                     index_offset        size-32   size
//	+----------+-----------+-----------+-----+--------+----------------------+---------+
//	| header   | record 0  | record 1  | ... | rec n-1| index: n × 48 bytes  | trailer |
//	+----------+-----------+-----------+-----+--------+----------------------+---------+
//
// Records are contiguous, each with its length and a CRC-32 (IEEE) of its
// body. The index, written last by a streaming writer, holds per checkpoint
// its record's place and the keys a reader searches (position, max
// timestamps), and has its own CRC in the fixed-size trailer. A reader reads
// the trailer and the index, then loads single records.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"

	"github.com/chronicle-archive/chronicle/protocol"
)

// Layout constants: part of the file format.
const (
	ckptMagic        = "CHRNCKPT"
	ckptTrailerMagic = "CHRNCKIX"
	ckptVersion      = 1
	ckptHeaderSize   = 32
	ckptTrailerSize  = 32
	ckptRecordFixed  = 160 // record bytes before the levels
	ckptEntrySize    = 48
	ckptFlagSnapshot = 1 // record flags bit 0: SnapshotSeen
)

// ErrCorruptCheckpointFile reports a checkpoint file that does not follow
// the format.
var ErrCorruptCheckpointFile = errors.New("book: corrupt checkpoint file")

func corrupt(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrCorruptCheckpointFile, off, fmt.Sprintf(format, args...))
}

// CheckpointInfo is one index entry: where a checkpoint's record is and the
// keys it is searched by.
type CheckpointInfo struct {
	RecordOffset  int64  // of the record in the checkpoint file
	RecordLen     uint32 // bytes
	SegmentID     uint32 // Checkpoint.SegmentID
	Offset        int64  // Checkpoint.Offset
	Seq           uint64 // Checkpoint.Seq
	MaxIngestTS   uint64 // Checkpoint.MaxIngestTS
	MaxExchangeTS uint64 // Checkpoint.MaxExchangeTS
}

func infoOf(cp *Checkpoint) CheckpointInfo {
	return CheckpointInfo{SegmentID: cp.SegmentID, Offset: cp.Offset, Seq: cp.Seq,
		MaxIngestTS: cp.MaxIngestTS, MaxExchangeTS: cp.MaxExchangeTS}
}

// follows reports whether entry e may come after p in an index: positions
// and max timestamps never decrease, which is what makes Find and
// FindPosition binary searches.
func (e *CheckpointInfo) follows(p *CheckpointInfo) bool {
	return posLE(p.SegmentID, p.Offset, e.SegmentID, e.Offset) &&
		p.MaxIngestTS <= e.MaxIngestTS && p.MaxExchangeTS <= e.MaxExchangeTS
}

func posLE(seg1 uint32, off1 int64, seg2 uint32, off2 int64) bool {
	return seg1 < seg2 || seg1 == seg2 && off1 <= off2
}

// CheckpointWriter streams checkpoints to a file: records as they are added,
// the index and trailer on Close. It keeps only the 48-byte index entries
// and one record buffer in memory.
type CheckpointWriter struct {
	w     io.Writer
	off   int64 // bytes written so far
	index []byte
	last  CheckpointInfo
	n     int
	buf   []byte
	err   error // sticky
}

// NewCheckpointWriter returns a writer of a checkpoint file to w. Nothing is
// written until the first Add or Close.
func NewCheckpointWriter(w io.Writer) *CheckpointWriter { return &CheckpointWriter{w: w} }

var errWriterClosed = errors.New("book: checkpoint writer closed")

func (w *CheckpointWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(p)
	w.off += int64(n)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	w.err = err
}

func (w *CheckpointWriter) header() {
	if w.off == 0 && w.err == nil {
		var h [ckptHeaderSize]byte
		copy(h[:], ckptMagic)
		binary.LittleEndian.PutUint16(h[8:], ckptVersion)
		binary.LittleEndian.PutUint16(h[10:], ckptHeaderSize)
		w.write(h[:])
	}
}

// Add appends cp. Checkpoints must come in replay order: SegmentID/Offset
// and MaxIngestTS/MaxExchangeTS must not decrease. An invalid checkpoint
// (see Checkpoint.Validate) or an order violation is an error that leaves the
// writer usable; a write error is sticky.
func (w *CheckpointWriter) Add(cp *Checkpoint) error {
	if w.err != nil {
		return w.err
	}
	if err := cp.Validate(); err != nil {
		return err
	}
	e := infoOf(cp)
	if w.n > 0 && !e.follows(&w.last) {
		return fmt.Errorf("book: checkpoint %d out of order: position (%d, %d) / max ts (%d, %d) after (%d, %d) / (%d, %d)",
			w.n, e.SegmentID, e.Offset, e.MaxIngestTS, e.MaxExchangeTS, w.last.SegmentID, w.last.Offset, w.last.MaxIngestTS, w.last.MaxExchangeTS)
	}
	n := uint64(ckptRecordFixed) + uint64(len(cp.Bids)+len(cp.Asks))*protocol.LevelSize
	if n > math.MaxUint32 {
		return fmt.Errorf("book: checkpoint %d too large (%d levels)", w.n, len(cp.Bids)+len(cp.Asks))
	}
	w.header()
	w.buf = appendRecord(w.buf[:0], cp)
	e.RecordOffset, e.RecordLen = w.off, uint32(n)
	w.write(w.buf)
	if w.err != nil {
		return w.err
	}
	w.index = appendEntry(w.index, &e)
	w.last = e
	w.n++
	return nil
}

// Close writes the index and the trailer. It does not close the underlying
// writer.
func (w *CheckpointWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	w.header()
	var t [ckptTrailerSize]byte
	binary.LittleEndian.PutUint64(t[0:], uint64(w.off))
	binary.LittleEndian.PutUint64(t[8:], uint64(w.n))
	binary.LittleEndian.PutUint32(t[16:], crc32.ChecksumIEEE(w.index))
	binary.LittleEndian.PutUint32(t[20:], crc32.ChecksumIEEE(t[:20]))
	copy(t[24:], ckptTrailerMagic)
	w.write(w.index)
	w.write(t[:])
	if w.err != nil {
		return w.err
	}
	w.err = errWriterClosed
	return nil
}

// WriteCheckpointFile writes cps as one checkpoint file.
func WriteCheckpointFile(w io.Writer, cps []Checkpoint) error {
	cw := NewCheckpointWriter(w)
	for i := range cps {
		if err := cw.Add(&cps[i]); err != nil {
			return err
		}
	}
	return cw.Close()
}

func appendRecord(b []byte, cp *Checkpoint) []byte {
	le := binary.LittleEndian
	n := ckptRecordFixed + (len(cp.Bids)+len(cp.Asks))*protocol.LevelSize
	b = le.AppendUint32(b, uint32(n))
	b = le.AppendUint32(b, 0) // CRC, filled below
	b = le.AppendUint32(b, cp.SegmentID)
	var flags uint8
	if cp.SnapshotSeen {
		flags |= ckptFlagSnapshot
	}
	b = append(b, flags, uint8(cp.LastType), cp.PriceScale, cp.SizeScale)
	b = le.AppendUint64(b, uint64(cp.Offset))
	for _, v := range [...]uint64{cp.Seq, cp.IngestTS, cp.ExchangeTS, cp.MaxIngestTS, cp.MaxExchangeTS} {
		b = le.AppendUint64(b, v)
	}
	for _, v := range statsFields(&cp.Stats) {
		b = le.AppendUint64(b, *v)
	}
	b = le.AppendUint32(b, uint32(len(cp.Bids)))
	b = le.AppendUint32(b, uint32(len(cp.Asks)))
	for _, lv := range [2][]protocol.Level{cp.Bids, cp.Asks} {
		for _, l := range lv {
			b = le.AppendUint64(b, l.Price)
			b = le.AppendUint64(b, l.Size)
		}
	}
	rec := b[len(b)-n:]
	le.PutUint32(rec[4:], crc32.ChecksumIEEE(rec[8:]))
	return b
}

// statsFields lists the Stats counters in file order.
func statsFields(s *Stats) [11]*uint64 {
	return [11]*uint64{&s.Events, &s.Snapshots, &s.Diffs, &s.LevelUpdates, &s.Resets,
		&s.AbsentRemovals, &s.SkippedBeforeSnapshot, &s.Gaps, &s.CrossedEvents,
		&s.FirstGapSeq, &s.FirstCrossedSeq}
}

func appendEntry(b []byte, e *CheckpointInfo) []byte {
	le := binary.LittleEndian
	b = le.AppendUint64(b, uint64(e.RecordOffset))
	b = le.AppendUint32(b, e.RecordLen)
	b = le.AppendUint32(b, e.SegmentID)
	b = le.AppendUint64(b, uint64(e.Offset))
	b = le.AppendUint64(b, e.Seq)
	b = le.AppendUint64(b, e.MaxIngestTS)
	return le.AppendUint64(b, e.MaxExchangeTS)
}

// CheckpointFile reads a checkpoint file: the index is in memory, records
// are read on Load. It is safe for concurrent use if r is.
type CheckpointFile struct {
	r       io.ReaderAt
	entries []CheckpointInfo
}

// OpenCheckpointFile reads and checks the header, trailer and index of the
// size-byte checkpoint file in r. Records are checked when loaded.
func OpenCheckpointFile(r io.ReaderAt, size int64) (*CheckpointFile, error) {
	if size < ckptHeaderSize+ckptTrailerSize {
		return nil, corrupt(0, "file is %d bytes, shorter than header and trailer", size)
	}
	var h [ckptHeaderSize]byte
	if err := readFull(r, h[:], 0); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch {
	case string(h[:8]) != ckptMagic:
		return nil, corrupt(0, "bad magic %q", h[:8])
	case le.Uint16(h[8:]) != ckptVersion:
		return nil, corrupt(8, "version %d, want %d", le.Uint16(h[8:]), ckptVersion)
	case le.Uint16(h[10:]) != ckptHeaderSize:
		return nil, corrupt(10, "header_len %d, want %d", le.Uint16(h[10:]), ckptHeaderSize)
	case !allZero(h[12:]):
		return nil, corrupt(12, "nonzero header flags/reserved")
	}
	toff := size - ckptTrailerSize
	var t [ckptTrailerSize]byte
	if err := readFull(r, t[:], toff); err != nil {
		return nil, err
	}
	switch {
	case string(t[24:]) != ckptTrailerMagic:
		return nil, corrupt(toff+24, "bad trailer magic %q", t[24:])
	case le.Uint32(t[20:]) != crc32.ChecksumIEEE(t[:20]):
		return nil, corrupt(toff+20, "trailer CRC mismatch")
	}
	ioff, count := le.Uint64(t[0:]), le.Uint64(t[8:])
	// Everything between the header and the trailer is records then index.
	if ioff < ckptHeaderSize || ioff > uint64(toff) || count > (uint64(toff)-ioff)/ckptEntrySize ||
		ioff+count*ckptEntrySize != uint64(toff) {
		return nil, corrupt(toff, "index_offset %d and count %d do not fit a %d-byte file", ioff, count, size)
	}
	idx := make([]byte, count*ckptEntrySize)
	if err := readFull(r, idx, int64(ioff)); err != nil {
		return nil, err
	}
	if crc32.ChecksumIEEE(idx) != le.Uint32(t[16:]) {
		return nil, corrupt(int64(ioff), "index CRC mismatch")
	}
	f := &CheckpointFile{r: r, entries: make([]CheckpointInfo, count)}
	next := int64(ckptHeaderSize) // records are contiguous from the header on
	for i := range f.entries {
		b := idx[i*ckptEntrySize:]
		e := &f.entries[i]
		*e = CheckpointInfo{
			RecordOffset: int64(le.Uint64(b[0:])), RecordLen: le.Uint32(b[8:]),
			SegmentID: le.Uint32(b[12:]), Offset: int64(le.Uint64(b[16:])), Seq: le.Uint64(b[24:]),
			MaxIngestTS: le.Uint64(b[32:]), MaxExchangeTS: le.Uint64(b[40:]),
		}
		at := int64(ioff) + int64(i*ckptEntrySize)
		if e.RecordOffset != next || e.RecordLen < ckptRecordFixed || (e.RecordLen-ckptRecordFixed)%protocol.LevelSize != 0 {
			return nil, corrupt(at, "entry %d: record at %d, %d bytes; want a record at %d", i, e.RecordOffset, e.RecordLen, next)
		}
		next += int64(e.RecordLen)
		if next > int64(ioff) {
			return nil, corrupt(at, "entry %d: record runs past the index", i)
		}
		if i > 0 && !e.follows(&f.entries[i-1]) {
			return nil, corrupt(at, "entry %d out of order", i)
		}
	}
	if next != int64(ioff) {
		return nil, corrupt(next, "%d bytes between the last record and the index", int64(ioff)-next)
	}
	return f, nil
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil // io.ReaderAt may return io.EOF with a full read
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("book: reading checkpoint file at offset %d: %w", off, err)
}

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// Len returns the number of checkpoints.
func (f *CheckpointFile) Len() int { return len(f.entries) }

// Info returns index entry i without reading its record.
func (f *CheckpointFile) Info(i int) CheckpointInfo { return f.entries[i] }

// Find returns the last checkpoint whose MaxIngestTS (exchangeTime false) or
// MaxExchangeTS (exchangeTime true) is <= ts: the latest state in which no
// applied event is later than ts, so replaying on from it up to ts misses
// nothing. ok is false when no checkpoint qualifies. (With timestamps that
// never decrease, the max is the last applied event's timestamp.)
func (f *CheckpointFile) Find(ts uint64, exchangeTime bool) (i int, ok bool) {
	i = sort.Search(len(f.entries), func(i int) bool {
		if exchangeTime {
			return f.entries[i].MaxExchangeTS > ts
		}
		return f.entries[i].MaxIngestTS > ts
	}) - 1
	return i, i >= 0
}

// FindPosition returns the last checkpoint whose (SegmentID, Offset) is at
// or before (segmentID, offset).
func (f *CheckpointFile) FindPosition(segmentID uint32, offset int64) (i int, ok bool) {
	i = sort.Search(len(f.entries), func(i int) bool {
		e := &f.entries[i]
		return !posLE(e.SegmentID, e.Offset, segmentID, offset)
	}) - 1
	return i, i >= 0
}

// Load reads checkpoint i into dst, reusing dst.Bids and dst.Asks. It checks
// the record's CRC, that it agrees with its index entry, and that the state
// is valid (Checkpoint.Validate); on error dst's contents are unspecified.
func (f *CheckpointFile) Load(i int, dst *Checkpoint) error {
	if i < 0 || i >= len(f.entries) {
		return fmt.Errorf("book: checkpoint %d out of range [0, %d)", i, len(f.entries))
	}
	e := &f.entries[i]
	rec := make([]byte, e.RecordLen)
	if err := readFull(f.r, rec, e.RecordOffset); err != nil {
		return err
	}
	le := binary.LittleEndian
	at := e.RecordOffset
	if n := le.Uint32(rec[0:]); n != e.RecordLen {
		return corrupt(at, "record_len %d, index says %d", n, e.RecordLen)
	}
	if le.Uint32(rec[4:]) != crc32.ChecksumIEEE(rec[8:]) {
		return corrupt(at+4, "record CRC mismatch")
	}
	flags := rec[12]
	if flags&^ckptFlagSnapshot != 0 {
		return corrupt(at+12, "unknown record flags %#x", flags)
	}
	bids, asks := dst.Bids[:0], dst.Asks[:0]
	*dst = Checkpoint{
		SegmentID:    le.Uint32(rec[8:]),
		SnapshotSeen: flags&ckptFlagSnapshot != 0,
		LastType:     protocol.EventType(rec[13]),
		PriceScale:   rec[14], SizeScale: rec[15],
		Offset:     int64(le.Uint64(rec[16:])),
		Seq:        le.Uint64(rec[24:]),
		IngestTS:   le.Uint64(rec[32:]),
		ExchangeTS: le.Uint64(rec[40:]), MaxIngestTS: le.Uint64(rec[48:]), MaxExchangeTS: le.Uint64(rec[56:]),
	}
	for k, v := range statsFields(&dst.Stats) {
		*v = le.Uint64(rec[64+8*k:])
	}
	nb, na := uint64(le.Uint32(rec[152:])), uint64(le.Uint32(rec[156:]))
	if ckptRecordFixed+(nb+na)*protocol.LevelSize != uint64(e.RecordLen) {
		return corrupt(at+152, "%d bids + %d asks do not fill a %d-byte record", nb, na, e.RecordLen)
	}
	if got := infoOf(dst); got.SegmentID != e.SegmentID || got.Offset != e.Offset || got.Seq != e.Seq ||
		got.MaxIngestTS != e.MaxIngestTS || got.MaxExchangeTS != e.MaxExchangeTS {
		return corrupt(at, "record disagrees with its index entry")
	}
	lv := rec[ckptRecordFixed:]
	dst.Bids = decodeLevels(bids, lv[:nb*protocol.LevelSize])
	dst.Asks = decodeLevels(asks, lv[nb*protocol.LevelSize:])
	if err := dst.Validate(); err != nil {
		return fmt.Errorf("%w: record at offset %d: %w", ErrCorruptCheckpointFile, at, err)
	}
	return nil
}

func decodeLevels(dst []protocol.Level, b []byte) []protocol.Level {
	for ; len(b) >= protocol.LevelSize; b = b[protocol.LevelSize:] {
		dst = append(dst, protocol.Level{Price: binary.LittleEndian.Uint64(b), Size: binary.LittleEndian.Uint64(b[8:])})
	}
	return dst
}

// FileName is the name of a stream's checkpoint file in its directory.
const FileName = "checkpoints.ckpt"
