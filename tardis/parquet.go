package tardis

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/chronicle-archive/chronicle/export"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
)

// Parquet rows of Tardis data: the columns of the Tardis CSV (same names,
// same order), typed. A record's decimal fields take one scale slot each
// and a Levels field two (price, then amount), in field order: for
// book_snapshot_N the slots are asks price, asks amount, bids price, bids
// amount. An empty Tardis cell is NULL: an absent field, a missing level,
// an empty string (trade and liquidation ids, underlying_index).

// RecordColumns returns the Parquet columns of records of type t: exchange
// and symbol (String), timestamp (Timestamp, nullable) and local_timestamp
// (Timestamp), then the fields after symbol in Tardis's column order:
// Decimal fields at scales[slot], Time as Timestamp, Side and OptionType
// as String, String as nullable String, and the Levels fields (asks, bids)
// interleaved per level as Tardis's asks[i].price, asks[i].amount,
// bids[i].price, bids[i].amount for i < depth, nullable. It panics if
// scales has fewer slots than t has (see RaiseScales).
func RecordColumns(t *record.Type, depth int, scales []uint8) []export.Column {
	if n := scaleSlots(t); len(scales) < n {
		panic(fmt.Sprintf("tardis: %d scales for the %d decimal slots of %s", len(scales), n, t.Name))
	}
	names := DataType{Record: t, Depth: depth}.Columns()
	cols := []export.Column{
		{Name: names[0], Kind: export.String},
		{Name: names[1], Kind: export.String},
		{Name: names[2], Kind: export.Timestamp, Nullable: true},
		{Name: names[3], Kind: export.Timestamp},
	}
	names = names[4:]
	slot := 0
	var levels []int                 // slots of the Levels fields' prices
	for _, f := range t.Fields[1:] { // Fields[0] is symbol
		c := export.Column{Nullable: f.Nullable}
		switch f.Kind {
		case record.Levels:
			levels = append(levels, slot)
			slot += 2
			continue
		case record.Decimal:
			c.Kind, c.Scale = export.Decimal, scales[slot]
			slot++
		case record.Time:
			c.Kind = export.Timestamp
		case record.Side, record.OptionType:
			c.Kind = export.String
		case record.String:
			c.Kind, c.Nullable = export.String, true
		}
		c.Name, names = names[0], names[1:]
		cols = append(cols, c)
	}
	for range depth {
		for _, s := range levels {
			for k := range 2 { // price, amount
				cols = append(cols, export.Column{Name: names[0], Kind: export.Decimal, Scale: scales[s+k], Nullable: true})
				names = names[1:]
			}
		}
	}
	return cols
}

// scaleSlots returns the number of decimal scale slots of t.
func scaleSlots(t *record.Type) int {
	n := 0
	for _, f := range t.Fields {
		switch f.Kind {
		case record.Decimal:
			n++
		case record.Levels:
			n += 2
		}
	}
	return n
}

// RaiseScales returns scales, grown to rec's type's slots, with each slot
// raised to the scale of rec's value in it: over a whole stream, the
// scales RecordColumns needs to store every value exactly.
func RaiseScales(scales []uint8, rec *record.Record) []uint8 {
	for len(scales) < scaleSlots(rec.Type) {
		scales = append(scales, 0)
	}
	slot := 0
	for i, f := range rec.Type.Fields {
		v := &rec.Fields[i]
		switch f.Kind {
		case record.Decimal:
			if rec.Present[i] || !f.Nullable {
				scales[slot] = max(scales[slot], v.Scale)
			}
			slot++
		case record.Levels:
			if len(v.L) > 0 {
				scales[slot] = max(scales[slot], v.Scale)
				scales[slot+1] = max(scales[slot+1], v.Scale2)
			}
			slot += 2
		}
	}
	return scales
}

// AppendRecordCells appends the cells of rec's row, in RecordColumns'
// order, to dst. String cells point into exchange and rec, which must not
// change until the row is written.
func AppendRecordCells(dst []export.Cell, exchange string, rec *record.Record, depth int) []export.Cell {
	fields := rec.Type.Fields
	// Cells are written in place, only their members that are not zero:
	// appending each (a 56-byte copy) took most of the time.
	n0 := len(dst)
	dst = slices.Grow(dst, 3+len(fields)+4*depth)[:n0+4] // BookSnapshot: two Levels fields
	clear(dst[n0:])
	dst[n0].B = unsafe.Slice(unsafe.StringData(exchange), len(exchange))
	dst[n0+1].B = rec.Fields[0].B
	dst[n0+2].Null, dst[n0+2].Mag = !rec.HasExchangeTS, rec.ExchangeTS
	dst[n0+3].Mag = rec.LocalTS
	var levelsBuf [2]int // BookSnapshot's asks and bids: no allocation
	levels := levelsBuf[:0]
	for i := 1; i < len(fields); i++ {
		f, v := &fields[i], &rec.Fields[i]
		if f.Kind == record.Levels {
			levels = append(levels, i)
			continue
		}
		dst = append(dst, export.Cell{})
		c := &dst[len(dst)-1]
		if f.Nullable && !rec.Present[i] {
			c.Null = true
			continue
		}
		switch f.Kind {
		case record.Decimal:
			c.Mag, c.Scale = uint64(v.I), v.Scale
			if v.I < 0 {
				c.Neg, c.Mag = true, -c.Mag
			}
		case record.Time:
			c.Mag = v.U
		case record.Side:
			c.B = sideName(v.U)
		case record.OptionType:
			c.B = optionTypeName(v.U)
		case record.String:
			c.B, c.Null = v.B, len(v.B) == 0
		}
	}
	for l := range depth {
		for _, i := range levels {
			v := &rec.Fields[i]
			if l >= len(v.L) {
				dst = append(dst, export.Cell{Null: true}, export.Cell{Null: true})
				continue
			}
			dst = append(dst,
				export.Cell{Mag: v.L[l].Price, Scale: v.Scale},
				export.Cell{Mag: v.L[l].Size, Scale: v.Scale2})
		}
	}
	return dst
}

// Tardis's spellings. A code the record codec would have refused gets no
// spelling: an empty string cell, which the writer stores as "".
var (
	sideNames       = [...][]byte{record.SideBuy: []byte("buy"), record.SideSell: []byte("sell"), record.SideUnknown: []byte("unknown")}
	optionTypeNames = [...][]byte{record.OptionCall: []byte("call"), record.OptionPut: []byte("put")}
	bookSideNames   = [2][]byte{[]byte("bid"), []byte("ask")}
)

func sideName(u uint64) []byte {
	if u < uint64(len(sideNames)) {
		return sideNames[u]
	}
	return nil
}

func optionTypeName(u uint64) []byte {
	if u < uint64(len(optionTypeNames)) {
		return optionTypeNames[u]
	}
	return nil
}

// BookColumns returns the Parquet columns of incremental_book_L2 rows:
// exchange, symbol (String), timestamp, local_timestamp (Timestamp: a
// BookEvent always has both), is_snapshot (Bool), side (String, "bid" or
// "ask"), price and amount (Decimal at the given scales).
func BookColumns(priceScale, sizeScale uint8) []export.Column {
	names := DataType{Record: record.BookEvent}.Columns()
	kinds := [...]export.Kind{export.String, export.String, export.Timestamp, export.Timestamp,
		export.Bool, export.String, export.Decimal, export.Decimal}
	cols := make([]export.Column, len(names))
	for i, n := range names {
		cols[i] = export.Column{Name: n, Kind: kinds[i]}
	}
	cols[6].Scale, cols[7].Scale = priceScale, sizeScale
	return cols
}

// bookRowCells fills the cells of ev's rows that all its levels share. It
// returns false for an event without rows: nil for a Reset or Heartbeat
// without levels, an error for any other event that is not a Snapshot or
// Diff.
func bookRowCells(cells *[8]export.Cell, exchange, symbol string, ev *protocol.Event) (bool, error) {
	var snap bool
	switch ev.Type {
	case protocol.Snapshot:
		snap = true
	case protocol.Diff:
	case protocol.Reset, protocol.Heartbeat:
		if len(ev.Bids)+len(ev.Asks) == 0 {
			return false, nil
		}
		return false, fmt.Errorf("tardis: cannot write a %v event with levels", ev.Type)
	default:
		return false, fmt.Errorf("tardis: cannot write a %v event", ev.Type)
	}
	cells[0].B = unsafe.Slice(unsafe.StringData(exchange), len(exchange))
	cells[1].B = unsafe.Slice(unsafe.StringData(symbol), len(symbol))
	cells[2].Mag = ev.ExchangeTS
	cells[3].Mag = ev.IngestTS
	cells[4].Bool = snap
	cells[6].Scale, cells[7].Scale = ev.PriceScale, ev.SizeScale
	return true, nil
}

// AppendBookRows calls emit with the cells of each row of ev, in
// BookColumns' order and in the order Writer writes them (bids, then
// asks): one row per level. Reset and Heartbeat events without levels have
// no rows; other events that are not a Snapshot or Diff are an error.
// The cells are valid only during the call to emit.
func AppendBookRows(exchange, symbol string, ev *protocol.Event, emit func(cells []export.Cell) error) error {
	var cells [8]export.Cell
	if ok, err := bookRowCells(&cells, exchange, symbol, ev); !ok {
		return err
	}
	for side, levels := range [2][]protocol.Level{ev.Bids, ev.Asks} {
		cells[5].B = bookSideNames[side]
		for _, l := range levels {
			cells[6].Mag, cells[7].Mag = l.Price, l.Size
			if err := emit(cells[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// bookVary are the columns of BookColumns that vary within an event's
// side: price and amount.
var bookVary = []int{6, 7}

// protocol.Level must be two uint64s, Price first, for WriteBookRows to
// hand a side's levels over as magnitudes without a copy.
var _ [0]struct{} = [unsafe.Sizeof(protocol.Level{}) - 16]struct{}{}
var _ [0]struct{} = [unsafe.Offsetof(protocol.Level{}.Size) - 8]struct{}{}

// WriteBookRows writes the rows of ev that AppendBookRows emits to w, a
// writer of BookColumns, with the same errors: a run per side (see
// export.ParquetWriter.WriteRun), several times faster than a WriteRow
// per level.
func WriteBookRows(w *export.ParquetWriter, exchange, symbol string, ev *protocol.Event) error {
	var cells [8]export.Cell
	if ok, err := bookRowCells(&cells, exchange, symbol, ev); !ok {
		return err
	}
	for side, levels := range [2][]protocol.Level{ev.Bids, ev.Asks} {
		if len(levels) == 0 {
			continue
		}
		cells[5].B = bookSideNames[side]
		mags := unsafe.Slice(&levels[0].Price, 2*len(levels))
		if err := w.WriteRun(cells[:], bookVary, mags); err != nil {
			return err
		}
	}
	return nil
}
