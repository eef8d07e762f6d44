package tardis

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/record"
)

// Errors of RecordReader, wrapped by ParseError. Errors about numbers wrap
// the decimal package's (ErrSyntax, ErrNegative for a '-' in an unsigned
// field, ErrPrecision, ErrRange), and times wrap ErrNotInteger or
// ErrTimeRange.
var (
	ErrRequired    = errors.New("empty, but the field is required")
	ErrRecordSide  = errors.New("side must be buy, sell or unknown")
	ErrOptionType  = errors.New("type must be call or put")
	ErrStringLong  = errors.New("longer than 65535 bytes")
	ErrLevelGap    = errors.New("a level after an empty one")
	ErrHalfLevel   = errors.New("price and amount must be both set or both empty")
	ErrDeeperFile  = errors.New("more levels than the data type's depth")
	errNotARecord  = errors.New("incremental_book_L2 is read by EventReader (Open), not RecordReader")
	errDepthRange  = fmt.Errorf("book snapshot depth out of range 1..%d", record.MaxLevels)
	errUnknownType = errors.New("data type has no record mapping")
)

// RecordOptions configure a RecordReader.
type RecordOptions struct {
	// Grouped is for files that hold many instruments (GroupedSymbol of
	// the file name's symbol): each row keeps its own symbol instead of
	// having to repeat the first row's. options_chain is always grouped.
	Grouped bool
	// Hash, when set, receives the raw input bytes as they are read, as
	// Options.Hash does for EventReader.
	Hash io.Writer
	// StreamSymbol, for a file that is not grouped, sets each record's
	// StreamSymbol instead of copying its symbol into it: an importer that
	// stores the symbol once for the stream (meta.json) needs no copy per
	// row. Every row's symbol is checked as always; Symbol returns it.
	StreamSymbol bool
}

// RecordReader reads the rows of a Tardis CSV file of one data type (any
// but incremental_book_L2) as records, one per row, allocating nothing per
// row once rec's buffers have grown.
//
// Columns are found by name, in any order; columns it does not know are
// ignored, as EventReader ignores them. exchange must be the same on every
// row, and so must symbol unless the file is grouped.
//
// Scales: each decimal's scale is the larger of what its value needs and
// the previous record's scale for that field, so scales never go down and
// a stream normally has one scale per field; a value that does not fit at
// that scale is an error. Book snapshot levels share one price and one
// amount scale across both sides.
type RecordReader struct {
	c        *csvReader
	dt       DataType
	grouped  bool
	sameSym  bool // !grouped && StreamSymbol: records take the stream's symbol
	exchCol  int
	tsCol    int
	locCol   int
	cols     []int   // the CSV column of each record field (cols[0]: symbol)
	slot     []int   // each Decimal field's index in scales, -1 for others
	scales   []uint8 // per scale slot, the current (and largest) scale
	snap     snapCols
	std      bool // generic type, header exactly Columns(): rows take fastRow
	slowOnly bool // tests: parse every row the general way

	first       bool
	exch, sym   []byte
	exchS, symS string
	rows        int64
	err         error
}

// OpenRecords opens a Tardis CSV file of type dt, gzipped or not (as
// Open), and reads its header. Errors name the file as path.
func OpenRecords(path string, dt DataType, opts RecordOptions) (*RecordReader, error) {
	if err := checkRecordType(dt); err != nil {
		return nil, &ParseError{File: path, Err: err}
	}
	c, err := openCSV(path, path, opts.Hash)
	if err != nil {
		return nil, err
	}
	return newRecordReader(c, dt, opts)
}

// NewRecordReader reads uncompressed Tardis CSV of type dt from r; name is
// the file name in errors. It reads the header before returning.
func NewRecordReader(r io.Reader, name string, dt DataType, opts RecordOptions) (*RecordReader, error) {
	if err := checkRecordType(dt); err != nil {
		return nil, &ParseError{File: name, Err: err}
	}
	c, err := newCSVReader(r, name)
	if err != nil {
		return nil, err
	}
	return newRecordReader(c, dt, opts)
}

func checkRecordType(dt DataType) error {
	switch {
	case dt.IsBook():
		return errNotARecord
	case dt.Record == nil:
		return errUnknownType
	case dt.Record == record.BookSnapshot && (dt.Depth < 1 || dt.Depth > record.MaxLevels):
		return errDepthRange
	}
	return nil
}

func newRecordReader(c *csvReader, dt DataType, opts RecordOptions) (*RecordReader, error) {
	r := &RecordReader{c: c, dt: dt, grouped: opts.Grouped || dt.Record == record.OptionsChain}
	r.sameSym = opts.StreamSymbol && !r.grouped && dt.Record.HasSymbol()
	cols, err := r.mapColumns()
	if err != nil {
		c.Close()
		return nil, err
	}
	r.exchCol, r.tsCol, r.locCol = cols[0], cols[2], cols[3]
	if dt.Depth > 0 {
		for _, name := range [2]string{levelColumn(levelColumns[0], dt.Depth), levelColumn(levelColumns[2], dt.Depth)} {
			if c.Column(name) >= 0 {
				c.Close()
				return nil, &ParseError{File: c.name, Line: 1, Err: deeperError{name, dt.Name}}
			}
		}
		r.cols = cols[1:2]
		r.snap = newSnapCols(cols[4:], dt.Depth)
		r.scales = make([]uint8, 2) // price, amount
		return r, nil
	}
	// Record fields follow exchange, symbol, timestamp, local_timestamp
	// in Columns(), symbol being Fields[0].
	r.cols = append([]int{cols[1]}, cols[4:]...)
	r.std = len(c.Header()) == len(cols)
	for i, col := range cols {
		r.std = r.std && col == i
	}
	r.slot = make([]int, len(dt.Record.Fields))
	for i, f := range dt.Record.Fields {
		r.slot[i] = -1
		if f.Kind == record.Decimal {
			r.slot[i] = len(r.scales)
			r.scales = append(r.scales, 0)
		}
	}
	return r, nil
}

// mapColumns returns the CSV column of each of dt.Columns().
func (r *RecordReader) mapColumns() ([]int, error) {
	want := r.dt.Columns()
	index := make(map[string]int, len(want))
	for i, name := range want {
		index[name] = i
	}
	cols := make([]int, len(want))
	for i := range cols {
		cols[i] = -1
	}
	for col, h := range r.c.Header() {
		i, ok := index[h]
		if !ok {
			continue
		}
		if cols[i] >= 0 {
			return nil, &ParseError{File: r.c.name, Line: 1, Field: h, Err: ErrDuplicateColumn}
		}
		cols[i] = col
	}
	for i, col := range cols {
		if col < 0 {
			return nil, &ParseError{File: r.c.name, Line: 1, Field: want[i], Err: ErrMissingColumn}
		}
	}
	return cols, nil
}

// DataType returns the reader's data type.
func (r *RecordReader) DataType() DataType { return r.dt }

// Exchange returns the exchange column, "" until the first row is read.
func (r *RecordReader) Exchange() string { return r.exchS }

// Symbol returns the first row's symbol, "" until the first row is read.
func (r *RecordReader) Symbol() string { return r.symS }

// Rows returns the number of records returned so far.
func (r *RecordReader) Rows() int64 { return r.rows }

// Line returns the line (1-based; the header is line 1) of the last row
// read.
func (r *RecordReader) Line() int64 { return r.c.Line() }

// BytesRead returns how many input bytes (compressed bytes for gzip) have
// been read so far. It is safe to call from another goroutine.
func (r *RecordReader) BytesRead() int64 { return r.c.BytesRead() }

// Scales returns the largest scale seen so far of each decimal: one entry
// per Decimal field in field order, or for book_snapshot_N four entries,
// asks' price and amount then bids' (equal, as the sides share them).
func (r *RecordReader) Scales() []uint8 {
	if r.dt.Depth > 0 {
		return []uint8{r.scales[0], r.scales[1], r.scales[0], r.scales[1]}
	}
	return append([]uint8(nil), r.scales...)
}

// Close stops decompression and closes the file OpenRecords opened.
func (r *RecordReader) Close() error {
	if r.err == nil || r.err == io.EOF {
		r.err = errClosed
	}
	return r.c.Close()
}

// Next reads the next row into rec, reusing its buffers. It returns io.EOF
// after the last row and a *ParseError for bad input; after an error every
// call returns the same error.
func (r *RecordReader) Next(rec *record.Record) error {
	if r.err != nil {
		return r.err
	}
	if err := r.next(rec); err != nil {
		r.err = err
		return err
	}
	r.rows++
	return nil
}

func (r *RecordReader) next(rec *record.Record) error {
	var f [][]byte
	if r.std && r.first && !r.slowOnly {
		line, err := r.c.nextRecord()
		if err != nil {
			return err
		}
		rec.Reset(r.dt.Record)
		if r.fastRow(line, rec) {
			return nil
		}
		if err := r.c.split(line); err != nil {
			return err
		}
		rec.Reset(r.dt.Record) // undo what fastRow filled in
		f = r.c.fields
	} else {
		var err error
		if f, err = r.c.Next(); err != nil {
			return err
		}
		rec.Reset(r.dt.Record)
	}
	exch, sym := f[r.exchCol], f[r.cols[0]]
	if !r.first {
		if len(sym) > record.MaxString {
			return r.c.fieldError(r.cols[0], sym, ErrStringLong)
		}
		r.exch = append(r.exch[:0], exch...)
		r.sym = append(r.sym[:0], sym...)
		r.exchS, r.symS = string(exch), string(sym)
		r.first = true
	} else {
		if !bytes.Equal(exch, r.exch) {
			return r.c.fieldError(r.exchCol, exch, changedError{r.exchS})
		}
		if !r.grouped && !bytes.Equal(sym, r.sym) {
			return r.c.fieldError(r.cols[0], sym, changedError{r.symS})
		}
		if len(sym) > record.MaxString {
			return r.c.fieldError(r.cols[0], sym, ErrStringLong)
		}
	}
	if r.sameSym {
		rec.StreamSymbol = true
	} else {
		rec.Fields[0].B = append(rec.Fields[0].B, sym...)
		rec.Present[0] = true
	}
	var err error
	if b := f[r.tsCol]; len(b) > 0 {
		if rec.ExchangeTS, err = micros(b); err != nil {
			return r.c.fieldError(r.tsCol, b, err)
		}
		rec.HasExchangeTS = true
	}
	b := f[r.locCol]
	if len(b) == 0 {
		return r.c.fieldError(r.locCol, b, ErrRequired)
	}
	if rec.LocalTS, err = micros(b); err != nil {
		return r.c.fieldError(r.locCol, b, err)
	}
	if r.dt.Depth > 0 {
		return r.readLevels(f, rec)
	}
	fields := r.dt.Record.Fields
	for i := 1; i < len(fields); i++ {
		if err := r.field(i, &fields[i], f[r.cols[i]], rec); err != nil {
			return err
		}
	}
	return nil
}

// micros is parseMicros, 8 digits at a time for the usual 16-digit µs.
func micros(b []byte) (uint64, error) {
	if v, end, ok := fastMicros(b, 0); ok && end == len(b) && end > 0 {
		return v * 1000, nil
	}
	return parseMicros(b)
}

// field parses cell b into rec.Fields[i], of field fd.
func (r *RecordReader) field(i int, fd *record.Field, b []byte, rec *record.Record) error {
	col := r.cols[i]
	v := &rec.Fields[i]
	if fd.Kind == record.Decimal {
		v.Scale = r.scales[r.slot[i]] // also absent values', for a uniform stream
	}
	if len(b) == 0 && fd.Kind != record.String {
		if !fd.Nullable {
			return r.c.fieldError(col, b, ErrRequired)
		}
		return nil
	}
	rec.Present[i] = true
	var err error
	switch fd.Kind {
	case record.Decimal:
		err = r.decimal(i, fd, b, v)
	case record.Time:
		v.U, err = micros(b)
	case record.String:
		if len(b) > record.MaxString {
			err = ErrStringLong
		}
		v.B = append(v.B, b...)
	case record.Side:
		if v.U = enumCode(fd.Kind, b); v.U == 0 {
			err = ErrRecordSide
		}
	case record.OptionType:
		if v.U = enumCode(fd.Kind, b); v.U == 0 {
			err = ErrOptionType
		}
	default:
		err = errUnknownType
	}
	if err != nil {
		return r.c.fieldError(col, b, err)
	}
	return nil
}

// decimal parses b at the field's scale, raising the scale if b needs more.
func (r *RecordReader) decimal(i int, fd *record.Field, b []byte, v *record.Value) error {
	var m int64
	var sc uint8
	var err error
	if fd.Signed {
		m, sc, err = decimal.ParseSigned(b)
	} else {
		var u uint64
		u, sc, err = decimal.Parse(b)
		if err == nil && u > math.MaxInt64 {
			err = decimal.ErrRangeI64
		}
		m = int64(u)
	}
	if err != nil {
		return err
	}
	return r.setDecimal(i, fd, m, sc, v)
}

// setDecimal stores m × 10^-sc in v at the field's scale, raising the
// scale if m needs more.
func (r *RecordReader) setDecimal(i int, fd *record.Field, m int64, sc uint8, v *record.Value) error {
	s := &r.scales[r.slot[i]]
	if sc > *s {
		*s = sc
	} else if sc < *s {
		var err error
		if m, err = decimal.RescaleSigned(m, sc, *s); err != nil {
			return rescaleError{err, fd.Name, *s}
		}
	}
	v.I, v.Scale = m, *s
	return nil
}

// fastRow parses a row of the standard columns without quotes in one
// pass. false means something unusual (a quoted cell, a changed exchange,
// a bad or missing value, a scale overflow): the row then goes to the
// general path, which parses it again and reports errors precisely, so
// fastRow only needs to be right when it succeeds.
//
// A quoted cell is one that starts with '"' (a '"' elsewhere is an
// ordinary byte, as in splitQuoted): the cells read as bytes check for
// it; a number, time or side cannot start with it and fails to parse.
func (r *RecordReader) fastRow(line []byte, rec *record.Record) bool {
	if line[0] == '"' {
		return false
	}
	end, ok := fastBytes(line, 0, r.exch)
	pos, ok2 := sep(line, end)
	if !ok || !ok2 || pos < len(line) && line[pos] == '"' {
		return false
	}
	if r.grouped {
		end = cellEnd(line, pos)
		ok = end-pos <= record.MaxString
	} else {
		end, ok = fastBytes(line, pos, r.sym)
	}
	if !ok {
		return false
	}
	if r.sameSym {
		rec.StreamSymbol = true
	} else {
		rec.Fields[0].B = append(rec.Fields[0].B, line[pos:end]...)
		rec.Present[0] = true
	}
	if pos, ok = sep(line, end); !ok {
		return false
	}
	ts, end, ok := fastMicros(line, pos)
	if !ok {
		return false
	}
	if end > pos {
		rec.ExchangeTS, rec.HasExchangeTS = ts*1000, true
	}
	if pos, ok = sep(line, end); !ok {
		return false
	}
	local, end, ok := fastMicros(line, pos)
	if !ok || end == pos {
		return false
	}
	rec.LocalTS = local * 1000
	fields := r.dt.Record.Fields
	for i := 1; i < len(fields); i++ {
		if pos, ok = sep(line, end); !ok {
			return false
		}
		fd, v := &fields[i], &rec.Fields[i]
		if fd.Kind == record.Decimal {
			v.Scale = r.scales[r.slot[i]]
		}
		if end = pos; (pos == len(line) || line[pos] == ',') && fd.Kind != record.String {
			if !fd.Nullable {
				return false
			}
			continue
		}
		rec.Present[i] = true
		switch fd.Kind {
		case record.Decimal:
			neg := fd.Signed && line[pos] == '-'
			start := pos
			if neg {
				start++
			}
			var m uint64
			var sc uint8
			if m, sc, end, ok = fastValue(line, start, -1); !ok || m > math.MaxInt64 {
				return false
			}
			mi := int64(m)
			if neg {
				mi = -mi
			}
			if r.setDecimal(i, fd, mi, sc, v) != nil {
				return false
			}
		case record.Time:
			if v.U, end, ok = fastMicros(line, pos); !ok {
				return false
			}
			v.U *= 1000
		case record.String:
			if pos < len(line) && line[pos] == '"' {
				return false
			}
			end = cellEnd(line, pos)
			if end-pos > record.MaxString {
				return false
			}
			v.B = append(v.B, line[pos:end]...)
		case record.Side:
			if v.U, end = fastRecordSide(line, pos); v.U == 0 {
				return false
			}
		case record.OptionType:
			end = cellEnd(line, pos)
			if v.U = enumCode(fd.Kind, line[pos:end]); v.U == 0 {
				return false
			}
		default:
			return false
		}
	}
	return end == len(line)
}

// fastRecordSide reads the side cell at pos by its first byte, without looking
// for its end first: the code (0 if none) and the cell's end.
func fastRecordSide(line []byte, pos int) (uint64, int) {
	var name string
	var code uint64
	switch line[pos] {
	case 'b':
		name, code = "buy", record.SideBuy
	case 's':
		name, code = "sell", record.SideSell
	case 'u':
		name, code = "unknown", record.SideUnknown
	default:
		return 0, pos
	}
	end := pos + len(name)
	if end > len(line) || string(line[pos:end]) != name || end < len(line) && line[end] != ',' {
		return 0, pos
	}
	return code, end
}

// cellEnd returns the end of the unquoted cell that starts at pos.
func cellEnd(line []byte, pos int) int {
	if i := bytes.IndexByte(line[pos:], ','); i >= 0 {
		return pos + i
	}
	return len(line)
}

// enumCode returns the code of a Side or OptionType cell, 0 if none.
func enumCode(k record.Kind, b []byte) uint64 {
	if k == record.Side {
		switch string(b) {
		case "buy":
			return record.SideBuy
		case "sell":
			return record.SideSell
		case "unknown":
			return record.SideUnknown
		}
		return 0
	}
	switch string(b) {
	case "call":
		return record.OptionCall
	case "put":
		return record.OptionPut
	}
	return 0
}

// deeperError is a book snapshot header with more levels than the type
// read: reading on would silently drop them.
type deeperError struct{ column, typ string }

func (e deeperError) Error() string {
	return "column " + strconv.Quote(e.column) + " is beyond the depth of " + e.typ + ": its levels would be lost"
}

func (e deeperError) Is(target error) bool { return target == ErrDeeperFile }
