package segment

import (
	"encoding/binary"
	"sort"
)

// Index layout (see the package comment).
const (
	indexMagic      = "QZSTIDX1"
	indexVersion    = 1
	IndexHeaderSize = 24
	IndexEntrySize  = 24
	// DefaultBlockSize is the reference compression block size.
	DefaultBlockSize = 1 << 20
	// MaxBlockSize bounds block_size, so that a damaged index cannot make a
	// reader allocate gigabytes: one frame per default-sized segment.
	MaxBlockSize = DefaultSegmentSize
)

// Index is a parsed .q.zst.idx.
type Index struct {
	BlockSize uint32
	Entries   []IndexEntry
}

// IndexEntry locates one zstd frame.
type IndexEntry struct {
	UncompressedOffset uint64
	CompressedOffset   uint64
	CompressedSize     uint32
	UncompressedSize   uint32
}

// ParseIndex parses an index strictly: magic "QZSTIDX1", version 1,
// header_len 24, block_size in 1..MaxBlockSize, at least one frame,
// frame_count matching the length, offsets contiguous from 0, no empty
// frame, and every frame but the last holding exactly block_size bytes.
// Errors are *CorruptionError with the offset in the index (and no Path).
func ParseIndex(b []byte) (*Index, error) {
	bad := func(off int, format string, args ...any) (*Index, error) {
		return nil, &CorruptionError{Offset: int64(off), Err: detailf(ErrIndex, format, args...)}
	}
	le := binary.LittleEndian
	if len(b) < IndexHeaderSize {
		return bad(0, "%d bytes, shorter than the %d-byte header", len(b), IndexHeaderSize)
	}
	if string(b[:8]) != indexMagic {
		return bad(0, "magic %q, want %q", b[:8], indexMagic)
	}
	if v := le.Uint16(b[8:]); v != indexVersion {
		return bad(8, "version %d, want %d", v, indexVersion)
	}
	if hl := le.Uint16(b[10:]); hl != IndexHeaderSize {
		return bad(10, "header_len %d, want %d", hl, IndexHeaderSize)
	}
	bs := le.Uint32(b[12:])
	if bs == 0 || bs > MaxBlockSize {
		return bad(12, "block_size %d, want 1..%d", bs, MaxBlockSize)
	}
	n := le.Uint64(b[16:])
	have := uint64(len(b)-IndexHeaderSize) / IndexEntrySize
	if n == 0 || n != have || (len(b)-IndexHeaderSize)%IndexEntrySize != 0 {
		return bad(16, "frame_count %d, but %d bytes of entries follow", n, len(b)-IndexHeaderSize)
	}
	ix := &Index{BlockSize: bs, Entries: make([]IndexEntry, n)}
	var uo, co uint64
	for i := range ix.Entries {
		off := IndexHeaderSize + i*IndexEntrySize
		e := IndexEntry{
			UncompressedOffset: le.Uint64(b[off:]),
			CompressedOffset:   le.Uint64(b[off+8:]),
			CompressedSize:     le.Uint32(b[off+16:]),
			UncompressedSize:   le.Uint32(b[off+20:]),
		}
		switch {
		case e.UncompressedOffset != uo:
			return bad(off, "frame %d: uncompressed_offset %d, want %d", i, e.UncompressedOffset, uo)
		case e.CompressedOffset != co:
			return bad(off+8, "frame %d: compressed_offset %d, want %d", i, e.CompressedOffset, co)
		case e.CompressedSize == 0:
			return bad(off+16, "frame %d: compressed_size 0", i)
		case e.UncompressedSize == 0 || e.UncompressedSize > bs:
			return bad(off+20, "frame %d: uncompressed_size %d, want 1..block_size %d", i, e.UncompressedSize, bs)
		case i < len(ix.Entries)-1 && e.UncompressedSize != bs:
			return bad(off+20, "frame %d of %d: uncompressed_size %d, want block_size %d", i, n, e.UncompressedSize, bs)
		}
		ix.Entries[i] = e
		uo += uint64(e.UncompressedSize)
		co += uint64(e.CompressedSize)
	}
	return ix, nil
}

// Append appends the encoded index to dst.
func (ix *Index) Append(dst []byte) []byte {
	le := binary.LittleEndian
	dst = append(dst, indexMagic...)
	dst = le.AppendUint16(dst, indexVersion)
	dst = le.AppendUint16(dst, IndexHeaderSize)
	dst = le.AppendUint32(dst, ix.BlockSize)
	dst = le.AppendUint64(dst, uint64(len(ix.Entries)))
	for _, e := range ix.Entries {
		dst = le.AppendUint64(dst, e.UncompressedOffset)
		dst = le.AppendUint64(dst, e.CompressedOffset)
		dst = le.AppendUint32(dst, e.CompressedSize)
		dst = le.AppendUint32(dst, e.UncompressedSize)
	}
	return dst
}

// UncompressedSize is the size of the .q the index describes.
func (ix *Index) UncompressedSize() int64 {
	if len(ix.Entries) == 0 {
		return 0
	}
	e := ix.Entries[len(ix.Entries)-1]
	return int64(e.UncompressedOffset) + int64(e.UncompressedSize)
}

// CompressedSize is the size the .q.zst must have.
func (ix *Index) CompressedSize() int64 {
	if len(ix.Entries) == 0 {
		return 0
	}
	e := ix.Entries[len(ix.Entries)-1]
	return int64(e.CompressedOffset) + int64(e.CompressedSize)
}

// Find returns the index of the frame holding uncompressed offset off, or
// len(ix.Entries) when off is at or past the end.
func (ix *Index) Find(off int64) int {
	return sort.Search(len(ix.Entries), func(i int) bool {
		e := ix.Entries[i]
		return int64(e.UncompressedOffset)+int64(e.UncompressedSize) > off
	})
}
