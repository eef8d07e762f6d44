package segment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"unsafe"
)

// source yields the uncompressed bytes of one segment as a series of
// blocks: file reads for a .q, decoded zstd frames for a .q.zst.
type source interface {
	// start positions the source: the next block returned is the one
	// holding uncompressed offset off.
	start(off int64) error
	// next returns the next block and its uncompressed offset.
	next() (b []byte, off int64, err error)
	// release hands a block back once the scanner is done with it.
	release(b []byte)
	// stop ends any read-ahead; blocks handed out before become invalid.
	stop()
}

// scanner parses the records of one segment in place from a window over
// the source's blocks. A record that straddles blocks is stitched into a
// scratch buffer, so only straddling records are copied.
//
// Errors: a *CorruptionError for damage; anything else is I/O. Record-level
// damage that leaves the framing intact (checksum, padding, header fields
// other than commit_len, seq) is "soft": the scanner steps over the record
// and can go on, which VerifyStream does. Damage to the framing is fatal:
// dead is set and every later call returns it.
type scanner struct {
	src  source
	path string
	id   uint32
	size int64 // uncompressed segment size

	pos      int64  // next byte to parse
	win      []byte // window; win[0] is at winOff
	winOff   int64
	stitched bool   // win is stitch rather than a block of src
	held     []byte // with stitched: the block the window continues into
	heldOff  int64
	stitch   []byte

	// noCRC: the window is a block whose records' checksums need no
	// comparing (colSource.crcFree: a .q.col block decoded for records,
	// whose CRC-32C vouches for the payloads; its predicted records'
	// checksum fields are 0). Every other check stays. Never for a
	// stitched window, nor for the rest of a held block: a record
	// straddles blocks only in raw blocks, which are exact bytes, or when
	// the scan is off the decoder's record boundaries.
	noCRC bool

	// seq expectation; ignored while !seqKnown.
	seqKnown bool
	nextSeq  uint64

	dead  error
	probs []*CorruptionError // every problem of the last soft error
}

// reset points the scanner at a new segment, forgetting any blocks of the
// previous source without releasing them (the source is stopped anyway).
func (s *scanner) reset(src source, path string, id uint32, size int64) {
	s.src, s.path, s.id, s.size = src, path, id, size
	s.pos, s.win, s.winOff, s.stitched, s.held = 0, nil, 0, false, nil
	s.noCRC = false
	s.dead = nil
	s.probs = s.probs[:0]
}

// drop hands the blocks the scanner holds back to the source.
func (s *scanner) drop() {
	if s.win != nil && !s.stitched {
		s.src.release(s.win)
	}
	if s.held != nil {
		s.src.release(s.held)
	}
	s.win, s.held, s.stitched, s.noCRC = nil, nil, false, false
}

// seek restarts the source at off.
func (s *scanner) seek(off int64) error {
	s.drop()
	s.pos, s.win, s.winOff, s.stitched, s.held = off, nil, off, false, nil
	s.dead = nil
	return s.src.start(off)
}

// ensure returns the n bytes at pos; pos+n must not exceed size.
func (s *scanner) ensure(n int) ([]byte, error) {
	rel := int(s.pos - s.winOff)
	if rel+n <= len(s.win) {
		return s.win[rel : rel+n], nil
	}
	return s.fill(n)
}

func (s *scanner) fill(n int) ([]byte, error) {
	rel := int(s.pos - s.winOff)
	if rel >= len(s.win) {
		// The window is used up: move to the held block or the next one.
		if s.stitched && s.held != nil {
			s.win, s.winOff, s.held = s.held, s.heldOff, nil
			s.noCRC = false
		} else {
			if !s.stitched && s.win != nil {
				s.src.release(s.win)
			}
			s.win = nil
			b, off, err := s.src.next()
			if err != nil {
				return nil, err
			}
			s.win, s.winOff = b, off
			s.noCRC = false
			if cs, ok := s.src.(*colSource); ok {
				s.noCRC = cs.crcFree()
			}
		}
		s.stitched = false
		rel = int(s.pos - s.winOff)
		if rel < 0 || rel > len(s.win) {
			return nil, fmt.Errorf("segment %s: internal error: block at %d (%d bytes) does not hold offset %d", s.path, s.winOff, len(s.win), s.pos)
		}
		if rel+n <= len(s.win) {
			return s.win[rel : rel+n], nil
		}
	}
	// Stitch: the tail of the window, then bytes from the following blocks.
	tail := s.win[rel:]
	if s.stitched {
		s.stitch = s.stitch[:copy(s.stitch, tail)]
	} else {
		s.stitch = append(s.stitch[:0], tail...)
		s.src.release(s.win)
	}
	s.win = nil
	for len(s.stitch) < n {
		if s.held == nil {
			b, off, err := s.src.next()
			if err != nil {
				return nil, err
			}
			s.held, s.heldOff = b, off
		}
		k := int(s.pos + int64(len(s.stitch)) - s.heldOff)
		if k < 0 || k > len(s.held) {
			return nil, fmt.Errorf("segment %s: internal error: block at %d does not continue offset %d", s.path, s.heldOff, s.pos+int64(len(s.stitch)))
		}
		take := min(n-len(s.stitch), len(s.held)-k)
		s.stitch = append(s.stitch, s.held[k:k+take]...)
		if k+take == len(s.held) {
			s.src.release(s.held)
			s.held = nil
		}
	}
	s.win, s.winOff, s.stitched, s.noCRC = s.stitch, s.pos, true, false
	return s.win[:n], nil
}

// corrupt builds a CorruptionError for this segment.
func (s *scanner) corrupt(off int64, kind error, format string, args ...any) *CorruptionError {
	return &CorruptionError{Path: s.path, Offset: off, Err: detailf(kind, format, args...)}
}

func (s *scanner) fatal(ce *CorruptionError) error {
	s.probs = s.probs[:0]
	s.dead = ce
	return ce
}

// header checks the segment header and leaves pos at the first record.
// Bad magic or version is fatal; the other fields are soft.
func (s *scanner) header() error {
	s.probs = s.probs[:0]
	if s.size < HeaderSize {
		return s.fatal(s.corrupt(0, ErrTruncated, "%d bytes, shorter than the %d-byte segment header", s.size, HeaderSize))
	}
	h, err := s.ensure(HeaderSize)
	if err != nil {
		return s.fatalIO(err)
	}
	err = s.headerBytes(h)
	if s.dead == nil {
		s.pos = HeaderSize
	}
	return err
}

// headerBytes checks segment header h (read elsewhere), as header does,
// without moving pos.
func (s *scanner) headerBytes(h []byte) error {
	var fatal bool
	s.probs, fatal = headerProblems(s.probs[:0], h, s.path, s.id)
	if fatal {
		return s.fatal(s.probs[0])
	}
	if len(s.probs) > 0 {
		return s.probs[0]
	}
	return nil
}

// skip moves pos forward to off, within the window if it holds off (no
// re-read), else by seeking.
func (s *scanner) skip(off int64) error {
	if !s.stitched && off >= s.pos && off <= s.winOff+int64(len(s.win)) {
		s.pos = off
		return nil
	}
	return s.seek(off)
}

// fatalIO marks the scanner dead on a source error. Source errors are
// corruption (a bad frame) or I/O; either way the segment cannot go on.
func (s *scanner) fatalIO(err error) error {
	s.probs = s.probs[:0]
	s.dead = err
	return err
}

// next parses the record at pos. It returns io.EOF at the end of the
// segment. On a soft error it returns the record (with the damage) and the
// first problem; s.probs lists them all.
func (s *scanner) next() (Record, error) {
	var rec Record
	err := s.read(&rec)
	return rec, err
}

// read is next filling *rec, which is left alone when there is no record
// (io.EOF, fatal damage). Readers call it once per record: it saves copying
// a Record through every level of the call chain.
//
// Its fast path takes a record that lies whole in the window, the common
// case (one in thousands straddles a block), with one bounds check of the
// window instead of a call to ensure for the header and another for the
// record; check then checks it exactly as the slow path does.
func (s *scanner) read(rec *Record) error {
	if s.dead != nil {
		return s.dead
	}
	rel := s.pos - s.winOff
	if rem := s.size - s.pos; rem >= HeaderSize && rel >= 0 && rel+HeaderSize <= int64(len(s.win)) {
		if commit := binary.LittleEndian.Uint32(s.win[rel:]); commit != 0 {
			plen := int64(commit) - 1
			if n := recordLen(plen); n <= rem && n <= int64(len(s.win))-rel {
				return s.check(rec, s.win[rel:rel+n], plen)
			}
		}
	}
	return s.readSlow(rec)
}

// readSlow is read for a record that straddles blocks, the end of the
// segment, and damage to the framing.
func (s *scanner) readSlow(rec *Record) error {
	rem := s.size - s.pos
	if rem == 0 {
		return io.EOF
	}
	if rem < HeaderSize {
		return s.fatal(s.corrupt(s.pos, ErrTruncated, "%d bytes left, too few for a message header", rem))
	}
	h, err := s.ensure(HeaderSize)
	if err != nil {
		return s.fatalIO(err)
	}
	le := binary.LittleEndian
	commit := le.Uint32(h[offCommitLen:])
	if commit == 0 {
		return s.zeroTail()
	}
	plen := int64(commit) - 1
	n := recordLen(plen)
	if n > rem {
		// In a .q.zst a damaged index shows up as truncation; the frame
		// that disagrees with it, if any, is the better report.
		at := s.pos
		if _, ok := s.src.(*zstSource); ok {
			if err := s.readRest(); err != nil {
				return s.fatalIO(err)
			}
		}
		return s.fatal(s.corrupt(at, ErrTruncated, "commit_len %d: record of %d bytes runs past the end of the segment at %d", commit, n, s.size))
	}
	b, err := s.ensure(int(n))
	if err != nil {
		return s.fatalIO(err)
	}
	return s.check(rec, b, plen)
}

// check fills *rec from the record b (recordLen(plen) bytes at pos, its
// framing read), checks it and moves pos past it.
func (s *scanner) check(rec *Record, b []byte, plen int64) error {
	le := binary.LittleEndian
	n := int64(len(b))
	h := b[:HeaderSize:HeaderSize]
	payload := b[HeaderSize : HeaderSize+plen : HeaderSize+plen]
	// Field by field: a composite literal is built on the stack and copied,
	// and the copy's wide loads stall on the narrow stores before them.
	rec.SegmentID, rec.Offset = s.id, s.pos
	rec.Seq, rec.Timestamp = le.Uint64(h[offSeq:]), le.Uint64(h[offTimestamp:])
	rec.TypeID, rec.Flags = le.Uint16(h[offTypeID:]), le.Uint16(h[offMsgFlags:])
	rec.Payload = payload
	// One branch for all the must-be-zero header fields.
	zero := uint64(le.Uint32(h[offPad:])) | uint64(rec.Flags) |
		le.Uint64(h[offMsgReserved:]) | le.Uint64(h[offMsgReserved+8:]) |
		le.Uint64(h[offMsgReserved+16:]) | le.Uint64(h[offMsgReserved+24:])
	// The padding into zero too, without a branch: it is the last pad
	// (< 64) bytes of the record's last 64, which padMask[pad:] selects.
	// A loop by words mispredicts its exit on every other record (the
	// padding's length varies), and bytes.Equal's call costs more still.
	t := b[n-HeaderSize : n : n]
	m := padMask[n-HeaderSize-plen:]
	m = m[:HeaderSize:HeaderSize]
	zero |= le.Uint64(t[0:])&le.Uint64(m[0:]) | le.Uint64(t[8:])&le.Uint64(m[8:]) |
		le.Uint64(t[16:])&le.Uint64(m[16:]) | le.Uint64(t[24:])&le.Uint64(m[24:]) |
		le.Uint64(t[32:])&le.Uint64(m[32:]) | le.Uint64(t[40:])&le.Uint64(m[40:]) |
		le.Uint64(t[48:])&le.Uint64(m[48:]) | le.Uint64(t[56:])&le.Uint64(m[56:])
	// payloadCRC by hand: b holds the whole record (HeaderSize+plen bytes
	// and more), and the call of a function around the assembly costs.
	// Not in a noCRC window: it was a fifth of a replay's CPU.
	var crcBad bool
	if !s.noCRC {
		var crc uint32
		if hasCLMUL && plen <= crcInPlace {
			crc = clmulRecord(unsafe.SliceData(b), int(plen))
		} else {
			crc = crc32.ChecksumIEEE(payload)
		}
		crcBad = crc != le.Uint32(h[offChecksum:])
	}
	var soft error
	if zero != 0 || crcBad ||
		(s.seqKnown && rec.Seq != s.nextSeq && rec.TypeID != TypePad) {
		soft = s.diagnose(rec, b)
	}
	// PAD records do not take part in the seq check: the format does not
	// say whether they consume a seq.
	s.seqKnown = rec.TypeID != TypePad
	s.nextSeq = rec.Seq + 1
	s.pos += n
	return soft
}

// padMask is HeaderSize zero bytes, then HeaderSize of 0xff: its
// HeaderSize bytes from pad mark the last pad bytes of a 64-byte block.
var padMask = func() (m [2 * HeaderSize]byte) {
	for i := HeaderSize; i < len(m); i++ {
		m[i] = 0xff
	}
	return
}()

// diagnose lists every problem of a record whose fast check failed.
func (s *scanner) diagnose(rec *Record, b []byte) error {
	s.probs = s.probs[:0]
	le := binary.LittleEndian
	h := b[:HeaderSize]
	add := func(kind error, format string, args ...any) {
		ce := s.corrupt(rec.Offset, kind, format, args...)
		ce.Seq, ce.HasSeq = rec.Seq, true
		s.probs = append(s.probs, ce)
	}
	if v := le.Uint32(h[offPad:]); v != 0 {
		add(ErrHeader, "message header pad %#x, want 0", v)
	}
	if rec.Flags != 0 {
		add(ErrHeader, "message flags %#04x, want 0", rec.Flags)
	}
	if i := firstNonZero(h[offMsgReserved:]); i >= 0 {
		add(ErrHeader, "message header reserved byte %d is %#02x", offMsgReserved+i, h[offMsgReserved+i])
	}
	if want, got := le.Uint32(h[offChecksum:]), crc32.ChecksumIEEE(rec.Payload); want != got && !s.noCRC {
		add(ErrChecksum, "header %#08x payload %#08x", want, got)
	}
	pad := b[HeaderSize+len(rec.Payload):]
	if i := firstNonZero(pad); i >= 0 {
		add(ErrPadding, "byte %#02x at offset %d", pad[i], rec.Offset+int64(HeaderSize+len(rec.Payload)+i))
	}
	if s.seqKnown && rec.Seq != s.nextSeq && rec.TypeID != TypePad {
		add(ErrSequence, "seq %d, want %d", rec.Seq, s.nextSeq)
	}
	if len(s.probs) == 0 {
		return nil
	}
	return s.probs[0]
}

// zeroTail checks that everything from pos (a commit_len of 0) to the end
// of the segment is zero, and returns io.EOF if so.
func (s *scanner) zeroTail() error {
	start := s.pos
	for s.pos < s.size {
		if _, err := s.ensure(1); err != nil {
			return s.fatalIO(err)
		}
		w := s.win[s.pos-s.winOff:]
		if rem := s.size - s.pos; int64(len(w)) > rem {
			w = w[:rem]
		}
		if i := firstNonZero(w); i >= 0 {
			return s.fatal(s.corrupt(s.pos+int64(i), ErrTrailingData, "byte %#02x after the end of data (commit_len 0 at offset %d)", w[i], start))
		}
		s.pos += int64(len(w))
	}
	return io.EOF
}

// readRest fetches every remaining block, for the errors fetching finds.
// It leaves pos at the end.
func (s *scanner) readRest() error {
	for s.pos < s.size {
		if _, err := s.ensure(1); err != nil {
			return err
		}
		s.pos += min(int64(len(s.win))-(s.pos-s.winOff), s.size-s.pos)
	}
	return nil
}

// firstNonZero returns the index of the first non-zero byte of b, or -1.
func firstNonZero(b []byte) int {
	for off := 0; off < len(b); off += len(zeros) {
		c := b[off:min(off+len(zeros), len(b))]
		if bytes.Equal(c, zeros[:len(c)]) {
			continue
		}
		for i, v := range c {
			if v != 0 {
				return off + i
			}
		}
	}
	return -1
}

// headerProblems appends the problems of segment header h to probs; fatal
// means h is not a version 1 segment header at all.
func headerProblems(probs []*CorruptionError, h []byte, path string, id uint32) ([]*CorruptionError, bool) {
	bad := func(kind error, format string, args ...any) {
		probs = append(probs, &CorruptionError{Path: path, Err: detailf(kind, format, args...)})
	}
	le := binary.LittleEndian
	if m := le.Uint32(h[offMagic:]); m != Magic {
		bad(ErrMagic, "magic %#08x, want %#08x", m, Magic)
		return probs, true
	}
	if v := le.Uint32(h[offVersion:]); v != Version {
		bad(ErrHeader, "version %d, want %d", v, Version)
		return probs, true
	}
	if got := le.Uint32(h[offSegmentID:]); got != id {
		bad(ErrHeader, "segment_id %d, but the file name says %d", got, id)
	}
	flags := le.Uint32(h[offSegFlags:])
	if flags&^FlagSealed != 0 {
		bad(ErrHeader, "unknown flags %#x", flags)
	}
	if flags&FlagSealed == 0 {
		bad(ErrNotSealed, "flags %#x lack SEALED", flags)
	}
	if i := firstNonZero(h[offSegReserved:HeaderSize]); i >= 0 {
		bad(ErrHeader, "reserved byte %d is %#02x", offSegReserved+i, h[offSegReserved+i])
	}
	return probs, false
}
