package columnar

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// EncodeTo writes to w the compressed form of the segment file r of size
// bytes: exactly the bytes Encode(nil, q) returns for that q, but read and
// written one block at a time, so that memory is O(MaxBlockLen) plus the
// block index whatever the segment's size. The file header needs only
// size and the first 64 bytes, both known for a sealed segment before any
// block is encoded.
//
// When verify is set each block is decoded again, from the bytes about to
// be written, and compared with the .q bytes it restores before it is
// written: the caller may then remove the .q without a second pass.
func EncodeTo(w io.Writer, r io.ReaderAt, size int64, verify bool) error {
	if size < SegHeaderSize {
		return fmt.Errorf("%w: %d bytes, shorter than the 64-byte segment header", ErrInput, size)
	}
	var seg [SegHeaderSize]byte
	a := &Appender{s: streamer{w: w, r: r, size: size, verify: verify}, off: SegHeaderSize}
	if err := a.s.readAt(seg[:], 0); err != nil {
		return err
	}
	// Here the header is known before the blocks: it is written first.
	if err := a.s.write(fileHeader(seg[:], size)); err != nil {
		return err
	}
	for at := int64(SegHeaderSize); at < size; {
		n := int(min(MaxBlockLen, size-at))
		k := len(a.buf)
		a.buf = grow(a.buf, n)
		if err := a.s.readAt(a.buf[k:k+n], at); err != nil {
			return err
		}
		at += int64(n)
		if err := a.drain(false); err != nil {
			return err
		}
	}
	_, err := a.finish(seg[:], size)
	return err
}

// An Appender encodes a segment file from its bytes as they are written,
// so that the .q need never be written at all: an import with --compress
// hands it the bytes its segment writer would have written. It writes
// exactly what EncodeTo writes for the same .q, except the first
// HeaderSize bytes, which it can only know at the end (the .q's size):
// it writes zeros there, and Finish returns the header for the caller to
// write over them. Every block is decoded again and compared with the
// bytes it restores before it is written (EncodeTo's verify).
//
// Memory is about two blocks of .q bytes, whatever the segment's size.
type Appender struct {
	s   streamer
	buf []byte // the .q bytes [off, off+len(buf)) not yet encoded
	off int64
	// raw is how many bytes are left of a record longer than a block, which
	// goes to raw blocks; -1 from the tail on, which is raw to the end.
	raw int64
	err error
}

// NewAppender returns an Appender writing to w.
func NewAppender(w io.Writer) (*Appender, error) {
	a := &Appender{s: streamer{w: w, verify: true}, off: SegHeaderSize}
	if err := a.s.write(make([]byte, HeaderSize)); err != nil {
		return nil, err
	}
	return a, nil
}

// Write takes the next bytes of the .q after its 64-byte segment header.
// It encodes each block as soon as a block's worth has come.
func (a *Appender) Write(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	a.buf = append(a.buf, p...)
	if a.err = a.drain(false); a.err != nil {
		return 0, a.err
	}
	return len(p), nil
}

// Finish encodes the bytes left, given the .q's segment header (as sealed)
// and its size, writes the block index and trailer, and returns the file
// header, which belongs at offset 0 of what was written.
func (a *Appender) Finish(segHeader []byte, size int64) ([]byte, error) {
	if a.err != nil {
		return nil, a.err
	}
	if len(segHeader) != SegHeaderSize || a.off+int64(len(a.buf)) != size {
		return nil, fmt.Errorf("columnar: Finish of a %d-byte segment after %d bytes, with a %d-byte header", size, a.off+int64(len(a.buf)), len(segHeader))
	}
	a.s.size = size
	return a.finish(segHeader, size)
}

func (a *Appender) finish(segHeader []byte, size int64) ([]byte, error) {
	if err := a.drain(true); err != nil {
		return nil, err
	}
	h := fileHeader(segHeader, size)
	return h, a.s.index(h)
}

// grow extends b by n bytes (their contents undefined).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// fileHeader returns the file header of a .q of size bytes whose segment
// header is seg.
func fileHeader(seg []byte, size int64) []byte {
	b := make([]byte, 0, HeaderSize)
	b = append(b, Magic...)
	b = le.AppendUint16(b, Version)
	b = le.AppendUint16(b, HeaderSize)
	b = le.AppendUint32(b, MaxBlockLen)
	b = le.AppendUint64(b, uint64(size))
	b = le.AppendUint64(b, 0)
	return append(b, seg...)
}

// drain encodes blocks from the front of a.buf: while a whole window of
// MaxBlockLen bytes is there, or, when final, until none is left. The cuts
// are Encode's: there the window is the whole q, here [off,
// off+MaxBlockLen) of it, which holds every record a block may take, so
// recordLen breaks at the same record in both.
func (a *Appender) drain(final bool) error {
	done := 0
	for {
		q := a.buf[done:]
		if len(q) == 0 || !final && len(q) < MaxBlockLen {
			break
		}
		n, err := a.block(q[:min(len(q), MaxBlockLen)])
		if err != nil {
			return err
		}
		done += n
		a.off += int64(n)
	}
	a.buf = a.buf[:copy(a.buf, a.buf[done:])]
	return nil
}

// block encodes one block from the front of window q, the .q bytes at
// a.off, and returns how many bytes it restores.
func (a *Appender) block(q []byte) (int, error) {
	if a.raw == 0 {
		end := 0
		recs := a.s.enc.recs[:0]
		for {
			n := recordLen(q, end)
			if n == 0 {
				break
			}
			recs = append(recs, int(a.off)+end)
			end += n
		}
		a.s.enc.recs = recs
		if len(recs) > 0 {
			var bi BlockInfo
			a.s.out, bi = a.s.enc.recordsBlock(a.s.out[:0], q[:end], recs, int(a.off))
			return end, a.s.emit(bi, q[:end])
		}
		// No whole record fits: a record longer than a block, or the tail
		// (zeros, or whatever follows the data). A record that runs past
		// the end of the file is cut into the same raw blocks as a tail.
		a.raw = -1
		if len(q) >= SegHeaderSize {
			if c := int64(le.Uint32(q)); c > 0 {
				a.raw = SegHeaderSize + (c-1+SegHeaderSize-1)&^(SegHeaderSize-1)
			}
		}
	}
	n := len(q)
	if a.raw > 0 {
		n = int(min(a.raw, int64(n)))
		a.raw -= int64(n)
	}
	a.s.out = a.s.enc.rawBlock(a.s.out[:0], q[:n])
	return n, a.s.emit(BlockInfo{QOffset: a.off, QLen: n}, q[:n])
}

// appendIndex appends the block index entries of blocks.
func appendIndex(dst []byte, blocks []BlockInfo) []byte {
	for _, b := range blocks {
		dst = le.AppendUint64(dst, uint64(b.QOffset))
		dst = le.AppendUint32(dst, uint32(b.QLen))
		dst = le.AppendUint32(dst, uint32(b.CompLen))
		dst = le.AppendUint64(dst, uint64(b.CompOffset))
		dst = le.AppendUint64(dst, b.FirstSeq)
		dst = le.AppendUint64(dst, b.FirstTS)
		dst = le.AppendUint64(dst, b.LastTS)
		dst = le.AppendUint32(dst, uint32(b.Records))
		dst = le.AppendUint32(dst, b.CRC)
	}
	return dst
}

// streamer is the encoding state: one encoded block, the block index.
type streamer struct {
	w      io.Writer
	r      io.ReaderAt
	size   int64
	verify bool
	comp   int64 // bytes written so far
	enc    encoder
	dec    decoder
	out    []byte
	check  []byte
	blocks []BlockInfo
}

func (s *streamer) readAt(b []byte, off int64) error {
	n, err := s.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("columnar: reading .q bytes %d+%d of %d: %w", off, len(b), s.size, err)
}

func (s *streamer) write(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("columnar: writing at offset %d: %w", s.comp, err)
	}
	s.comp += int64(len(b))
	return nil
}

// emit writes the encoded block s.out, which restores q, and indexes it.
func (s *streamer) emit(b BlockInfo, q []byte) error {
	b.CompOffset = s.comp
	b.CompLen = len(s.out)
	b.CRC = crc32.Checksum(s.out, castagnoli)
	if s.verify {
		var err error
		s.check, err = s.dec.block(s.check[:0], s.out, &b)
		if err != nil || string(s.check) != string(q) {
			return fmt.Errorf("columnar: round trip of the block of .q bytes %d+%d failed (%v)", b.QOffset, b.QLen, err)
		}
	}
	s.blocks = append(s.blocks, b)
	return s.write(s.out)
}

// index writes the block index and the trailer, as Encode appends them,
// for a file whose header is h.
func (s *streamer) index(h []byte) error {
	ix := appendIndex(s.out[:0], s.blocks)
	crc := crc32.Checksum(h, castagnoli)
	crc = crc32.Update(crc, castagnoli, ix)
	ix = le.AppendUint64(ix, uint64(s.comp))
	ix = le.AppendUint32(ix, uint32(len(s.blocks)))
	ix = le.AppendUint32(ix, crc)
	ix = append(ix, TrailerMagic...)
	s.out = ix
	return s.write(ix)
}
