package columnar

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
)

// Columns every records block has, in this order.
const (
	cMode   = iota // bytes: per record, 0 = predicted, 1 = verbatim
	cVLen          // uint: length of each verbatim record
	cVBytes        // bytes: the verbatim records, concatenated
	cTS            // delta: timestamp_ns of each predicted record
	nCommon
)

// BookEvent columns, after the common ones.
const (
	cBookType   = nCommon + iota // bytes: event_type
	cBookExch                    // delta: exchange_ts_ns
	cBookScales                  // bytes: price_scale, size_scale
	cBookCounts                  // uint: bid_count, ask_count
	cBookPrices                  // int: price differences (pushLevels)
	cBookSizes                   // uint: sizes
)

// Extension record columns, after the common ones; then the fields'.
const (
	cExtFlags  = nCommon + iota // bytes: RecordHeader flags (low byte: flagExch, flagStreamSym)
	cExtExch                    // delta: exchange_ts_ns, when present
	cExtBitmap                  // bytes: presence bitmap
	cExtScales                  // bytes: scale bytes
)

// The RecordHeader flags an extension record's flags column holds
// (FORMAT.md): exchange_ts present, symbol taken from the stream.
const (
	flagExch      = 1
	flagStreamSym = 2
)

// layout is the column list of a block whose predicted records are of one
// type: each column's kind, and where each field's columns start.
type layout struct {
	typ      *record.Type
	kinds    []uint8
	fieldCol []int // extension types: first column of each field
}

var layouts = map[uint16]*layout{}

// lazy reports whether column i is decoded a chunk at a time (rcol): a
// book block's prices and sizes, which only putLevels reads (take).
func (l *layout) lazy(i int) bool {
	return l.typ != nil && l.typ.Reference && (i == cBookPrices || i == cBookSizes)
}

func init() {
	for _, t := range record.All() {
		l := &layout{typ: t, kinds: append([]uint8(nil), noLayout.kinds...)}
		if t.Reference {
			l.kinds = append(l.kinds, kBytes, kDelta, kBytes, kUint, kInt, kUint)
			layouts[t.ID] = l
			continue
		}
		l.kinds = append(l.kinds, kBytes, kDelta, kBytes, kBytes)
		for _, f := range t.Fields {
			l.fieldCol = append(l.fieldCol, len(l.kinds))
			switch f.Kind {
			case record.Time, record.Decimal:
				l.kinds = append(l.kinds, kKeyed)
			case record.Side, record.OptionType:
				l.kinds = append(l.kinds, kBytes)
			case record.String: // dictionary refs, lengths, bytes
				l.kinds = append(l.kinds, kUint, kUint, kBytes)
			case record.Levels: // counts, prices, amounts
				l.kinds = append(l.kinds, kUint, kInt, kUint)
			default:
				panic("columnar: field kind without columns: " + f.Name)
			}
		}
		layouts[t.ID] = l
	}
}

// noLayout: a block whose records are all verbatim.
var noLayout = &layout{kinds: []uint8{cMode: kBytes, cVLen: kUint, cVBytes: kBytes, cTS: kDelta}}

// state is what predictions and deltas depend on, reset at each block.
type state struct {
	seq      uint64   // seq of the previous record
	bid, ask uint64   // first price of the previous BookEvent's sides
	last     []uint64 // per Levels field: the previous record's first price
	// Extension records: the key of a record is the block dictionary id of
	// its first field, the symbol (one key in a one-symbol stream; one per
	// instrument in an options chain). byKey holds each key's last Time and
	// Decimal values, nf per key.
	nf, key, prevKey int
	byKey            []uint64
}

func (s *state) reset(firstSeq uint64, nf int) {
	*s = state{seq: firstSeq - 1, last: s.last[:0], nf: nf, byKey: s.byKey[:0]}
	for range nf {
		s.last = append(s.last, 0)
		s.byKey = append(s.byKey, 0) // key 0
	}
}

// setKey makes id the current record's key. Ids are given in order, so id
// is at most the number of keys; a new key starts from the values of the
// previous record's key.
func (s *state) setKey(id int) {
	s.prevKey, s.key = s.key, id
	if len(s.byKey) < (id+1)*s.nf {
		from := s.prevKey * s.nf
		s.byKey = append(s.byKey, s.byKey[from:from+s.nf]...)
	}
}

// keyed returns the last value of field i for the current key.
func (s *state) keyed(i int) *uint64 { return &s.byKey[s.key*s.nf+i] }

// A String field's refs column: a literal (in the lengths and bytes
// columns) that is or is not added to the block's dictionary of the field,
// or refID + the id of a dictionary value.
const (
	refLiteral = 0
	refAdd     = 1
	refID      = 2
)

// bookCtx: the BookEvent fields constant within a block.
type bookCtx struct {
	venue  uint16
	market uint32
	stream uint32
}

const bookCtxSize = 10

var zeros [SegHeaderSize]byte

// frame completes the record whose payload was appended to dst after a
// 64-byte gap at start: the message header, then zero padding to 64.
// Without crc the header's checksum is left 0 (File.DecodeRecords).
func frame(dst []byte, start int, seq, ts uint64, typ uint16, crc bool) []byte {
	p := dst[start+SegHeaderSize:]
	h := dst[start : start+SegHeaderSize]
	clear(h)
	le.PutUint32(h[0:], uint32(len(p))+1)
	le.PutUint64(h[8:], seq)
	le.PutUint64(h[16:], ts)
	le.PutUint16(h[24:], typ)
	if crc {
		le.PutUint32(h[28:], crc32.ChecksumIEEE(p))
	}
	return append(dst, zeros[:(SegHeaderSize-len(p)%SegHeaderSize)%SegHeaderSize]...)
}

// bookRecord appends the record an import writes for event e with seq
// (with crc false, its checksum 0).
func bookRecord(dst []byte, seq uint64, e *protocol.Event, crc bool) ([]byte, error) {
	start := len(dst)
	dst = append(dst, zeros[:]...)
	dst, err := protocol.AppendEvent(dst, e)
	if err != nil {
		return dst[:start], err
	}
	return frame(dst, start, seq, e.IngestTS, protocol.TypeBookEvent, crc), nil
}

// extRecord appends the record an import writes for r with seq (with crc
// false, its checksum 0).
func extRecord(dst []byte, seq uint64, r *record.Record, crc bool) ([]byte, error) {
	start := len(dst)
	dst = append(dst, zeros[:]...)
	dst, err := record.Append(dst, r)
	if err != nil {
		return dst[:start], err
	}
	return frame(dst, start, seq, r.LocalTS, r.Type.ID, crc), nil
}

// predictBook sets what an import derives from seq and the block.
func predictBook(e *protocol.Event, seq uint64, c bookCtx) {
	e.BookMode, e.Flags = protocol.ModeL2, 0
	e.VenueID, e.MarketID, e.StreamID = c.venue, c.market, c.stream
	e.Seq, e.NativeSeq = seq, seq
	e.DiffFlags, e.UpdateIDFirst, e.UpdateIDLast, e.UpdateIDPrev = 0, 0, 0, 0
	if e.Type == protocol.Diff {
		e.DiffFlags = protocol.FlagAbsolute
		e.UpdateIDFirst, e.UpdateIDLast, e.UpdateIDPrev = seq, seq, max(seq, 1)-1
	}
}

type encoder struct {
	recs    []int
	cols    []col
	st      state
	ev      protocol.Event
	rec     record.Record
	scratch []byte
	colBufs scratch
	dicts   []map[uint64]int // per String field: FNV-1a of a value -> its id in the block
	spans   [][]span         // per String field: each id's bytes in the field's bytes column
}

type span struct{ off, n int }

// fnv1a is FNV-1a (64 bits): dictionary ids depend on the bytes only.
func fnv1a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

func (e *encoder) rawBlock(dst, b []byte) []byte {
	dst = append(dst, kindRaw)
	c := col{b: b}
	return appendCol(dst, &c, &e.colBufs)
}

// chooseType picks the block's predicted type: that of the first record
// that decodes as a known type. Others are stored verbatim.
func (e *encoder) chooseType(q []byte, recs []int, base int) (*layout, bookCtx) {
	for _, off := range recs {
		r := q[off-base:]
		plen := int(le.Uint32(r)) - 1
		p := r[SegHeaderSize : SegHeaderSize+plen]
		typ := le.Uint16(r[24:])
		l, ok := layouts[typ]
		if !ok {
			continue
		}
		if l.typ.Reference {
			if protocol.DecodeEvent(p, &e.ev) == nil {
				return l, bookCtx{e.ev.VenueID, e.ev.MarketID, e.ev.StreamID}
			}
		} else if record.Decode(l.typ, p, &e.rec) == nil {
			return l, bookCtx{}
		}
	}
	return noLayout, bookCtx{}
}

// recordsBlock appends the records block of q (the .q bytes from offset
// base), whose records start at the .q offsets recs.
func (e *encoder) recordsBlock(dst, q []byte, recs []int, base int) ([]byte, BlockInfo) {
	l, ctx := e.chooseType(q, recs, base)
	for len(e.cols) < len(l.kinds) {
		e.cols = append(e.cols, col{})
	}
	cols := e.cols[:len(l.kinds)]
	for i := range cols {
		cols[i] = col{kind: l.kinds[i], u: cols[i].u[:0], u2: cols[i].u2[:0], b: cols[i].b[:0]}
	}
	first := q[recs[0]-base:]
	info := BlockInfo{QOffset: int64(base), QLen: len(q), FirstSeq: le.Uint64(first[8:]),
		FirstTS: le.Uint64(first[16:]), Records: len(recs)}
	nf := 0
	if l.typ != nil {
		nf = len(l.typ.Fields)
	}
	e.st.reset(info.FirstSeq, nf)
	for len(e.dicts) < nf {
		e.dicts = append(e.dicts, map[uint64]int{})
		e.spans = append(e.spans, nil)
	}
	for i := range e.dicts {
		clear(e.dicts[i])
		e.spans[i] = e.spans[i][:0]
	}
	for i, off := range recs {
		end := len(q)
		if i+1 < len(recs) {
			end = recs[i+1] - base
		}
		r := q[off-base : end]
		seq, ts := le.Uint64(r[8:]), le.Uint64(r[16:])
		info.LastTS = ts
		if !e.predicted(l, ctx, r, cols) {
			cols[cMode].b = append(cols[cMode].b, 1)
			cols[cVLen].u = append(cols[cVLen].u, uint64(len(r)))
			cols[cVBytes].b = append(cols[cVBytes].b, r...)
		}
		e.st.seq = seq
	}
	dst = append(dst, kindRecords)
	var tid uint16
	if l.typ != nil {
		tid = l.typ.ID
	}
	dst = le.AppendUint16(dst, tid)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	if l.typ != nil && l.typ.Reference {
		dst = le.AppendUint16(dst, ctx.venue)
		dst = le.AppendUint32(dst, ctx.market)
		dst = le.AppendUint32(dst, ctx.stream)
	}
	for i := range cols {
		dst = appendCol(dst, &cols[i], &e.colBufs)
	}
	return dst, info
}

// predicted appends record r to the columns when its bytes are exactly
// what the decoder rebuilds from them, and reports whether it did.
//
// It compares in place rather than rebuilding the record: the payload
// decoders are strict (every padding byte, length and code checked), so a
// payload that decodes is the one its values encode to, and what is left
// is the fields the decoder predicts (the message header, the padding, and
// for a BookEvent its ids and update ids). predictedSlow in the tests
// rebuilds each record, as this did, and must agree.
func (e *encoder) predicted(l *layout, ctx bookCtx, r []byte, cols []col) bool {
	if l.typ == nil || le.Uint16(r[24:]) != l.typ.ID {
		return false
	}
	seq := e.st.seq + 1
	plen := int(le.Uint32(r)) - 1
	p := r[SegHeaderSize : SegHeaderSize+plen]
	if l.typ.Reference {
		ev := &e.ev
		if protocol.DecodeEvent(p, ev) != nil || !bookPredicted(ev, seq, ctx) || !framed(r, p, seq, ev.IngestTS) {
			return false
		}
		e.pushBook(cols)
	} else {
		if record.Decode(l.typ, p, &e.rec) != nil || !framed(r, p, seq, e.rec.LocalTS) {
			return false
		}
		e.pushExt(l, cols)
	}
	cols[cMode].b = append(cols[cMode].b, 0)
	return true
}

// bookPredicted tells whether e holds what predictBook would set.
func bookPredicted(e *protocol.Event, seq uint64, c bookCtx) bool {
	if e.BookMode != protocol.ModeL2 || e.Flags != 0 || e.VenueID != c.venue || e.MarketID != c.market ||
		e.StreamID != c.stream || e.Seq != seq || e.NativeSeq != seq {
		return false
	}
	switch e.Type {
	case protocol.Diff:
		return e.DiffFlags == protocol.FlagAbsolute && e.UpdateIDFirst == seq && e.UpdateIDLast == seq &&
			e.UpdateIDPrev == max(seq, 1)-1
	case protocol.Snapshot:
		return e.DiffFlags == 0 && e.UpdateIDFirst == 0 && e.UpdateIDLast == 0 && e.UpdateIDPrev == 0
	}
	return false
}

// framed tells whether record r, payload p, is what frame writes for seq
// and ts: the header's other bytes zero, the CRC right, zero padding to 64
// and nothing after it. Words, not bytes: this runs for every record.
func framed(r, p []byte, seq, ts uint64) bool {
	if len(r) != SegHeaderSize+(len(p)+SegHeaderSize-1)&^(SegHeaderSize-1) ||
		le.Uint32(r[4:]) != 0 || le.Uint64(r[8:]) != seq || le.Uint64(r[16:]) != ts || le.Uint16(r[26:]) != 0 ||
		le.Uint64(r[32:])|le.Uint64(r[40:])|le.Uint64(r[48:])|le.Uint64(r[56:]) != 0 {
		return false
	}
	for _, b := range r[SegHeaderSize+len(p):] {
		if b != 0 {
			return false
		}
	}
	return le.Uint32(r[28:]) == crc32.ChecksumIEEE(p)
}

// pushLevels appends a side's prices (the first against *prev, then each
// against the one before) and sizes.
func pushLevels(prices, sizes *[]uint64, levels []protocol.Level, prev *uint64) {
	if len(levels) == 0 {
		return
	}
	p := *prev
	*prev = levels[0].Price
	for _, lv := range levels {
		*prices = append(*prices, lv.Price-p)
		*sizes = append(*sizes, lv.Size)
		p = lv.Price
	}
}

func (e *encoder) pushBook(cols []col) {
	ev := &e.ev
	cols[cTS].u = append(cols[cTS].u, ev.IngestTS)
	cols[cBookType].b = append(cols[cBookType].b, byte(ev.Type))
	cols[cBookExch].u = append(cols[cBookExch].u, ev.ExchangeTS)
	cols[cBookScales].b = append(cols[cBookScales].b, ev.PriceScale, ev.SizeScale)
	cols[cBookCounts].u = append(cols[cBookCounts].u, uint64(len(ev.Bids)), uint64(len(ev.Asks)))
	pushLevels(&cols[cBookPrices].u, &cols[cBookSizes].u, ev.Bids, &e.st.bid)
	pushLevels(&cols[cBookPrices].u, &cols[cBookSizes].u, ev.Asks, &e.st.ask)
}

func (e *encoder) spanBytes(b []byte, field, id int) []byte {
	s := e.spans[field][id]
	return b[s.off : s.off+s.n]
}

func (e *encoder) pushExt(l *layout, cols []col) {
	r := &e.rec
	cols[cTS].u = append(cols[cTS].u, r.LocalTS)
	var flags byte
	if r.HasExchangeTS {
		flags = flagExch
		cols[cExtExch].u = append(cols[cExtExch].u, r.ExchangeTS)
	}
	if r.StreamSymbol {
		flags |= flagStreamSym
	}
	cols[cExtFlags].b = append(cols[cExtFlags].b, flags)
	bm := len(cols[cExtBitmap].b)
	for range (len(r.Fields) + 7) / 8 {
		cols[cExtBitmap].b = append(cols[cExtBitmap].b, 0)
	}
	for i, f := range l.typ.Fields {
		v := &r.Fields[i]
		if r.Present[i] {
			cols[cExtBitmap].b[bm+i/8] |= 1 << (i % 8)
		}
		switch f.Kind {
		case record.Decimal:
			cols[cExtScales].b = append(cols[cExtScales].b, v.Scale)
		case record.Levels:
			cols[cExtScales].b = append(cols[cExtScales].b, v.Scale, v.Scale2)
		}
		if !r.Present[i] {
			continue
		}
		c := l.fieldCol[i]
		last := &e.st.last[i]
		switch f.Kind {
		case record.Time, record.Decimal:
			x := v.U
			if f.Kind == record.Decimal {
				x = uint64(v.I)
			}
			k := e.st.keyed(i)
			cols[c].u = append(cols[c].u, x)
			cols[c].u2 = append(cols[c].u2, x-*k)
			*k = x
		case record.Side, record.OptionType:
			cols[c].b = append(cols[c].b, byte(v.U))
		case record.String:
			h := fnv1a(v.B)
			id, ok := e.dicts[i][h]
			switch {
			case ok && bytes.Equal(v.B, e.spanBytes(cols[c+2].b, i, id)):
				cols[c].u = append(cols[c].u, refID+uint64(id))
			case ok: // a hash collision: keep the first value
				id = 0
				cols[c].u = append(cols[c].u, refLiteral)
			default:
				id = len(e.spans[i])
				e.dicts[i][h] = id
				e.spans[i] = append(e.spans[i], span{len(cols[c+2].b), len(v.B)})
				cols[c].u = append(cols[c].u, refAdd)
			}
			if cols[c].u[len(cols[c].u)-1] < refID {
				cols[c+1].u = append(cols[c+1].u, uint64(len(v.B)))
				cols[c+2].b = append(cols[c+2].b, v.B...)
			}
			if i == 0 {
				e.st.setKey(id)
			}
		case record.Levels:
			cols[c].u = append(cols[c].u, uint64(len(v.L)))
			pushLevels(&cols[c+1].u, &cols[c+2].u, v.L, last)
		}
	}
}

// decoder rebuilds blocks; its buffers are reused from block to block.
type decoder struct {
	// noCRC: leave predicted records' checksums 0 (File.DecodeRecords);
	// inexact is then set by a verbatim record that the reader's check of
	// the checksum would not pass or that is not framed as a record.
	noCRC, inexact bool

	raw   []byte
	vals  []uint64   // the eager integer columns' values
	dicts [][][]byte // per String field: the block's values by id
	cols  []rcol
	st    state
	ev    protocol.Event
	rec   record.Record
}

var errBlock = errors.New("malformed block")

func (d *decoder) block(dst, src []byte, b *BlockInfo) ([]byte, error) {
	if len(src) < 1 {
		return dst, errBlock
	}
	base := len(dst)
	if cap(dst)-base < b.QLen {
		nd := make([]byte, base, base+b.QLen)
		copy(nd, dst)
		dst = nd
	}
	d.raw, d.vals = d.raw[:0], d.vals[:0]
	kind := src[0]
	src = src[1:]
	var out []byte
	var err error
	switch kind {
	case kindRaw:
		if b.Records != 0 {
			return dst, fmt.Errorf("%w: raw block with %d records in the index", errBlock, b.Records)
		}
		var c rcol
		if src, err = readCol(src, &d.raw, &d.vals, &c, kBytes, false); err != nil {
			return dst, err
		}
		out = append(dst, c.b...)
	case kindRecords:
		out, src, err = d.records(dst, src, b)
		if err != nil {
			return dst, err
		}
	default:
		return dst, fmt.Errorf("%w: kind %d", errBlock, kind)
	}
	if len(src) != 0 {
		return dst, fmt.Errorf("%w: %d bytes after the last column", errBlock, len(src))
	}
	if len(out)-base != b.QLen {
		return dst, fmt.Errorf("%w: restores %d bytes, index says %d", errBlock, len(out)-base, b.QLen)
	}
	return out, nil
}

func (d *decoder) records(dst, src []byte, b *BlockInfo) (out, rest []byte, err error) {
	if len(src) < 2 {
		return dst, nil, errBlock
	}
	tid := le.Uint16(src)
	src = src[2:]
	nrec, n := binary.Uvarint(src)
	if n <= 0 || nrec != uint64(b.Records) || nrec == 0 {
		return dst, nil, fmt.Errorf("%w: record count", errBlock)
	}
	src = src[n:]
	l := noLayout
	if tid != 0 {
		var ok bool
		if l, ok = layouts[tid]; !ok {
			return dst, nil, fmt.Errorf("%w: unknown type id %#04x", errBlock, tid)
		}
	}
	var ctx bookCtx
	if l.typ != nil && l.typ.Reference {
		if len(src) < bookCtxSize {
			return dst, nil, errBlock
		}
		ctx = bookCtx{le.Uint16(src), le.Uint32(src[2:]), le.Uint32(src[6:])}
		src = src[bookCtxSize:]
	}
	for len(d.cols) < len(l.kinds) {
		d.cols = append(d.cols, rcol{})
	}
	cols := d.cols[:len(l.kinds)]
	d.reserve(src, len(l.kinds))
	for i := range cols {
		if src, err = readCol(src, &d.raw, &d.vals, &cols[i], l.kinds[i], l.lazy(i)); err != nil {
			return dst, nil, fmt.Errorf("column %d: %w", i, err)
		}
	}
	nf := 0
	if l.typ != nil {
		nf = len(l.typ.Fields)
	}
	d.st.reset(b.FirstSeq, nf)
	for len(d.dicts) < nf {
		d.dicts = append(d.dicts, nil)
	}
	for i := range d.dicts {
		d.dicts[i] = d.dicts[i][:0]
	}
	limit := len(dst) + b.QLen
	for i := range int(nrec) {
		mode, ok := cols[cMode].bytes(1)
		if !ok {
			return dst, nil, fmt.Errorf("%w: record %d: mode column short", errBlock, i)
		}
		start := len(dst)
		switch mode[0] {
		case 1:
			vl, ok := cols[cVLen].next()
			if !ok || vl < SegHeaderSize || vl > uint64(limit-start) {
				return dst, nil, fmt.Errorf("%w: record %d: verbatim length", errBlock, i)
			}
			v, ok := cols[cVBytes].bytes(int(vl))
			if !ok {
				return dst, nil, fmt.Errorf("%w: record %d: verbatim bytes short", errBlock, i)
			}
			dst = append(dst, v...)
			d.st.seq = le.Uint64(v[8:])
			if d.noCRC && !d.inexact && !verbatimOK(v) {
				d.inexact = true
			}
		case 0:
			if l.typ == nil {
				return dst, nil, fmt.Errorf("%w: record %d: predicted record in an untyped block", errBlock, i)
			}
			seq := d.st.seq + 1
			if l.typ.Reference {
				dst, err = d.book(dst, cols, seq, ctx, limit-start)
			} else {
				dst, err = d.ext(dst, cols, l, seq, limit-start)
			}
			if err != nil {
				return dst, nil, fmt.Errorf("%w: record %d: %v", errBlock, i, err)
			}
			d.st.seq = seq
		default:
			return dst, nil, fmt.Errorf("%w: record %d: mode %d", errBlock, i, mode[0])
		}
		if len(dst) > limit {
			return dst, nil, fmt.Errorf("%w: record %d ends past the block's %d bytes", errBlock, i, b.QLen)
		}
	}
	for i := range cols {
		if !cols[i].done() {
			return dst, nil, fmt.Errorf("%w: column %d not used up", errBlock, i)
		}
	}
	return dst, src, nil
}

// verbatimOK tells whether the verbatim record v is framed as one record
// (commit_len gives its length) whose checksum is its payload's CRC-32:
// what a reader checks of it, so that a block of such verbatim records and
// predicted ones may skip the reader's checksum comparison.
func verbatimOK(v []byte) bool {
	c := uint64(le.Uint32(v))
	if c == 0 || SegHeaderSize+(c-1+SegHeaderSize-1)&^(SegHeaderSize-1) != uint64(len(v)) {
		return false
	}
	return crc32.ChecksumIEEE(v[SegHeaderSize:SegHeaderSize+c-1]) == le.Uint32(v[28:])
}

var errShort = errors.New("column short")

func (d *decoder) nextTS(cols []rcol) (uint64, error) {
	ts, ok := cols[cTS].next()
	if !ok {
		return 0, errShort
	}
	return ts, nil
}

// readLevels reads n levels of a side into dst, at most room bytes' worth.
func readLevels(dst []protocol.Level, prices, sizes *rcol, n uint64, prev *uint64) ([]protocol.Level, error) {
	dst = dst[:0]
	if n > uint64(prices.left()) {
		return dst, errShort
	}
	p := *prev
	for j := range n {
		z, _ := prices.next()
		s, ok := sizes.next()
		if !ok {
			return dst, errShort
		}
		p += z
		if j == 0 {
			*prev = p
		}
		dst = append(dst, protocol.Level{Price: p, Size: s})
	}
	return dst, nil
}

func (d *decoder) book(dst []byte, cols []rcol, seq uint64, ctx bookCtx, room int) ([]byte, error) {
	ts, ok0 := cols[cTS].next()
	typ, ok1 := cols[cBookType].bytes(1)
	exch, ok2 := cols[cBookExch].next()
	sc, ok3 := cols[cBookScales].bytes(2)
	nb, ok4 := cols[cBookCounts].next()
	na, ok5 := cols[cBookCounts].next()
	if !ok0 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return dst, errShort
	}
	if (nb+na)*protocol.LevelSize > uint64(room) {
		return dst, fmt.Errorf("%d levels do not fit in the block", nb+na)
	}
	prices, sizes := &cols[cBookPrices], &cols[cBookSizes]
	rp, rs := uint64(prices.left()), uint64(sizes.left())
	if nb > rp || na > rp-nb || nb > rs || na > rs-nb {
		return dst, errShort
	}
	// The levels go from the columns straight into the payload, laid out
	// as AppendEvent's putLevels does (price, size: u64 each). Building the
	// []Level first and encoding it was a sixth of the decoder's CPU.
	start, n := len(dst), int(nb+na)*protocol.LevelSize
	var h bookHead
	if h.set(protocol.EventType(typ[0]), sc[0], sc[1], nb, na) && h.len <= room && h.len <= cap(dst)-start {
		// A Diff or Snapshot that fits: the common case, all but a
		// damaged block's. The record's bytes are written once each,
		// with no Event in between (predictBook, AppendEventHead's
		// check, putHead and frame were a seventh of the decoder's CPU).
		dst = dst[:start+h.len]
		r := dst[start:]
		// The last 64 bytes hold all the padding: zeroed, then the
		// payload overwrites what is not padding.
		*(*[SegHeaderSize]byte)(r[h.len-SegHeaderSize:]) = [SegHeaderSize]byte{}
		h.put(r, seq, ts, exch, ctx)
		putLevels(r[SegHeaderSize+h.head:], prices, sizes, int(nb), int(na), &d.st.bid, &d.st.ask)
		if !d.noCRC {
			le.PutUint32(r[28:], crc32.ChecksumIEEE(r[SegHeaderSize:SegHeaderSize+h.head+n]))
		}
		return dst, nil
	}
	// Anything else (a Reset, a Heartbeat, a type or scale that
	// AppendEventHead refuses, a record past the block's end) takes the
	// Event's way, for the errors and bytes AppendEventHead gives.
	ev := &d.ev
	ev.Type = protocol.EventType(typ[0])
	ev.IngestTS, ev.ExchangeTS = ts, exch
	ev.PriceScale, ev.SizeScale = sc[0], sc[1]
	// AppendEventHead reads only the number of levels of ev.Bids and
	// ev.Asks, not their values.
	ev.Bids, ev.Asks = levelsLen(ev.Bids, nb), levelsLen(ev.Asks, na)
	predictBook(ev, seq, ctx)
	dst = append(dst, zeros[:]...)
	dst, err := protocol.AppendEventHead(dst, ev)
	if err != nil {
		return dst[:start], err
	}
	at := len(dst)
	dst = slices.Grow(dst, n)[:at+n]
	putLevels(dst[at:], prices, sizes, int(nb), int(na), &d.st.bid, &d.st.ask)
	return frame(dst, start, seq, ev.IngestTS, protocol.TypeBookEvent, !d.noCRC), nil
}

// bookHead is the layout of a predicted Diff or Snapshot record: what
// predictBook, AppendEventHead and frame make of it, written by put.
type bookHead struct {
	typ    protocol.EventType
	ps, ss uint8
	nb, na uint64
	head   int // the payload's BookEventHeader and body
	plen   int // the payload
	len    int // the record: message header, payload, padding
}

// set fills h for event type typ with scales ps, ss and nb+na levels, and
// reports whether the fast path takes it: a Diff or Snapshot that
// AppendEventHead accepts, with scales of at most 18 and sides of at most
// 65535 levels (a Diff's bound; a Snapshot's, 2^32-1, and the payload's
// are far above a block's size, which the caller checks h.len against).
func (h *bookHead) set(typ protocol.EventType, ps, ss uint8, nb, na uint64) bool {
	switch {
	case ps > protocol.MaxScale || ss > protocol.MaxScale || nb > protocol.MaxDiffLevels || na > protocol.MaxDiffLevels:
		return false
	case typ == protocol.Diff:
		h.head = protocol.HeaderSize + protocol.DiffBodySize
	case typ == protocol.Snapshot:
		h.head = protocol.HeaderSize + protocol.SnapshotBodySize
	default:
		return false
	}
	h.typ, h.ps, h.ss, h.nb, h.na = typ, ps, ss, nb, na
	h.plen = h.head + int(nb+na)*protocol.LevelSize
	h.len = SegHeaderSize + (h.plen+SegHeaderSize-1)&^(SegHeaderSize-1)
	return true
}

// put writes the message header (checksum 0) and the payload's head of the
// record h describes, for seq, timestamp ts, exchange time exch and the
// block's ids, at the start of r: a word at a time, each word's fields
// put together as FORMAT.md lays them out (TestBookHead compares every
// byte with predictBook, AppendEvent and frame's).
func (h *bookHead) put(r []byte, seq, ts, exch uint64, c bookCtx) {
	r = r[:SegHeaderSize+protocol.HeaderSize+protocol.DiffBodySize]
	// Message header: commit_len, pad; seq; timestamp_ns; type_id, flags,
	// checksum; reserved.
	le.PutUint64(r[0:], uint64(h.plen)+1)
	le.PutUint64(r[8:], seq)
	le.PutUint64(r[16:], ts)
	le.PutUint64(r[24:], uint64(protocol.TypeBookEvent))
	*(*[32]byte)(r[32:64]) = [32]byte{}
	// BookEventHeader: schema_version, reserved, record_len; endianness,
	// reserved, venue_id, market_id; stream_id, reserved; ingest_ts;
	// exchange_ts; seq; native_seq; event_type, book_mode, flags, reserved.
	e := r[SegHeaderSize:]
	le.PutUint64(e[0:], protocol.SchemaVersion|uint64(h.plen)<<32)
	le.PutUint64(e[8:], uint64(c.venue)<<16|uint64(c.market)<<32)
	le.PutUint64(e[16:], uint64(c.stream))
	le.PutUint64(e[24:], ts)
	le.PutUint64(e[32:], exch)
	le.PutUint64(e[40:], seq)
	le.PutUint64(e[48:], seq)
	le.PutUint64(e[56:], uint64(h.typ))
	body := e[protocol.HeaderSize:]
	if h.typ == protocol.Diff {
		// update_id_first, _last, _prev; price_scale, size_scale, flags,
		// bid_count, ask_count (u16).
		le.PutUint64(body[0:], seq)
		le.PutUint64(body[8:], seq)
		le.PutUint64(body[16:], max(seq, 1)-1)
		le.PutUint64(body[24:], uint64(h.ps)|uint64(h.ss)<<8|uint64(protocol.FlagAbsolute)<<16|h.nb<<32|h.na<<48)
		return
	}
	// Snapshot: price_scale, size_scale, reserved, bid_count, ask_count
	// (u32).
	le.PutUint64(body[0:], uint64(h.ps)|uint64(h.ss)<<8|h.nb<<32)
	le.PutUint32(body[8:], uint32(h.na))
}

// levelsLen returns l with length n; its values are left as they are.
func levelsLen(l []protocol.Level, n uint64) []protocol.Level {
	if uint64(cap(l)) < n {
		return make([]protocol.Level, n)
	}
	return l[:n]
}

// reserve gives d.raw the room the columns at src take, read from their
// headers (a damaged header reserves nothing: readCol reports it): grown
// column by column, it was copied a few times over in a decoder's first
// block, and in a short-lived process (book --at) every page of every copy
// is a page fault.
func (d *decoder) reserve(src []byte, ncols int) {
	var bytes uint64
	for range ncols {
		if len(src) < 1 {
			return
		}
		rawLen, n := binary.Uvarint(src[1:])
		if n <= 0 {
			return
		}
		stored, m := binary.Uvarint(src[1+n:])
		if m <= 0 || stored > uint64(len(src)-1-n-m) {
			return
		}
		src = src[1+n+m+int(stored):]
		bytes += rawLen
	}
	if bytes <= maxColumnsLen && uint64(cap(d.raw)) < bytes+zstdSlack {
		d.raw = make([]byte, 0, bytes+zstdSlack)
	}
}

// putLevels writes the levels of a book event, nb bids then na asks, into
// b (16 bytes each: price, size), taking the next nb+na prices and sizes
// (as readLevels does: each side's first price against *bid (*ask), each
// next one against the one before; *bid (*ask) becomes the side's first
// price when it has levels), which the caller has checked the columns
// hold. One loop for both sides: with a loop per side, its entry and exit
// (3-4 levels a side in a day of BTCUSDT) cost more than its levels.
func putLevels(b []byte, prices, sizes *rcol, nb, na int, bid, ask *uint64) {
	m := nb + na
	if m == 0 {
		return
	}
	pv, sv := avail(prices, m), avail(sizes, m)
	if len(pv) < m || len(sv) < m || nb < 0 || na < 0 || len(b) < m*protocol.LevelSize {
		return // cannot happen: the caller checked that m are left
	}
	pv, sv = pv[:m], sv[:m]
	prices.pos += m
	sizes.pos += m
	b = b[:len(pv)*protocol.LevelSize]
	p, a := *bid, *ask
	if nb > 0 {
		*bid = p + pv[0]
	}
	if na > 0 {
		*ask = a + pv[nb]
	}
	for j := 0; j < len(pv) && j < len(sv); j++ {
		if j == nb {
			p = a
		}
		p += pv[j]
		o := b[j*protocol.LevelSize : j*protocol.LevelSize+protocol.LevelSize]
		le.PutUint64(o[0:], p)
		le.PutUint64(o[8:], sv[j])
	}
}

// avail returns the decoded values of c from pos on, at least n of them
// unless fewer are left: take without its call on the common path.
func avail(c *rcol, n int) []uint64 {
	if v := c.v[c.pos-c.base:]; len(v) >= n {
		return v
	}
	return c.refill(n)
}

func (d *decoder) ext(dst []byte, cols []rcol, l *layout, seq uint64, room int) ([]byte, error) {
	r := &d.rec
	r.Reset(l.typ)
	ts, err := d.nextTS(cols)
	if err != nil {
		return dst, err
	}
	r.LocalTS = ts
	flags, ok := cols[cExtFlags].bytes(1)
	if !ok || flags[0]&^(flagExch|flagStreamSym) != 0 {
		return dst, errShort
	}
	r.StreamSymbol = flags[0]&flagStreamSym != 0
	if flags[0]&flagExch != 0 {
		z, ok := cols[cExtExch].next()
		if !ok {
			return dst, errShort
		}
		r.HasExchangeTS, r.ExchangeTS = true, z
	}
	bm, ok := cols[cExtBitmap].bytes((len(r.Fields) + 7) / 8)
	if !ok {
		return dst, errShort
	}
	for i, f := range l.typ.Fields {
		v := &r.Fields[i]
		r.Present[i] = bm[i/8]>>(i%8)&1 != 0
		switch f.Kind {
		case record.Decimal:
			s, ok := cols[cExtScales].bytes(1)
			if !ok {
				return dst, errShort
			}
			v.Scale = s[0]
		case record.Levels:
			s, ok := cols[cExtScales].bytes(2)
			if !ok {
				return dst, errShort
			}
			v.Scale, v.Scale2 = s[0], s[1]
		}
		if !r.Present[i] {
			continue
		}
		c := l.fieldCol[i]
		last := &d.st.last[i]
		switch f.Kind {
		case record.Time, record.Decimal:
			x, ok := cols[c].next()
			if !ok {
				return dst, errShort
			}
			k := d.st.keyed(i)
			if cols[c].keyed {
				x += *k
			}
			*k = x
			if f.Kind == record.Time {
				v.U = x
			} else {
				v.I = int64(x)
			}
		case record.Side, record.OptionType:
			b, ok := cols[c].bytes(1)
			if !ok {
				return dst, errShort
			}
			v.U = uint64(b[0])
		case record.String:
			ref, ok := cols[c].next()
			if !ok {
				return dst, errShort
			}
			dict := &d.dicts[i]
			id := 0
			var b []byte
			if ref >= refID {
				if ref-refID >= uint64(len(*dict)) {
					return dst, fmt.Errorf("%s: dictionary id %d of %d", f.Name, ref-refID, len(*dict))
				}
				id = int(ref - refID)
				b = (*dict)[id]
			} else {
				n, ok := cols[c+1].next()
				if !ok || n > record.MaxString {
					return dst, errShort
				}
				if b, ok = cols[c+2].bytes(int(n)); !ok {
					return dst, errShort
				}
				if ref == refAdd {
					id = len(*dict)
					*dict = append(*dict, b)
				}
			}
			if i == 0 {
				d.st.setKey(id)
			}
			v.B = append(v.B[:0], b...)
		case record.Levels:
			n, ok := cols[c].next()
			if !ok || n > record.MaxLevels || n*16 > uint64(room) {
				return dst, errShort
			}
			if v.L, err = readLevels(v.L, &cols[c+1], &cols[c+2], n, last); err != nil {
				return dst, err
			}
		}
	}
	return extRecord(dst, seq, r, !d.noCRC)
}
