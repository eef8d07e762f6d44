// Package columnar is the record-aware compressed form of a sealed segment
// file (docs/FORMAT.md, "Columnar segments", specifies it byte for byte). Encode cuts a .q into
// blocks at record boundaries, recomputes on decode every field the import
// writes predictably (commit_len, seq, CRC-32, record_len, ids, padding),
// stores the rest as zstd-compressed columns, and keeps any record that
// deviates from a prediction verbatim. Decoding restores the exact .q bytes.
//
// A block index at the end of the file gives each block's .q offset range,
// first seq and timestamps, so that one block can be decoded alone.
package columnar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Format constants (docs/FORMAT.md, "Columnar segments").
const (
	// Magic starts the file; TrailerMagic ends it.
	Magic        = "CHRCOL01"
	TrailerMagic = "CHRCOLIX"
	Version      = 1
	// HeaderSize: the file header, with the segment header verbatim in it.
	HeaderSize = 96
	// SegHeaderSize is the size of the .q segment header and of a message
	// header.
	SegHeaderSize = 64
	// IndexEntrySize is the size of one block index entry.
	IndexEntrySize = 56
	// TrailerSize is the size of the trailer at the end of the file.
	TrailerSize = 24
	// MaxBlockLen is the most .q bytes one block restores. Records blocks
	// stop before a record that would cross it; a longer record, and the
	// bytes after the last record, go to raw blocks of at most this size.
	MaxBlockLen = 1 << 20
	// maxColumnsLen bounds the decompressed columns of one block, so that a
	// damaged file cannot make the decoder allocate more.
	maxColumnsLen = 4 * MaxBlockLen
)

// Block kinds (the first byte of a block).
const (
	kindRecords = 1
	kindRaw     = 2
)

// ErrCorrupt is wrapped by every error about a damaged or malformed file.
var ErrCorrupt = errors.New("columnar: corrupt file")

// ErrInput is wrapped by Encode's errors about its input.
var ErrInput = errors.New("columnar: input is not a segment file")

var (
	le         = binary.LittleEndian
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// BlockInfo is one block index entry.
type BlockInfo struct {
	QOffset    int64  // offset in the .q of the first byte it restores
	QLen       int    // .q bytes it restores, at most MaxBlockLen
	CompOffset int64  // offset of the block in the compressed file
	CompLen    int    // its length in the compressed file
	FirstSeq   uint64 // seq of its first record (0 for a raw block)
	FirstTS    uint64 // message header timestamp_ns of its first record (0 for a raw block)
	LastTS     uint64 // that of its last record (0 for a raw block)
	Records    int    // whole records in it; 0 for a raw block
	CRC        uint32 // CRC-32C of its compressed bytes
}

// CorruptError is damage at Offset of the compressed file, so that a
// caller (package colseg) can report the place without parsing text. It
// wraps ErrCorrupt.
type CorruptError struct {
	Offset int64
	msg    string
}

func (e *CorruptError) Error() string { return e.msg }
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corrupt(off int64, format string, args ...any) error {
	return &CorruptError{Offset: off, msg: fmt.Sprintf("%v at offset %d: %s", ErrCorrupt, off, fmt.Sprintf(format, args...))}
}

// recordLen returns the length of the record at q[off:] (message header,
// payload, padding to 64), or 0 when no record fits there: the data ends
// (commit_len 0, the end of the file, or a record running past it).
func recordLen(q []byte, off int) int {
	if len(q)-off < SegHeaderSize {
		return 0
	}
	c := uint64(le.Uint32(q[off:]))
	if c == 0 {
		return 0
	}
	n := SegHeaderSize + (c-1+SegHeaderSize-1)&^(SegHeaderSize-1)
	if n > uint64(len(q)-off) {
		return 0
	}
	return int(n)
}

// Encode appends the compressed form of the segment file q to dst. Any q
// of at least 64 bytes is accepted and restored exactly; only what follows
// the import's layout is compressed well.
func Encode(dst, q []byte) ([]byte, error) {
	if len(q) < SegHeaderSize {
		return dst, fmt.Errorf("%w: %d bytes, shorter than the 64-byte segment header", ErrInput, len(q))
	}
	base := len(dst)
	dst = append(dst, Magic...)
	dst = le.AppendUint16(dst, Version)
	dst = le.AppendUint16(dst, HeaderSize)
	dst = le.AppendUint32(dst, MaxBlockLen)
	dst = le.AppendUint64(dst, uint64(len(q)))
	dst = le.AppendUint64(dst, 0)
	dst = append(dst, q[:SegHeaderSize]...)

	enc := &encoder{}
	var index []BlockInfo
	emit := func(b BlockInfo, start int) {
		b.CompOffset = int64(start - base)
		b.CompLen = len(dst) - start
		b.CRC = crc32.Checksum(dst[start:], castagnoli)
		index = append(index, b)
	}
	raw := func(off, end int) {
		for ; off < end; off += MaxBlockLen {
			n := min(MaxBlockLen, end-off)
			start := len(dst)
			dst = enc.rawBlock(dst, q[off:off+n])
			emit(BlockInfo{QOffset: int64(off), QLen: n}, start)
		}
	}
	off := SegHeaderSize
	for off < len(q) {
		end := off
		recs := enc.recs[:0]
		for {
			n := recordLen(q, end)
			if n == 0 || end+n-off > MaxBlockLen {
				break
			}
			recs = append(recs, end)
			end += n
		}
		enc.recs = recs
		if len(recs) > 0 {
			start := len(dst)
			var b BlockInfo
			dst, b = enc.recordsBlock(dst, q[off:end], recs, off)
			emit(b, start)
			off = end
			continue
		}
		if n := recordLen(q, off); n > 0 {
			raw(off, off+n) // a record longer than a block
			off += n
			continue
		}
		raw(off, len(q)) // the tail: zeros, or whatever follows the data
		off = len(q)
	}

	indexOff := len(dst) - base
	dst = appendIndex(dst, index)
	crc := crc32.Checksum(dst[base:base+HeaderSize], castagnoli)
	crc = crc32.Update(crc, castagnoli, dst[base+indexOff:])
	dst = le.AppendUint64(dst, uint64(indexOff))
	dst = le.AppendUint32(dst, uint32(len(index)))
	dst = le.AppendUint32(dst, crc)
	dst = append(dst, TrailerMagic...)
	return dst, nil
}

// File is an open compressed segment: its header and block index, read and
// checked by Open. DecodeBlock reuses the File's buffers and is not safe
// for concurrent use; DecodeRecords, each caller with its own Decoder, is
// (given an r whose ReadAt is, as io.ReaderAt's contract says).
type File struct {
	r      io.ReaderAt
	size   int64
	qLen   int64
	seg    [SegHeaderSize]byte
	blocks []BlockInfo
	own    Decoder // DecodeBlock's
}

// Open reads and checks the header, index and trailer of the compressed
// file r of size bytes: magic, version, checksum, and that the blocks
// restore the .q from offset 64 to its end, contiguously, from contiguous
// compressed ranges.
func Open(r io.ReaderAt, size int64) (*File, error) {
	if size < HeaderSize+TrailerSize {
		return nil, corrupt(0, "%d bytes, too short for header and trailer", size)
	}
	var h [HeaderSize]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("columnar: reading the header: %w", err)
	}
	var t [TrailerSize]byte
	if _, err := r.ReadAt(t[:], size-TrailerSize); err != nil {
		return nil, fmt.Errorf("columnar: reading the trailer: %w", err)
	}
	if string(t[16:]) != TrailerMagic {
		return nil, corrupt(size-8, "bad trailer magic %q", t[16:])
	}
	indexOff, count := le.Uint64(t[0:]), uint64(le.Uint32(t[8:]))
	indexEnd := uint64(size - TrailerSize)
	if indexOff < HeaderSize || indexOff > indexEnd || (indexEnd-indexOff) != count*IndexEntrySize {
		return nil, corrupt(size-TrailerSize, "index at %d with %d entries does not end at the trailer", indexOff, count)
	}
	idx := make([]byte, indexEnd-indexOff)
	if _, err := r.ReadAt(idx, int64(indexOff)); err != nil {
		return nil, fmt.Errorf("columnar: reading the index: %w", err)
	}
	crc := crc32.Update(crc32.Checksum(h[:], castagnoli), castagnoli, idx)
	if want := le.Uint32(t[12:]); crc != want {
		return nil, corrupt(size-TrailerSize+12, "header and index CRC-32C %#08x, trailer says %#08x", crc, want)
	}
	if string(h[:8]) != Magic {
		return nil, corrupt(0, "bad magic %q", h[:8])
	}
	if v := le.Uint16(h[8:]); v != Version {
		return nil, corrupt(8, "version %d, want %d", v, Version)
	}
	if hl := le.Uint16(h[10:]); hl != HeaderSize {
		return nil, corrupt(10, "header_len %d, want %d", hl, HeaderSize)
	}
	if bl := le.Uint32(h[12:]); bl != MaxBlockLen {
		return nil, corrupt(12, "max_block_len %d, want %d", bl, MaxBlockLen)
	}
	f := &File{r: r, size: size, qLen: int64(le.Uint64(h[16:])), blocks: make([]BlockInfo, count)}
	if le.Uint64(h[24:]) != 0 {
		return nil, corrupt(24, "nonzero reserved bytes")
	}
	copy(f.seg[:], h[32:])
	qOff, cOff := int64(SegHeaderSize), int64(HeaderSize)
	for i := range f.blocks {
		e := idx[i*IndexEntrySize:]
		at := int64(indexOff) + int64(i*IndexEntrySize)
		b := BlockInfo{
			QOffset: int64(le.Uint64(e[0:])), QLen: int(le.Uint32(e[8:])), CompLen: int(le.Uint32(e[12:])),
			CompOffset: int64(le.Uint64(e[16:])), FirstSeq: le.Uint64(e[24:]), FirstTS: le.Uint64(e[32:]),
			LastTS: le.Uint64(e[40:]), Records: int(le.Uint32(e[48:])), CRC: le.Uint32(e[52:]),
		}
		if b.QOffset != qOff || b.QLen == 0 || b.QLen > MaxBlockLen || b.CompOffset != cOff || b.CompLen == 0 ||
			b.CompLen > int(indexOff)-int(cOff) || b.Records > b.QLen/SegHeaderSize {
			return nil, corrupt(at, "index entry %d: .q %d+%d, compressed %d+%d, %d records: not contiguous or out of bounds",
				i, b.QOffset, b.QLen, b.CompOffset, b.CompLen, b.Records)
		}
		qOff += int64(b.QLen)
		cOff += int64(b.CompLen)
		f.blocks[i] = b
	}
	if qOff != f.qLen || cOff != int64(indexOff) {
		return nil, corrupt(int64(indexOff), "blocks restore .q bytes up to %d of %d and end at %d, index at %d", qOff, f.qLen, cOff, indexOff)
	}
	return f, nil
}

// QLen is the length of the .q file the compressed file restores.
func (f *File) QLen() int64 { return f.qLen }

// SegmentHeader returns the 64-byte segment header of the .q.
func (f *File) SegmentHeader() []byte { return f.seg[:] }

// Blocks returns the block index (not to be modified).
func (f *File) Blocks() []BlockInfo { return f.blocks }

// DecodeBlock appends to dst the .q bytes of block i: the bytes
// [QOffset, QOffset+QLen) of the .q, exactly. It uses the File's own
// Decoder: calls must not overlap.
func (f *File) DecodeBlock(i int, dst []byte) ([]byte, error) {
	return f.own.decode(f, i, dst, false)
}

// DecodeRecords is DecodeBlock for a reader of the records rather than
// of the .q bytes, with the buffers of d: goroutines that each have a
// Decoder may decode blocks of one File at once. When crcFree is reported, every record of the
// block is as DecodeBlock restores it except that the checksum field of
// each predicted record is 0 instead of the CRC-32 of its payload: that
// CRC is 7-10% of the decoder's work and protects nothing here, as
// the block's CRC-32C, checked before decoding, covers the columns the
// payload is rebuilt from (the CRC would be computed from the rebuilt
// payload, so it cannot catch a decoder's mistake either). The block's
// records are then also known to be framed (each one's commit_len gives
// its length, the last ending at the block's end) and every verbatim
// record's checksum to match its payload, so a reader may skip comparing
// checksums in it. Otherwise (a verbatim record that is not so: damage
// the reader must report as it would in the .q) the block is decoded
// again exactly, and crcFree is false; so it is for a raw block.
func (f *File) DecodeRecords(d *Decoder, i int, dst []byte) (out []byte, crcFree bool, err error) {
	base := len(dst)
	out, err = d.decode(f, i, dst, true)
	if err != nil || !d.dec.inexact {
		return out, err == nil && f.blocks[i].Records > 0, err
	}
	out, err = d.decode(f, i, out[:base], false)
	return out, false, err
}

// A Decoder holds the buffers of block decoding, reused from block to
// block; one goroutine uses it at a time. The zero value is ready.
type Decoder struct {
	dec  decoder
	comp []byte
}

func (d *Decoder) decode(f *File, i int, dst []byte, noCRC bool) ([]byte, error) {
	if i < 0 || i >= len(f.blocks) {
		return dst, fmt.Errorf("columnar: block %d of %d", i, len(f.blocks))
	}
	b := &f.blocks[i]
	if cap(d.comp) < b.CompLen {
		d.comp = make([]byte, b.CompLen)
	}
	comp := d.comp[:b.CompLen]
	if _, err := f.r.ReadAt(comp, b.CompOffset); err != nil {
		return dst, fmt.Errorf("columnar: reading block %d at offset %d: %w", i, b.CompOffset, err)
	}
	if crc := crc32.Checksum(comp, castagnoli); crc != b.CRC {
		return dst, corrupt(b.CompOffset, "block %d: CRC-32C %#08x, index says %#08x", i, crc, b.CRC)
	}
	d.dec.noCRC, d.dec.inexact = noCRC, false
	out, err := d.dec.block(dst, comp, b)
	if err != nil {
		return dst, corrupt(b.CompOffset, "block %d: %v", i, err)
	}
	return out, nil
}

// Decode appends to dst the whole .q file that the compressed file r of
// size bytes restores.
func Decode(dst []byte, r io.ReaderAt, size int64) ([]byte, error) {
	f, err := Open(r, size)
	if err != nil {
		return dst, err
	}
	if int64(cap(dst)-len(dst)) < f.qLen {
		nd := make([]byte, len(dst), int64(len(dst))+f.qLen)
		copy(nd, dst)
		dst = nd
	}
	dst = append(dst, f.seg[:]...)
	for i := range f.blocks {
		if dst, err = f.DecodeBlock(i, dst); err != nil {
			return dst, err
		}
	}
	return dst, nil
}
