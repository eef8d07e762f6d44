// Package record is the closed table of the record types Chronicle stores:
// each type's id (the segment message header's type_id), its name (as
// meta.json records it), its fields, and one codec for all of them.
//
// The reference's BookEvent (0x1000) keeps its own layout and codec in
// package protocol; this table lists it so that tools can dispatch on every
// stored type in one place. Every other type is a Chronicle extension whose
// payload is laid out by its field list (docs/FORMAT.md, "Record payloads"):
// a 24-byte RecordHeader, a presence bitmap, scale bytes (one per decimal
// field, two per levels field), then the present fields in order. Adding a type is adding its
// file here (a Type with its fields) and a row in the table below.
//
// The package knows nothing of Tardis, books or storage: the tardis package
// maps CSV columns to these fields, segment frames the payloads.
package record

import (
	"github.com/chronicle-archive/chronicle/protocol"
)

// Kind is the kind of a field.
type Kind uint8

// Field kinds. These values are part of no on-disk layout (the layout is
// derived from the field list), but their encodings are:
const (
	// Time: u64 nanoseconds since the Unix epoch (Tardis µs × 1000).
	Time Kind = iota + 1
	// Decimal: fixed point, an i64 mantissa m meaning m × 10^-scale, with
	// the scale stored per record and field. Unsigned fields refuse m < 0.
	Decimal
	// Side: u8, SideBuy, SideSell or SideUnknown.
	Side
	// OptionType: u8, OptionCall or OptionPut.
	OptionType
	// String: u16 length, then the bytes (at most MaxString), verbatim.
	String
	// Levels: u16 count, then count × (u64 price, u64 amount), unsigned
	// fixed point at the field's two scales (price, amount).
	Levels
)

// Side and option-type codes.
const (
	SideBuy     = 1
	SideSell    = 2
	SideUnknown = 3

	OptionCall = 1
	OptionPut  = 2
)

// MaxString is the longest String value.
const MaxString = 65535

// MaxLevels is the most levels one Levels field holds.
const MaxLevels = 65535

// Field describes one field of a record type.
type Field struct {
	Name     string // its JSON key, and the Tardis column name where one exists
	Kind     Kind
	Nullable bool // may be absent (an empty Tardis cell); Strings are never absent, only empty
	Signed   bool // Decimal: may be negative (funding rates, greeks)
}

// Type is one row of the record-type table.
type Type struct {
	ID     uint16 // segment message header type_id
	Name   string // meta.json record_type
	Fields []Field
	// Reference is true for the reference's own payload (BookEvent), whose
	// codec lives in package protocol; Fields is then empty.
	Reference bool
}

// Level is an unsigned (price, amount) pair of a Levels field.
type Level = protocol.Level

// Value is one field of a Record. Which members are meaningful depends on
// the field's kind; buffers (B, L) are reused by Decode.
type Value struct {
	U      uint64  // Time (ns), Side, OptionType
	I      int64   // Decimal mantissa
	Scale  uint8   // Decimal scale; Levels price scale
	Scale2 uint8   // Levels amount scale
	B      []byte  // String
	L      []Level // Levels
}

// Record is a decoded record of a table type other than BookEvent. Decode
// fills it in place, reusing its buffers, so reading allocates nothing per
// record once the buffers have grown.
type Record struct {
	Type       *Type
	LocalTS    uint64 // ns; equals the message header's timestamp_ns
	ExchangeTS uint64 // ns; meaningful when HasExchangeTS
	// HasExchangeTS is false when the Tardis timestamp cell was empty.
	HasExchangeTS bool
	// StreamSymbol: the record takes its symbol from its stream and stores
	// none (RecordHeader flags bit 1), as an importer writes the records of
	// a one-symbol file, where every row repeats it. Decode then leaves the
	// symbol field absent for the reader to fill in (SetSymbol); Append
	// ignores field 0. Only for types with a symbol field (HasSymbol).
	StreamSymbol bool
	// Present[i] tells whether Fields[i] is present (always true for a
	// field that is not Nullable).
	Present []bool
	Fields  []Value
}

// Reset sizes r for t, keeping its buffers.
func (r *Record) Reset(t *Type) {
	r.Type = t
	r.LocalTS, r.ExchangeTS, r.HasExchangeTS, r.StreamSymbol = 0, 0, false, false
	n := len(t.Fields)
	if cap(r.Fields) < n {
		r.Fields = make([]Value, n)
		r.Present = make([]bool, n)
	}
	r.Fields, r.Present = r.Fields[:n], r.Present[:n]
	for i := range r.Fields {
		v := &r.Fields[i]
		v.U, v.I, v.Scale, v.Scale2 = 0, 0, 0, 0
		// Emptied only when not empty: a slice store has a write-barrier
		// check, and this runs for every field of every row.
		if len(v.B) != 0 {
			v.B = v.B[:0]
		}
		if len(v.L) != 0 {
			v.L = v.L[:0]
		}
	}
	clear(r.Present)
}

// Field returns the index of the field named name, or -1.
func (t *Type) Field(name string) int {
	for i, f := range t.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// The table. Type ids 0x1000-0x1002 are the reference's; Chronicle's
// extensions start at 0x2001. The ids and field lists are part of the
// on-disk format: never renumber, reorder or change a field; a new layout
// is a new type.
var table = []*Type{
	BookEvent,
	Trade,
	Quote,
	BookTicker,
	BookSnapshot,
	DerivativeTicker,
	Liquidation,
	OptionsChain,
}

// BookEvent is the reference's L2 book event (package protocol).
var BookEvent = &Type{ID: protocol.TypeBookEvent, Name: "book_event", Reference: true}

// All returns the table, in type-id order.
func All() []*Type { return table }

// ByID returns the type with the given id.
func ByID(id uint16) (*Type, bool) {
	for _, t := range table {
		if t.ID == id {
			return t, true
		}
	}
	return nil, false
}

// ByName returns the type with the given meta.json name.
func ByName(name string) (*Type, bool) {
	for _, t := range table {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}

// ScaleNames names the scale slots of t in order, as meta.json's scales
// keys: a Decimal field's name, and "<name>.price", "<name>.amount" for a
// Levels field.
func (t *Type) ScaleNames() []string {
	var out []string
	for _, f := range t.Fields {
		switch f.Kind {
		case Decimal:
			out = append(out, f.Name)
		case Levels:
			out = append(out, f.Name+".price", f.Name+".amount")
		}
	}
	return out
}
