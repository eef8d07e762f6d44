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
	s := &streamer{w: w, r: r, size: size, verify: verify}
	var h [HeaderSize]byte
	b := append(h[:0], Magic...)
	b = le.AppendUint16(b, Version)
	b = le.AppendUint16(b, HeaderSize)
	b = le.AppendUint32(b, MaxBlockLen)
	b = le.AppendUint64(b, uint64(size))
	b = le.AppendUint64(b, 0)
	if err := s.readAt(h[32:], 0); err != nil {
		return err
	}
	if err := s.write(h[:]); err != nil {
		return err
	}
	crc := crc32.Checksum(h[:], castagnoli)

	// The same cuts as Encode's: there the window is the whole q, here
	// [off, off+MaxBlockLen) of it, which holds every record a block may
	// take, so recordLen breaks at the same record in both.
	off := int64(SegHeaderSize)
	for off < size {
		q, err := s.window(off, min(MaxBlockLen, size-off))
		if err != nil {
			return err
		}
		end := 0
		recs := s.enc.recs[:0]
		for {
			n := recordLen(q, end)
			if n == 0 {
				break
			}
			recs = append(recs, int(off)+end)
			end += n
		}
		s.enc.recs = recs
		if len(recs) > 0 {
			var bi BlockInfo
			s.out, bi = s.enc.recordsBlock(s.out[:0], q[:end], recs, int(off))
			if err := s.emit(bi, q[:end]); err != nil {
				return err
			}
			off += int64(end)
			continue
		}
		// No whole record fits: a record longer than a block, or the tail.
		n := int64(0)
		if len(q) >= SegHeaderSize {
			c := int64(le.Uint32(q))
			if c > 0 {
				n = SegHeaderSize + (c-1+SegHeaderSize-1)&^(SegHeaderSize-1)
			}
		}
		if n == 0 || n > size-off {
			n = size - off // the tail: zeros, or whatever follows the data
		}
		if err := s.raw(off, off+n); err != nil {
			return err
		}
		off += n
	}

	// The index and trailer, as Encode appends them.
	ix := s.out[:0]
	for _, b := range s.index {
		ix = le.AppendUint64(ix, uint64(b.QOffset))
		ix = le.AppendUint32(ix, uint32(b.QLen))
		ix = le.AppendUint32(ix, uint32(b.CompLen))
		ix = le.AppendUint64(ix, uint64(b.CompOffset))
		ix = le.AppendUint64(ix, b.FirstSeq)
		ix = le.AppendUint64(ix, b.FirstTS)
		ix = le.AppendUint64(ix, b.LastTS)
		ix = le.AppendUint32(ix, uint32(b.Records))
		ix = le.AppendUint32(ix, b.CRC)
	}
	crc = crc32.Update(crc, castagnoli, ix)
	ix = le.AppendUint64(ix, uint64(s.comp))
	ix = le.AppendUint32(ix, uint32(len(s.index)))
	ix = le.AppendUint32(ix, crc)
	ix = append(ix, TrailerMagic...)
	s.out = ix
	return s.write(ix)
}

// streamer is EncodeTo's state: one window of .q bytes, one encoded block.
type streamer struct {
	w      io.Writer
	r      io.ReaderAt
	size   int64
	verify bool
	comp   int64 // bytes written so far
	enc    encoder
	dec    decoder
	win    []byte
	out    []byte
	check  []byte
	index  []BlockInfo
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

// window reads n bytes of the .q at off into the reused window buffer.
func (s *streamer) window(off, n int64) ([]byte, error) {
	if int64(cap(s.win)) < n {
		s.win = make([]byte, n, max(n, min(MaxBlockLen, s.size)))
	}
	q := s.win[:n]
	return q, s.readAt(q, off)
}

func (s *streamer) write(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("columnar: writing at offset %d: %w", s.comp, err)
	}
	s.comp += int64(len(b))
	return nil
}

// raw writes the .q bytes [off, end) as raw blocks.
func (s *streamer) raw(off, end int64) error {
	for off < end {
		n := min(MaxBlockLen, end-off)
		q, err := s.window(off, n)
		if err != nil {
			return err
		}
		s.out = s.enc.rawBlock(s.out[:0], q)
		if err := s.emit(BlockInfo{QOffset: off, QLen: int(n)}, q); err != nil {
			return err
		}
		off += n
	}
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
	s.index = append(s.index, b)
	return s.write(s.out)
}
