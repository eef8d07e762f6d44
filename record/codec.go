package record

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/chronicle-archive/chronicle/decimal"
)

// Errors of the codec. A decode error means the payload is damaged (or not
// of the type); callers wrap it with the file and offset.
var (
	ErrMalformed = errors.New("record: malformed payload")
	ErrValue     = errors.New("record: value cannot be stored")
)

// HeaderSize is the size of the RecordHeader that starts every extension
// payload.
const HeaderSize = 24

// SchemaVersion is the RecordHeader schema_version of the layouts in
// docs/FORMAT.md.
const SchemaVersion = 1

// RecordHeader flags. Bit 0: exchange_ts_ns is present. Bit 1: the
// record takes its symbol from its stream (see Record.StreamSymbol): field
// 0's presence bit is clear and it has no bytes.
const (
	flagExchangeTS   = 1
	flagStreamSymbol = 2
)

var le = binary.LittleEndian

// Append appends the payload of r (of r.Type, not BookEvent) to dst. It
// checks what the layout cannot hold (a String over MaxString, Levels over
// MaxLevels, a scale above 18, a negative value in an unsigned field, a
// missing non-nullable field, an enum code that is not defined) and returns
// an error wrapping ErrValue, with dst unchanged. The values of absent
// fields, and ExchangeTS when !HasExchangeTS, are ignored. A record that
// takes its symbol from its stream (StreamSymbol) is written with flags
// bit 1 and no symbol, whatever field 0 holds.
// Append does not allocate when dst has room.
func Append(dst []byte, r *Record) ([]byte, error) {
	t := r.Type
	if t == nil || t.Reference {
		return dst, fmt.Errorf("%w: %s is not a record-table payload", ErrValue, typeName(t))
	}
	if len(r.Fields) != len(t.Fields) || len(r.Present) != len(t.Fields) {
		return dst, fmt.Errorf("%w: %s: %d values and %d presence flags for %d fields (use Reset)",
			ErrValue, t.Name, len(r.Fields), len(r.Present), len(t.Fields))
	}
	nf := len(t.Fields)
	nb := (nf + 7) / 8
	nsc := 0
	for i := range t.Fields {
		nsc += scaleBytes(t.Fields[i].Kind)
	}
	// One pass: the bitmap and scales sit at fixed offsets after the
	// header, the values are appended behind them in field order.
	start := len(dst)
	bm := start + HeaderSize
	sc := bm + nb
	for n := HeaderSize + nb + nsc; n > 0; n -= len(zeros) {
		dst = append(dst, zeros[:min(n, len(zeros))]...)
	}
	var flags uint16
	if r.HasExchangeTS {
		flags = flagExchangeTS
		le.PutUint64(dst[start+16:], r.ExchangeTS)
	}
	if r.StreamSymbol {
		if !t.HasSymbol() {
			return dst[:start], fmt.Errorf("%w: %s: a stream symbol, but the type has no symbol field", ErrValue, t.Name)
		}
		flags |= flagStreamSymbol
	}
	le.PutUint16(dst[start:], SchemaVersion)
	le.PutUint16(dst[start+2:], flags)
	le.PutUint64(dst[start+8:], r.LocalTS)
	for i := range t.Fields {
		f := &t.Fields[i]
		v := &r.Fields[i]
		if i == 0 && r.StreamSymbol {
			continue // bit clear, no bytes
		}
		if !r.Present[i] {
			if !f.Nullable {
				return dst[:start], valueErr(t, *f, "missing (the field is not nullable)")
			}
			sc += scaleBytes(f.Kind) // an absent field's scales stay 0
			continue
		}
		dst[bm+i/8] |= 1 << (i % 8)
		switch f.Kind {
		case Time:
			dst = le.AppendUint64(dst, v.U)
		case Decimal:
			if v.Scale > decimal.MaxScale {
				return dst[:start], valueErr(t, *f, "scale %d above %d", v.Scale, decimal.MaxScale)
			}
			if v.I < 0 && !f.Signed {
				return dst[:start], valueErr(t, *f, "negative mantissa %d in an unsigned field", v.I)
			}
			dst[sc] = v.Scale
			sc++
			dst = le.AppendUint64(dst, uint64(v.I))
		case Side:
			if SideName(v.U) == "" {
				return dst[:start], valueErr(t, *f, "side code %d is not buy (1), sell (2) or unknown (3)", v.U)
			}
			dst = append(dst, byte(v.U))
		case OptionType:
			if OptionTypeName(v.U) == "" {
				return dst[:start], valueErr(t, *f, "option type code %d is not call (1) or put (2)", v.U)
			}
			dst = append(dst, byte(v.U))
		case String:
			if len(v.B) > MaxString {
				return dst[:start], valueErr(t, *f, "%d bytes, more than %d", len(v.B), MaxString)
			}
			dst = le.AppendUint16(dst, uint16(len(v.B)))
			dst = append(dst, v.B...)
		case Levels:
			if v.Scale > decimal.MaxScale || v.Scale2 > decimal.MaxScale {
				return dst[:start], valueErr(t, *f, "scales %d/%d above %d", v.Scale, v.Scale2, decimal.MaxScale)
			}
			if len(v.L) > MaxLevels {
				return dst[:start], valueErr(t, *f, "%d levels, more than %d", len(v.L), MaxLevels)
			}
			dst[sc], dst[sc+1] = v.Scale, v.Scale2
			sc += 2
			dst = le.AppendUint16(dst, uint16(len(v.L)))
			for _, l := range v.L {
				dst = le.AppendUint64(dst, l.Price)
				dst = le.AppendUint64(dst, l.Size)
			}
		default:
			return dst[:start], valueErr(t, *f, "unknown kind %d", f.Kind)
		}
	}
	le.PutUint32(dst[start+4:], uint32(len(dst)-start))
	return dst, nil
}

// zeros fills the header, bitmap and scales before they are set.
var zeros [64]byte

// scaleBytes is how many scale bytes a field of kind k has.
func scaleBytes(k Kind) int {
	switch k {
	case Decimal:
		return 1
	case Levels:
		return 2
	}
	return 0
}

// Decode decodes a payload of type t into r, reusing r's buffers. It checks
// everything the layout implies (schema version, record_len equal to the
// payload length, enum codes, signs, scales, lengths) and returns an error
// wrapping ErrMalformed (r's contents are then unspecified). The encoding
// is canonical: when Decode succeeds, Append(nil, r) returns exactly
// payload. Decode does not allocate once r's buffers have grown.
func Decode(t *Type, payload []byte, r *Record) error {
	if t.Reference {
		return fmt.Errorf("%w: %s is decoded by package protocol", ErrMalformed, t.Name)
	}
	r.Reset(t)
	p := payload
	if len(p) < HeaderSize {
		return malformed(t, 0, "%d bytes, shorter than the %d-byte header", len(p), HeaderSize)
	}
	if v := le.Uint16(p); v != SchemaVersion {
		return malformed(t, 0, "schema_version %d, want %d", v, SchemaVersion)
	}
	flags := le.Uint16(p[2:])
	if flags&^(flagExchangeTS|flagStreamSymbol) != 0 {
		return malformed(t, 2, "flags %#04x: undefined bits set", flags)
	}
	r.StreamSymbol = flags&flagStreamSymbol != 0
	if r.StreamSymbol && !t.HasSymbol() {
		return malformed(t, 2, "flags %#04x: a stream symbol, but the type has no symbol field", flags)
	}
	if n := le.Uint32(p[4:]); uint64(n) != uint64(len(p)) {
		return malformed(t, 4, "record_len %d, payload is %d bytes", n, len(p))
	}
	r.LocalTS = le.Uint64(p[8:])
	r.ExchangeTS = le.Uint64(p[16:])
	r.HasExchangeTS = flags&flagExchangeTS != 0
	if !r.HasExchangeTS && r.ExchangeTS != 0 {
		return malformed(t, 16, "exchange_ts_ns %d while flagged absent", r.ExchangeTS)
	}
	off := HeaderSize
	nf := len(t.Fields)
	nb := (nf + 7) / 8
	if len(p)-off < nb {
		return malformed(t, off, "truncated presence bitmap")
	}
	bitmap := p[off : off+nb]
	if nf%8 != 0 && bitmap[nb-1]>>(nf%8) != 0 {
		return malformed(t, off+nb-1, "presence bitmap: bits beyond field %d set", nf-1)
	}
	for i, f := range t.Fields {
		r.Present[i] = bitmap[i/8]>>(i%8)&1 != 0
		switch {
		case i == 0 && r.StreamSymbol:
			if r.Present[0] {
				return malformed(t, off, "%s: present, but flags say it is the stream's", f.Name)
			}
		case !r.Present[i] && !f.Nullable:
			return malformed(t, off+i/8, "%s: absent, but it is not nullable", f.Name)
		}
	}
	off += nb
	for i, f := range t.Fields {
		var n int
		switch f.Kind {
		case Decimal:
			n = 1
		case Levels:
			n = 2
		default:
			continue
		}
		if len(p)-off < n {
			return malformed(t, off, "%s: truncated scale", f.Name)
		}
		for j := range n {
			s := p[off+j]
			if s > decimal.MaxScale {
				return malformed(t, off+j, "%s: scale %d above %d", f.Name, s, decimal.MaxScale)
			}
			if s != 0 && !r.Present[i] {
				return malformed(t, off+j, "%s: scale %d for an absent field", f.Name, s)
			}
		}
		r.Fields[i].Scale = p[off]
		if n == 2 {
			r.Fields[i].Scale2 = p[off+1]
		}
		off += n
	}
	for i, f := range t.Fields {
		if !r.Present[i] {
			continue
		}
		v := &r.Fields[i]
		switch f.Kind {
		case Time, Decimal:
			if len(p)-off < 8 {
				return malformed(t, off, "%s: truncated", f.Name)
			}
			v.U = le.Uint64(p[off:])
			if f.Kind == Decimal {
				v.I, v.U = int64(v.U), 0
				if v.I < 0 && !f.Signed {
					return malformed(t, off, "%s: negative mantissa %d in an unsigned field", f.Name, v.I)
				}
			}
			off += 8
		case Side, OptionType:
			if len(p)-off < 1 {
				return malformed(t, off, "%s: truncated", f.Name)
			}
			v.U = uint64(p[off])
			if f.Kind == Side && SideName(v.U) == "" || f.Kind == OptionType && OptionTypeName(v.U) == "" {
				return malformed(t, off, "%s: undefined code %d", f.Name, v.U)
			}
			off++
		case String:
			if len(p)-off < 2 {
				return malformed(t, off, "%s: truncated length", f.Name)
			}
			n := int(le.Uint16(p[off:]))
			off += 2
			if len(p)-off < n {
				return malformed(t, off, "%s: %d bytes, %d left", f.Name, n, len(p)-off)
			}
			v.B = append(v.B, p[off:off+n]...)
			off += n
		case Levels:
			if len(p)-off < 2 {
				return malformed(t, off, "%s: truncated count", f.Name)
			}
			n := int(le.Uint16(p[off:]))
			off += 2
			if (len(p)-off)/16 < n {
				return malformed(t, off, "%s: %d levels, %d bytes left", f.Name, n, len(p)-off)
			}
			for range n {
				v.L = append(v.L, Level{Price: le.Uint64(p[off:]), Size: le.Uint64(p[off+8:])})
				off += 16
			}
		default:
			return malformed(t, off, "%s: unknown kind %d", f.Name, f.Kind)
		}
	}
	if off != len(p) {
		return malformed(t, off, "%d trailing bytes", len(p)-off)
	}
	return nil
}

// HasSymbol tells whether field 0 of t is the String "symbol", which a
// record may take from its stream (Record.StreamSymbol). Every extension
// type of the table has one.
func (t *Type) HasSymbol() bool {
	return !t.Reference && len(t.Fields) > 0 && t.Fields[0].Name == "symbol" && t.Fields[0].Kind == String
}

// SetSymbol sets r's symbol field (field 0, see HasSymbol) to sym and marks
// it present: a reader fills in the stream's symbol (meta.json "symbol")
// of a record Decode returned with StreamSymbol set. StreamSymbol stays
// set, so Append still gives the stored bytes.
func (r *Record) SetSymbol(sym string) {
	r.Fields[0].B = append(r.Fields[0].B[:0], sym...)
	r.Present[0] = true
}

// SideName returns the Tardis spelling of a side code ("buy", "sell",
// "unknown"), or "" for a code that is not defined.
func SideName(code uint64) string {
	switch code {
	case SideBuy:
		return "buy"
	case SideSell:
		return "sell"
	case SideUnknown:
		return "unknown"
	}
	return ""
}

// OptionTypeName returns the Tardis spelling of an option-type code
// ("call", "put"), or "" for a code that is not defined.
func OptionTypeName(code uint64) string {
	switch code {
	case OptionCall:
		return "call"
	case OptionPut:
		return "put"
	}
	return ""
}

func typeName(t *Type) string {
	if t == nil {
		return "a record without a type"
	}
	return t.Name
}

// valueErr reports a value Append cannot store, naming type and field.
func valueErr(t *Type, f Field, format string, args ...any) error {
	return fmt.Errorf("%w: %s.%s: %s", ErrValue, t.Name, f.Name, fmt.Sprintf(format, args...))
}

// malformed reports damage at payload offset off.
func malformed(t *Type, off int, format string, args ...any) error {
	return fmt.Errorf("%w: %s @%d: %s", ErrMalformed, t.Name, off, fmt.Sprintf(format, args...))
}
