// Package protocol encodes and decodes the payloads Chronicle stores in
// segment records, byte for byte as docs/FORMAT.md specifies them.
//
// A BookEvent payload is a 64-byte BookEventHeader, a body (L2Snapshot, 12
// bytes, or L2Diff, 32 bytes) and then the bid levels followed by the ask
// levels, 16 bytes each (price u64, size u64, fixed point):
//
//	0               64            76/96
//	+---------------+-------------+---------------------------+
//	| BookEventHdr  | body        | bids ... | asks ...       |
//	+---------------+-------------+---------------------------+
//
// All integers are little-endian. These layouts are part of the on-disk
// format: changing any constant here breaks every existing archive.
package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// Record type ids (the type_id field of a segment message header).
const (
	TypeBookEvent  uint16 = 0x1000
	TypeBookTicker uint16 = 0x1001
	TypeTrade      uint16 = 0x1002
	TypePad        uint16 = 0xFFFF
)

// SchemaVersion is PROTOCOL_VERSION, the BookEventHeader schema_version.
const SchemaVersion = 2

// Sizes of the fixed parts of a BookEvent.
const (
	HeaderSize       = 64
	SnapshotBodySize = 12
	DiffBodySize     = 32
	LevelSize        = 16
	// MaxDiffLevels is the most levels one side of a Diff can hold (u16 count).
	MaxDiffLevels = 65535
)

// EventType is the BookEventHeader event_type.
type EventType uint8

// Event types.
const (
	Snapshot  EventType = 1
	Diff      EventType = 2
	Reset     EventType = 3
	Heartbeat EventType = 4
)

func (t EventType) String() string {
	switch t {
	case Snapshot:
		return "snapshot"
	case Diff:
		return "diff"
	case Reset:
		return "reset"
	case Heartbeat:
		return "heartbeat"
	}
	return fmt.Sprintf("event_type(%d)", uint8(t))
}

// Book modes.
const (
	ModeL2 uint8 = 0
	ModeL3 uint8 = 1
)

// L2Diff book flags.
const (
	FlagAbsolute uint16 = 1
	FlagDelta    uint16 = 2
	FlagHasScale uint16 = 4
)

// MaxScale is the largest decimal scale Chronicle writes: 10^18 < 2^64.
const MaxScale = 18

// Level is one price level: price × 10^PriceScale and size × 10^SizeScale.
type Level struct {
	Price uint64
	Size  uint64
}

// Event is a decoded BookEvent. Bids and Asks alias buffers the caller may
// reuse: DecodeEvent overwrites them in place, so copy what must outlive the
// next call.
type Event struct {
	Type       EventType
	BookMode   uint8
	Flags      uint16 // BookEventHeader.flags
	VenueID    uint16
	MarketID   uint32
	StreamID   uint32
	IngestTS   uint64 // ns since the epoch (local_timestamp)
	ExchangeTS uint64 // ns since the epoch (exchange timestamp)
	Seq        uint64
	NativeSeq  uint64

	PriceScale uint8
	SizeScale  uint8

	// Diff only.
	DiffFlags     uint16
	UpdateIDFirst uint64
	UpdateIDLast  uint64
	UpdateIDPrev  uint64

	Bids []Level
	Asks []Level
}

// EncodedLen is the payload length of e.
func EncodedLen(e *Event) int {
	n := HeaderSize
	switch e.Type {
	case Snapshot:
		n += SnapshotBodySize
	case Diff:
		n += DiffBodySize
	}
	return n + (len(e.Bids)+len(e.Asks))*LevelSize
}

// Errors returned by AppendEvent and DecodeEvent.
var (
	ErrTooManyLevels = errors.New("protocol: too many levels for one event")
	ErrScale         = errors.New("protocol: scale above 18")
	ErrMalformed     = errors.New("protocol: malformed BookEvent")
)

// AppendEvent appends the BookEvent payload of e to dst.
func AppendEvent(dst []byte, e *Event) ([]byte, error) {
	n, err := check(e)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = grow(dst, n)
	off := putHead(dst[start:], e, n)
	off = putLevels(dst[start:], off, e.Bids)
	putLevels(dst[start:], off, e.Asks)
	return dst, nil
}

// check validates what AppendEvent and AppendEventHead encode and returns
// the payload length.
func check(e *Event) (int, error) {
	if e.PriceScale > MaxScale || e.SizeScale > MaxScale {
		return 0, ErrScale
	}
	switch e.Type {
	case Diff:
		if len(e.Bids) > MaxDiffLevels || len(e.Asks) > MaxDiffLevels {
			return 0, ErrTooManyLevels
		}
	case Snapshot:
		if uint64(len(e.Bids)) > 1<<32-1 || uint64(len(e.Asks)) > 1<<32-1 {
			return 0, ErrTooManyLevels
		}
	case Reset, Heartbeat:
		if len(e.Bids)+len(e.Asks) != 0 {
			return 0, fmt.Errorf("%w: %v event with levels", ErrMalformed, e.Type)
		}
	default:
		return 0, fmt.Errorf("%w: unknown event type %d", ErrMalformed, e.Type)
	}
	n := EncodedLen(e)
	if uint64(n) > 1<<32-1 {
		return 0, ErrTooManyLevels
	}
	return n, nil
}

// AppendEventHead appends the BookEvent payload of e without its levels:
// followed by LevelBytes(e.Bids) and LevelBytes(e.Asks) it is what
// AppendEvent appends. With segment.Writer.AppendParts, a huge event is
// stored without a second copy of its levels in memory.
func AppendEventHead(dst []byte, e *Event) ([]byte, error) {
	n, err := check(e)
	if err != nil {
		return dst, err
	}
	h := n - (len(e.Bids)+len(e.Asks))*LevelSize
	start := len(dst)
	dst = grow(dst, h)
	putHead(dst[start:], e, n)
	return dst, nil
}

// putHead writes the header and body of e, whose payload is n bytes, at
// the start of b and returns their length.
func putHead(b []byte, e *Event, n int) int {
	clear(b[:HeaderSize])
	le := binary.LittleEndian
	le.PutUint16(b[0:], SchemaVersion)
	le.PutUint32(b[4:], uint32(n))
	b[8] = 0 // little-endian
	le.PutUint16(b[10:], e.VenueID)
	le.PutUint32(b[12:], e.MarketID)
	le.PutUint32(b[16:], e.StreamID)
	le.PutUint64(b[24:], e.IngestTS)
	le.PutUint64(b[32:], e.ExchangeTS)
	le.PutUint64(b[40:], e.Seq)
	le.PutUint64(b[48:], e.NativeSeq)
	b[56] = uint8(e.Type)
	b[57] = e.BookMode
	le.PutUint16(b[58:], e.Flags)
	off := HeaderSize
	switch e.Type {
	case Snapshot:
		body := b[off : off+SnapshotBodySize]
		body[0], body[1], body[2], body[3] = e.PriceScale, e.SizeScale, 0, 0
		le.PutUint32(body[4:], uint32(len(e.Bids)))
		le.PutUint32(body[8:], uint32(len(e.Asks)))
		off += SnapshotBodySize
	case Diff:
		body := b[off : off+DiffBodySize]
		le.PutUint64(body[0:], e.UpdateIDFirst)
		le.PutUint64(body[8:], e.UpdateIDLast)
		le.PutUint64(body[16:], e.UpdateIDPrev)
		body[24], body[25] = e.PriceScale, e.SizeScale
		le.PutUint16(body[26:], e.DiffFlags)
		le.PutUint16(body[28:], uint16(len(e.Bids)))
		le.PutUint16(body[30:], uint16(len(e.Asks)))
		off += DiffBodySize
	}
	return off
}

// nativeLittle: the levels' memory is their encoding.
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Level must be two u64s without padding for LevelBytes.
var _ [LevelSize - unsafe.Sizeof(Level{})]byte
var _ [unsafe.Sizeof(Level{}) - LevelSize]byte
var _ [unsafe.Offsetof(Level{}.Size) - 8]byte

// LevelBytes returns levels encoded as in a payload (price u64, size u64,
// little-endian). On little-endian machines that is the levels' own
// memory, which the result aliases: no copy.
func LevelBytes(levels []Level) []byte {
	if len(levels) == 0 {
		return nil
	}
	if !nativeLittle {
		b := make([]byte, len(levels)*LevelSize)
		putLevels(b, 0, levels)
		return b
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&levels[0])), len(levels)*LevelSize)
}

func putLevels(b []byte, off int, levels []Level) int {
	for _, l := range levels {
		binary.LittleEndian.PutUint64(b[off:], l.Price)
		binary.LittleEndian.PutUint64(b[off+8:], l.Size)
		off += LevelSize
	}
	return off
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// DecodeEvent decodes a BookEvent payload into e, reusing e.Bids and e.Asks.
// It checks the layout strictly (version, record_len, counts, zero padding,
// scales) so that damage a CRC cannot see is still reported.
func DecodeEvent(p []byte, e *Event) error {
	off, nb, na, err := decodeHead(p, e)
	if err != nil {
		return err
	}
	e.Bids = getLevels(e.Bids[:0], p[off:off+nb*LevelSize])
	off += nb * LevelSize
	e.Asks = getLevels(e.Asks[:0], p[off:off+na*LevelSize])
	return nil
}

// decodeHead decodes and checks all of BookEvent payload p but its levels,
// and returns where they start and how many bids and asks there are (p is
// exactly long enough for them).
func decodeHead(p []byte, e *Event) (off, nbids, nasks int, err error) {
	if len(p) < HeaderSize {
		return 0, 0, 0, fmt.Errorf("%w: %d bytes, shorter than the 64-byte header", ErrMalformed, len(p))
	}
	le := binary.LittleEndian
	if v := le.Uint16(p[0:]); v != SchemaVersion {
		return 0, 0, 0, fmt.Errorf("%w: schema_version %d, want %d", ErrMalformed, v, SchemaVersion)
	}
	if rl := le.Uint32(p[4:]); uint64(rl) != uint64(len(p)) {
		return 0, 0, 0, fmt.Errorf("%w: record_len %d but payload is %d bytes", ErrMalformed, rl, len(p))
	}
	if p[8] != 0 {
		return 0, 0, 0, fmt.Errorf("%w: endianness %d, want 0 (little)", ErrMalformed, p[8])
	}
	if le.Uint16(p[2:]) != 0 || p[9] != 0 || le.Uint32(p[20:]) != 0 || le.Uint32(p[60:]) != 0 {
		return 0, 0, 0, fmt.Errorf("%w: nonzero header padding", ErrMalformed)
	}
	e.VenueID = le.Uint16(p[10:])
	e.MarketID = le.Uint32(p[12:])
	e.StreamID = le.Uint32(p[16:])
	e.IngestTS = le.Uint64(p[24:])
	e.ExchangeTS = le.Uint64(p[32:])
	e.Seq = le.Uint64(p[40:])
	e.NativeSeq = le.Uint64(p[48:])
	e.Type = EventType(p[56])
	e.BookMode = p[57]
	e.Flags = le.Uint16(p[58:])
	e.DiffFlags, e.UpdateIDFirst, e.UpdateIDLast, e.UpdateIDPrev = 0, 0, 0, 0
	e.PriceScale, e.SizeScale = 0, 0
	var nb, na uint64
	off = HeaderSize
	switch e.Type {
	case Snapshot:
		if len(p) < off+SnapshotBodySize {
			return 0, 0, 0, fmt.Errorf("%w: snapshot body truncated", ErrMalformed)
		}
		body := p[off:]
		e.PriceScale, e.SizeScale = body[0], body[1]
		if body[2] != 0 || body[3] != 0 {
			return 0, 0, 0, fmt.Errorf("%w: nonzero snapshot body padding", ErrMalformed)
		}
		nb, na = uint64(le.Uint32(body[4:])), uint64(le.Uint32(body[8:]))
		off += SnapshotBodySize
	case Diff:
		if len(p) < off+DiffBodySize {
			return 0, 0, 0, fmt.Errorf("%w: diff body truncated", ErrMalformed)
		}
		body := p[off:]
		e.UpdateIDFirst = le.Uint64(body[0:])
		e.UpdateIDLast = le.Uint64(body[8:])
		e.UpdateIDPrev = le.Uint64(body[16:])
		e.PriceScale, e.SizeScale = body[24], body[25]
		e.DiffFlags = le.Uint16(body[26:])
		nb, na = uint64(le.Uint16(body[28:])), uint64(le.Uint16(body[30:]))
		off += DiffBodySize
	case Reset, Heartbeat:
	default:
		return 0, 0, 0, fmt.Errorf("%w: unknown event_type %d", ErrMalformed, p[56])
	}
	if e.PriceScale > MaxScale || e.SizeScale > MaxScale {
		return 0, 0, 0, fmt.Errorf("%w: price_scale %d / size_scale %d above 18", ErrMalformed, e.PriceScale, e.SizeScale)
	}
	if want := uint64(off) + (nb+na)*LevelSize; want != uint64(len(p)) {
		return 0, 0, 0, fmt.Errorf("%w: %d bids + %d asks need %d bytes, payload has %d", ErrMalformed, nb, na, want, len(p))
	}
	return off, int(nb), int(na), nil
}

func getLevels(dst []Level, b []byte) []Level {
	n := len(b) / LevelSize
	if cap(dst) < n {
		dst = make([]Level, n, n+n/4)
	}
	dst = dst[:n]
	for i := range dst {
		dst[i].Price = binary.LittleEndian.Uint64(b[i*LevelSize:])
		dst[i].Size = binary.LittleEndian.Uint64(b[i*LevelSize+8:])
	}
	return dst
}

// MarketID is the reference's default market id for a symbol: an
// FNV-1a-shaped hash whose multiplier is 0x1099511628211904 (a reference
// quirk, not the FNV prime), folded to 32 bits.
func MarketID(symbol string) uint32 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(symbol); i++ {
		h ^= uint64(symbol[i])
		h *= 0x1099511628211904
	}
	return uint32(h>>32) ^ uint32(h)
}
