package stream

import (
	"encoding/binary"
	"slices"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/record"
)

// recordDecoder is record.Decode planned once per type: the same checks
// and the same Record, in one pass over the fields, writing each Value
// once instead of clearing them all first (record.Reset) and walking the
// field list three times. A replay decodes every record, so this is its
// largest cost after the CRC. It accepts exactly what record.Decode
// accepts: on any doubt it returns false and the caller runs record.Decode,
// which gives the error (TestRecordDecoderAgrees compares the two on every
// sample and on damaged payloads). A type it cannot plan (more than 64
// fields, a kind it does not know, a schema version it was not written
// for) always goes to record.Decode.
type recordDecoder struct {
	t      *record.Type
	fast   bool
	trade  bool   // t has the shape of record.Trade: decodeTrade
	nb     int    // presence bitmap bytes
	all    uint64 // a bit per field
	need   uint64 // the fields that are not nullable
	scales int    // scale bytes
	fields []fieldPlan
	// sym is the stream's symbol (meta.json), which decodeTrade gives a
	// record that takes it from the stream.
	sym string
}

type fieldPlan struct {
	kind   record.Kind
	signed bool
	scale  int8 // index of its first scale byte, -1 for none
	two    bool // two scale bytes (Levels)
}

// The codes record.Decode accepts, from record's own names for them.
var sideOK, optionOK = func() (s, o [256]bool) {
	for c := range 256 {
		s[c] = record.SideName(uint64(c)) != ""
		o[c] = record.OptionTypeName(uint64(c)) != ""
	}
	return
}()

// payloadSchema is the RecordHeader schema_version this decoder reads.
const payloadSchema = 1

func newRecordDecoder(t *record.Type) *recordDecoder {
	d := &recordDecoder{t: t}
	nf := len(t.Fields)
	if t.Reference || nf > 64 || record.SchemaVersion != payloadSchema || record.HeaderSize != 24 {
		return d
	}
	d.nb = (nf + 7) / 8
	for i, f := range t.Fields {
		d.all |= 1 << i
		if !f.Nullable {
			d.need |= 1 << i
		}
		fp := fieldPlan{kind: f.Kind, signed: f.Signed, scale: -1}
		switch f.Kind {
		case record.Decimal:
			fp.scale = int8(d.scales)
			d.scales++
		case record.Levels:
			fp.scale, fp.two = int8(d.scales), true
			d.scales += 2
		case record.Time, record.Side, record.OptionType, record.String:
		default:
			return d
		}
		if d.scales > 127 {
			return d
		}
		d.fields = append(d.fields, fp)
	}
	d.fast = true
	d.trade = slices.Equal(t.Fields, tradeShape)
	return d
}

// tradeShape is the field list decodeTrade is written for: record.Trade's
// at the time of writing. A type whose list is another (Trade's included,
// if it changes) takes the general path.
var tradeShape = []record.Field{
	{Name: "symbol", Kind: record.String},
	{Name: "id", Kind: record.String},
	{Name: "side", Kind: record.Side},
	{Name: "price", Kind: record.Decimal},
	{Name: "amount", Kind: record.Decimal},
}

// decode decodes p into r as record.Decode(d.t, p, r) does, or returns
// false (r is then unspecified) for record.Decode to say what is wrong.
func (d *recordDecoder) decode(p []byte, r *record.Record) bool {
	if !d.fast || len(p) < 24 {
		return false
	}
	if d.trade {
		return d.decodeTrade(p, r)
	}
	le := binary.LittleEndian
	flags := le.Uint16(p[2:])
	ets := le.Uint64(p[16:])
	if le.Uint16(p) != payloadSchema || flags&^3 != 0 || uint64(le.Uint32(p[4:])) != uint64(len(p)) ||
		flags&1 == 0 && ets != 0 {
		return false
	}
	// flags bit 1: the symbol (field 0) is the stream's, its bit clear.
	streamSym := flags&2 != 0
	need, all := d.need, d.all
	if streamSym {
		if !d.t.HasSymbol() {
			return false
		}
		need, all = need&^1, all&^1
	}
	off := 24
	if len(p)-off < d.nb+d.scales {
		return false
	}
	var bm uint64
	for j := range d.nb {
		bm |= uint64(p[off+j]) << (8 * j)
	}
	if bm&^all != 0 || need&^bm != 0 {
		return false
	}
	off += d.nb
	sc := p[off : off+d.scales]
	off += d.scales
	nf := len(d.fields)
	r.Type, r.LocalTS, r.ExchangeTS, r.HasExchangeTS = d.t, le.Uint64(p[8:]), ets, flags&1 != 0
	r.StreamSymbol = streamSym
	if cap(r.Fields) < nf || cap(r.Present) < nf {
		r.Fields, r.Present = make([]record.Value, nf), make([]bool, nf)
	}
	r.Fields, r.Present = r.Fields[:nf], r.Present[:nf]
	for i := range d.fields {
		fp := &d.fields[i]
		v := &r.Fields[i]
		present := bm>>i&1 != 0
		r.Present[i] = present
		v.U, v.I, v.Scale, v.Scale2 = 0, 0, 0, 0
		// Emptied only when not empty: a slice store costs a write
		// barrier check, and only String and Levels fields ever fill them.
		if len(v.B) != 0 {
			v.B = v.B[:0]
		}
		if len(v.L) != 0 {
			v.L = v.L[:0]
		}
		if fp.scale >= 0 {
			s := sc[fp.scale]
			if s > decimal.MaxScale || s != 0 && !present {
				return false
			}
			v.Scale = s
			if fp.two {
				s2 := sc[fp.scale+1]
				if s2 > decimal.MaxScale || s2 != 0 && !present {
					return false
				}
				v.Scale2 = s2
			}
		}
		if !present {
			continue
		}
		switch fp.kind {
		case record.Time:
			if len(p)-off < 8 {
				return false
			}
			v.U = le.Uint64(p[off:])
			off += 8
		case record.Decimal:
			if len(p)-off < 8 {
				return false
			}
			v.I = int64(le.Uint64(p[off:]))
			if v.I < 0 && !fp.signed {
				return false
			}
			off += 8
		case record.Side, record.OptionType:
			if len(p)-off < 1 {
				return false
			}
			c := p[off]
			if fp.kind == record.Side && !sideOK[c] || fp.kind == record.OptionType && !optionOK[c] {
				return false
			}
			v.U = uint64(c)
			off++
		case record.String:
			if len(p)-off < 2 {
				return false
			}
			n := int(le.Uint16(p[off:]))
			off += 2
			if len(p)-off < n {
				return false
			}
			if cap(v.B) >= n {
				v.B = v.B[:n]
				copy(v.B, p[off:off+n])
			} else {
				v.B = append(v.B, p[off:off+n]...)
			}
			off += n
		case record.Levels:
			if len(p)-off < 2 {
				return false
			}
			n := int(le.Uint16(p[off:]))
			off += 2
			if (len(p)-off)/16 < n {
				return false
			}
			for range n {
				v.L = append(v.L, record.Level{Price: le.Uint64(p[off:]), Size: le.Uint64(p[off+8:])})
				off += 16
			}
		}
	}
	return off == len(p)
}

// decodeTrade is decode for tradeShape written out: trades are most of
// what a replay reads, and the general loop's per-field branches cost
// twice the work itself. The checks are the general ones for this shape:
// every field present (none is nullable), two scales, two strings, a side
// code, two unsigned mantissas, nothing after.
func (d *recordDecoder) decodeTrade(p []byte, r *record.Record) bool {
	le := binary.LittleEndian
	const fixed = 24 + 1 + 2 // RecordHeader, bitmap, scales
	if len(p) < fixed+2 {
		return false
	}
	flags, ets := le.Uint16(p[2:]), le.Uint64(p[16:])
	// flags bit 1: the symbol is the stream's, its presence bit clear
	// and no bytes.
	streamSym := flags&2 != 0
	bitmap := byte(0x1f)
	if streamSym {
		bitmap = 0x1e
	}
	if le.Uint16(p) != payloadSchema || flags&^3 != 0 || uint64(le.Uint32(p[4:])) != uint64(len(p)) ||
		flags&1 == 0 && ets != 0 || p[24] != bitmap || p[25] > decimal.MaxScale || p[26] > decimal.MaxScale {
		return false
	}
	off := fixed
	var sym []byte
	if !streamSym {
		n1 := int(le.Uint16(p[off:]))
		off += 2
		if len(p)-off < n1+2 {
			return false
		}
		sym = p[off : off+n1]
		off += n1
	}
	n2 := int(le.Uint16(p[off:]))
	off += 2
	if len(p)-off != n2+17 { // the id, side, price and amount, and nothing after
		return false
	}
	id := p[off : off+n2]
	q := p[off+n2:]
	q = q[:17] // one bounds check for the three fields
	side, price, amount := q[0], int64(le.Uint64(q[1:9])), int64(le.Uint64(q[9:17]))
	if !sideOK[side] || price < 0 || amount < 0 {
		return false
	}
	r.Type, r.LocalTS, r.ExchangeTS, r.HasExchangeTS = d.t, le.Uint64(p[8:]), ets, flags&1 != 0
	r.StreamSymbol = streamSym
	if cap(r.Fields) < 5 || cap(r.Present) < 5 {
		r.Fields, r.Present = make([]record.Value, 5), make([]bool, 5)
	}
	r.Fields, r.Present = r.Fields[:5], r.Present[:5]
	pr := r.Present[:5:5]
	pr[0], pr[1], pr[2], pr[3], pr[4] = !streamSym, true, true, true, true
	// Field by field rather than a loop: each writes only what its kind
	// holds, and the B and L slices are emptied only when not empty (a
	// slice store costs a write barrier check).
	f := r.Fields[:5:5]
	f0, f1, f2, f3, f4 := &f[0], &f[1], &f[2], &f[3], &f[4]
	f0.U, f0.I, f0.Scale, f0.Scale2 = 0, 0, 0, 0
	f1.U, f1.I, f1.Scale, f1.Scale2 = 0, 0, 0, 0
	f2.U, f2.I, f2.Scale, f2.Scale2 = uint64(side), 0, 0, 0
	f3.U, f3.I, f3.Scale, f3.Scale2 = 0, price, p[25], 0
	f4.U, f4.I, f4.Scale, f4.Scale2 = 0, amount, p[26], 0
	if streamSym {
		// The stream's symbol, as Record.SetSymbol would set it (with
		// none, the caller refuses the record).
		// Field 0 usually holds it already, from the trade before:
		// comparing costs less than copying and storing the slice.
		if string(f0.B) != d.sym {
			f0.B = append(f0.B[:0], d.sym...)
		}
		pr[0] = d.sym != ""
	} else {
		setBytes(&f0.B, sym)
	}
	setBytes(&f1.B, id)
	if len(f2.B)|len(f3.B)|len(f4.B) != 0 {
		f2.B, f3.B, f4.B = f2.B[:0], f3.B[:0], f4.B[:0]
	}
	if len(f0.L)|len(f1.L)|len(f2.L)|len(f3.L)|len(f4.L) != 0 {
		f0.L, f1.L, f2.L, f3.L, f4.L = f0.L[:0], f1.L[:0], f2.L[:0], f3.L[:0], f4.L[:0]
	}
	return true
}

// setBytes makes *dst a copy of b, in its own buffer.
func setBytes(dst *[]byte, b []byte) {
	if cap(*dst) >= len(b) {
		*dst = (*dst)[:len(b)]
		copy(*dst, b)
		return
	}
	*dst = append((*dst)[:0], b...)
}
