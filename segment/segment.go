// Package segment frames opaque payloads into Chronicle segment files, and
// reads, compresses and verifies them, byte for byte as docs/FORMAT.md
// specifies the format. It knows nothing about what a payload means: the
// type_id is carried, not interpreted (package protocol owns the ids).
//
// A stream directory holds segments named by a 9-digit zero-padded id:
//
//	000000000.q          sealed segment
//	000000001.q.zst      compressed sealed segment (it replaced 000000001.q)
//	000000001.q.zst.idx  its block index
//	000000001.q.col      or: compressed by a BlockCodec (see codec.go)
//	000000002.q.tmp      being written; readers ignore *.tmp
//	meta.json            not ours; ignored
//
// Ids are contiguous; a gap is corruption.
//
// # Segment file
//
// All integers are little-endian. A 64-byte segment header, then records,
// each a 64-byte message header and its payload, zero-padded so that the
// next record starts at a multiple of 64:
//
//	0        4         8            12       16                       64
//	+--------+---------+------------+--------+------------------------+
//	| magic  | version | segment_id | flags  | reserved (zero)        |
//	+--------+---------+------------+--------+------------------------+
//	| message header | payload ...                 | zero padding    |  record 0
//	+----------------+-----------------------------+-----------------+
//	| message header | payload | zero padding                        |  record 1
//	+----------------+---------+-------------------------------------+
//	| zero tail (optional)                                           |
//	+----------------------------------------------------------------+
//
// magic is 0x53454730 ("SEG0" as a u32), version 1, segment_id the number in
// the file name, flags bit 0 SEALED (no more records will be added; readers
// only accept sealed segments: a segment being written is still a .tmp).
//
// Message header:
//
//	0            4      8      16             24        26      28      32          64
//	+------------+------+------+--------------+---------+-------+-------+-----------+
//	| commit_len | pad  | seq  | timestamp_ns | type_id | flags | crc32 | reserved  |
//	+------------+------+------+--------------+---------+-------+-------+-----------+
//
// commit_len is the payload length + 1; 0 marks the end of the data, and
// everything after it to the end of the file must be zero (the reference
// preallocates segments and leaves a zero tail; this package's Writer ends a
// sealed file right after its last record, and readers accept both). pad,
// flags and reserved are zero. crc32 is CRC-32 IEEE (the zlib polynomial) of
// the payload bytes only: seq, timestamp_ns and type_id are not covered by
// any checksum, so seq is checked for contiguity instead, and timestamp_ns
// and type_id can only be checked by the caller against the payload (see
// VerifyStream). type_id 0xFFFF is a PAD record, which readers skip. A
// record never crosses into the next segment.
//
// # Compressed segment
//
// CompressSegment cuts a sealed .q into blocks of block_size bytes (the last
// may be shorter) and compresses each as its own zstd frame; the frames are
// concatenated into NNNNNNNNN.q.zst, so `zstd -dc` restores the .q. The
// index NNNNNNNNN.q.zst.idx has a 24-byte header and one 24-byte entry per
// frame:
//
//	header: 0 "QZSTIDX1" | 8 version u16 = 1 | 10 header_len u16 = 24 |
//	        12 block_size u32 | 16 frame_count u64
//	entry:  0 uncompressed_offset u64 | 8 compressed_offset u64 |
//	        16 compressed_size u32 | 20 uncompressed_size u32
//
// Offsets are contiguous from 0 and every frame but the last holds exactly
// block_size bytes. Readers prefer NNNNNNNNN.q when both forms exist. Record
// offsets (Position, Record.Offset, Seek) are always offsets in the
// uncompressed .q, whichever form is on disk.
//
// A .q.col is the form a BlockCodec (plugged in by the caller) writes and
// reads; readers prefer .q, then .q.zst, then .q.col.
//
// Every constant and layout in this package is part of the on-disk format.
package segment

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Wire-format constants.
const (
	// HeaderSize is the size of the segment header and of a message header.
	HeaderSize = 64
	// Magic is the segment header magic, "SEG0" read as a little-endian u32.
	Magic = 0x53454730
	// Version is the segment format version this package reads and writes.
	Version = 1
	// FlagSealed is segment header flags bit 0.
	FlagSealed = 1
	// TypePad is the type_id of a PAD record, which readers skip.
	TypePad = 0xFFFF
)

// Limits.
const (
	// MaxID is the largest segment id: names have exactly nine digits.
	MaxID = 999_999_999
	// MaxPayloadSize is the largest payload commit_len (a u32 holding
	// length+1) can describe.
	MaxPayloadSize = math.MaxUint32 - 1
	// DefaultSegmentSize is the reference segment size.
	DefaultSegmentSize = 128 << 20
)

// Segment header field offsets.
const (
	offMagic       = 0
	offVersion     = 4
	offSegmentID   = 8
	offSegFlags    = 12
	offSegReserved = 16
)

// Message header field offsets.
const (
	offCommitLen   = 0
	offPad         = 4
	offSeq         = 8
	offTimestamp   = 16
	offTypeID      = 24
	offMsgFlags    = 26
	offChecksum    = 28
	offMsgReserved = 32
)

// Kind is the kind of file a segment name denotes.
type Kind uint8

// File kinds.
const (
	KindSegment    Kind = iota + 1 // NNNNNNNNN.q
	KindCompressed                 // NNNNNNNNN.q.zst
	KindIndex                      // NNNNNNNNN.q.zst.idx
	KindColumnar                   // NNNNNNNNN.q.col
)

func (k Kind) String() string {
	switch k {
	case KindSegment:
		return ".q"
	case KindCompressed:
		return ".q.zst"
	case KindIndex:
		return ".q.zst.idx"
	case KindColumnar:
		return ".q.col"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

const (
	sufSegment    = ".q"
	sufCompressed = ".q.zst"
	sufIndex      = ".q.zst.idx"
	sufColumnar   = ".q.col"
	sufTmp        = ".tmp"
)

// Name returns the file name of segment id: "000000007.q". Ids above MaxID
// do not fit nine digits; the writer refuses them.
func Name(id uint32) string { return idString(id) + sufSegment }

// CompressedName returns "NNNNNNNNN.q.zst".
func CompressedName(id uint32) string { return idString(id) + sufCompressed }

// IndexName returns "NNNNNNNNN.q.zst.idx".
func IndexName(id uint32) string { return idString(id) + sufIndex }

// ColumnarName returns "NNNNNNNNN.q.col".
func ColumnarName(id uint32) string { return idString(id) + sufColumnar }

func idString(id uint32) string {
	s := strconv.FormatUint(uint64(id), 10)
	if len(s) < 9 {
		s = "000000000"[len(s):] + s
	}
	return s
}

// ParseName parses a segment file name: exactly nine digits followed by
// ".q", ".q.zst", ".q.zst.idx" or ".q.col". Anything else, *.tmp included,
// is not ok.
func ParseName(name string) (id uint32, kind Kind, ok bool) {
	if len(name) < 9 {
		return 0, 0, false
	}
	var n uint32
	for i := 0; i < 9; i++ {
		c := name[i]
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		n = n*10 + uint32(c-'0')
	}
	switch name[9:] {
	case sufSegment:
		kind = KindSegment
	case sufCompressed:
		kind = KindCompressed
	case sufIndex:
		kind = KindIndex
	case sufColumnar:
		kind = KindColumnar
	default:
		return 0, 0, false
	}
	return n, kind, true
}

// Position is where a record starts: its segment and its offset in the
// uncompressed segment.
type Position struct {
	SegmentID uint32
	Offset    int64
}

// Record is one record as read back.
type Record struct {
	SegmentID uint32
	Offset    int64 // of the message header, in the uncompressed segment
	Seq       uint64
	Timestamp uint64
	TypeID    uint16
	Flags     uint16
	// Payload aliases the reader's buffers: it is valid until the next call
	// on the reader.
	Payload []byte
}

// Sentinel errors. Corruption is reported as a *CorruptionError whose Err
// wraps one of these, so errors.Is(err, ErrChecksum) works.
var (
	ErrChecksum       = errors.New("segment: crc mismatch")
	ErrMagic          = errors.New("segment: bad magic")
	ErrTruncated      = errors.New("segment: truncated")
	ErrHeader         = errors.New("segment: bad header")
	ErrPadding        = errors.New("segment: non-zero padding")
	ErrNotSealed      = errors.New("segment: not sealed")
	ErrIndex          = errors.New("segment: bad index")
	ErrFrame          = errors.New("segment: bad zstd frame")
	ErrMissingSegment = errors.New("segment: missing segment")
	ErrSequence       = errors.New("segment: seq out of order")
	ErrTrailingData   = errors.New("segment: data after end of data")
	ErrBlock          = errors.New("segment: bad codec block")
)

var corruptionSentinels = []error{
	ErrChecksum, ErrMagic, ErrTruncated, ErrHeader, ErrPadding, ErrNotSealed,
	ErrIndex, ErrFrame, ErrMissingSegment, ErrSequence, ErrTrailingData, ErrBlock,
}

// CorruptionError reports damage at a place in a file. Offset is, for
// records and segment headers, an offset in the uncompressed segment (the
// same coordinates as Record.Offset), even when Path is a .q.zst; for index
// and frame damage it is an offset in the .idx or .zst file named by Path,
// and for damage a BlockCodec reports, an offset in the .q.col.
type CorruptionError struct {
	Path   string
	Offset int64
	Seq    uint64 // of the record, when HasSeq
	HasSeq bool
	Err    error
}

func (e *CorruptionError) Error() string {
	var b strings.Builder
	b.WriteString("segment")
	if e.Path != "" {
		b.WriteByte(' ')
		b.WriteString(e.Path)
	}
	b.WriteString(": offset ")
	b.WriteString(strconv.FormatInt(e.Offset, 10))
	b.WriteString(": ")
	b.WriteString(errText(e.Err))
	if e.HasSeq {
		b.WriteString(" (seq ")
		b.WriteString(strconv.FormatUint(e.Seq, 10))
		b.WriteByte(')')
	}
	return b.String()
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// IsCorruption reports whether err is (or wraps) damage in the data, as
// opposed to an I/O or usage error.
func IsCorruption(err error) bool {
	var ce *CorruptionError
	if errors.As(err, &ce) {
		return true
	}
	for _, s := range corruptionSentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// detailError is a sentinel plus the specifics. Its text drops the
// sentinel's "segment: " prefix because CorruptionError already names the
// package and the file.
type detailError struct {
	kind error
	msg  string
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.kind }

func detailf(kind error, format string, args ...any) error {
	return &detailError{kind: kind, msg: errText(kind) + ": " + fmt.Sprintf(format, args...)}
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return strings.TrimPrefix(err.Error(), "segment: ")
}

// recordLen is the on-disk size of a record with an n-byte payload.
func recordLen(n int64) int64 { return HeaderSize + (n+HeaderSize-1)&^(HeaderSize-1) }
