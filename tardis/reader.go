// Package tardis reads and writes Tardis.dev incremental_book_L2 CSV files.
//
// The reader turns the rows of a file into protocol.Events: consecutive
// rows with the same local_timestamp came in one message and form a group;
// within a group each run of rows with the same is_snapshot becomes one
// Snapshot or Diff event, bids before asks. Prices and amounts are parsed
// exactly (package decimal, no float64) and scaled to one fixed-point scale
// per event.
//
// The parser is hand-written over []byte and allocates nothing per row: on
// real imports it must keep well ahead of gzip decompression, which runs in
// its own goroutine. The CSV engine under it (csvReader, csv.go) is shared
// by the readers of every Tardis data type.
//
// Memory. An EventReader holds one event, built in the caller's
// Event: a Diff message of any size is read in parts of at most 65535
// levels a side, and a Snapshot, which is one record, may have at most
// MaxLevelsPerMessage (4,194,304) levels, a 64 MiB record; a larger one is
// refused with an error naming the file and line. With
// segment.Writer.AppendParts, which stores an event without encoding it
// into a buffer first, `chronicle import` peaks at about 64 MiB plus three
// times the largest record (the event, the book the import keeps for
// checkpoints, and the collector's slack).
package tardis

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
)

// Options configure an EventReader. The zero value is valid: automatic
// scales, errors naming the path.
type Options struct {
	Name       string // file name used in errors
	PriceScale Scale  // zero: automatic
	SizeScale  Scale  // zero: automatic
	// Hash, when set, is written every raw input byte as Open reads it
	// (before decompression), so a caller can hash a pipe in the one pass.
	// It is written by a goroutine of its own, off the reading path, and
	// holds every byte read once Next has returned io.EOF or Close has
	// returned; the caller must not use it before.
	Hash io.Writer
}

// Scale is how prices (or sizes) are scaled: automatically, the zero
// value (each event at the larger of what its rows need and the previous
// event's scale), or at a fixed scale, where a value with more decimals is
// an error.
type Scale struct {
	fixed int // the fixed scale + 1; 0 automatic
}

// FixedScale is the fixed scale n (0..18). FixedScale(-1) is automatic,
// the convention of the CLI flags and archive.ImportOptions.
func FixedScale(n int) Scale { return Scale{n + 1} }

// value is the fixed scale, or -1 for automatic.
func (s Scale) value() int { return s.fixed - 1 }

// Fixed returns the fixed scale, or -1 for automatic.
func (s Scale) Fixed() int { return s.value() }

// Column roles. roleIgnore collects columns the reader does not use.
const (
	roleIgnore = iota
	roleExchange
	roleSymbol
	roleTimestamp
	roleLocal
	roleSnapshot
	roleSide
	rolePrice
	roleAmount
	numRoles
)

var roleNames = [numRoles]string{"", "exchange", "symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount"}

// MaxLevelsPerMessage is the most levels a Snapshot may have: the
// is_snapshot=true rows of one message (rows sharing a local_timestamp)
// are one record, which import holds in memory a few times over, so a
// larger snapshot is refused, naming the file and the line. 4,194,304
// levels make a 64 MiB record; real venues publish a few thousand. A Diff
// message of any size is read and stored in parts of at most
// protocol.MaxDiffLevels levels a side, in bounded memory.
const MaxLevelsPerMessage = 1 << 22

// maxLevels is MaxLevelsPerMessage, a variable for tests.
var maxLevels = MaxLevelsPerMessage

// row is one parsed data line.
type row struct {
	local  uint64 // local_timestamp, ns
	ts     uint64 // timestamp (or local_timestamp when 0/empty), ns
	price  uint64
	size   uint64
	line   int64
	ps, ss uint8
	snap   bool
	bid    bool
}

// EventReader reads protocol.Events from a Tardis incremental_book_L2 CSV.
type EventReader struct {
	c                     *csvReader
	priceFixed, sizeFixed int   // -1 automatic
	evLine                int64 // line of the last row of the returned events
	rows                  int64
	err                   error // sticky: io.EOF or the first error

	roles          []uint8          // role of each header column
	fld            [numRoles][]byte // this row's fields by role
	first          bool             // exchange and symbol were seen
	exch           []byte           // first row's exchange and symbol, compared
	sym            []byte           // with every later row without allocating
	exchS          string           // ...and as strings, converted once
	symS           string           //
	std            bool             // the header has the standard columns in order
	slowOnly       bool             // tests: parse every row the general way
	pend           row              // the row read ahead: first of the next event
	havePend       bool             //
	maxP, maxS     maxLevel         // of the event being built
	lastPS, lastSS uint8            // previous event's (or the fixed) scales

	// fastBuf: rows may be parsed straight from the chunk, before their
	// line break is found (see readRow). Set once exch and sym are known.
	fastBuf bool
	// prefix is the last fast row's text up to the comma after
	// local_timestamp, and prefLocal and prefTS its timestamps in µs: rows
	// of one message repeat it byte for byte, so comparing it replaces
	// parsing four fields.
	prefix            []byte
	prefLocal, prefTS uint64
}

// Open opens a Tardis CSV file, gzipped or not. Gzip (including
// multi-member files) is recognised by its magic bytes, and decompressed in
// a separate goroutine; a file named *.gz that is not gzip is an error.
// The header is read before Open returns.
func Open(path string, opts Options) (*EventReader, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = path
	}
	c, err := openCSV(path, name, opts.Hash)
	if err != nil {
		return nil, err
	}
	return newEventReader(c, opts)
}

// NewEventReader reads uncompressed CSV from r. It reads the header before
// returning.
func NewEventReader(r io.Reader, opts Options) (*EventReader, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	c, err := newCSVReader(r, opts.Name)
	if err != nil {
		return nil, err
	}
	return newEventReader(c, opts)
}

func checkOptions(opts Options) error {
	for _, s := range []struct {
		what string
		v    int
	}{{"price", opts.PriceScale.value()}, {"size", opts.SizeScale.value()}} {
		if s.v < -1 || s.v > decimal.MaxScale {
			return fmt.Errorf("tardis: fixed %s scale %d out of range (0..%d)", s.what, s.v, decimal.MaxScale)
		}
	}
	return nil
}

func newEventReader(c *csvReader, opts Options) (*EventReader, error) {
	r := &EventReader{
		c:          c,
		priceFixed: opts.PriceScale.value(),
		sizeFixed:  opts.SizeScale.value(),
	}
	// In fixed mode every value is read at the fixed scale, and the
	// scale-raising logic in Next never triggers.
	if r.priceFixed >= 0 {
		r.lastPS = uint8(r.priceFixed)
	}
	if r.sizeFixed >= 0 {
		r.lastSS = uint8(r.sizeFixed)
	}
	if err := r.mapColumns(); err != nil {
		c.Close()
		return nil, err
	}
	return r, nil
}

// Close stops decompression and closes the file Open opened.
func (r *EventReader) Close() error {
	if r.err == nil || r.err == io.EOF {
		r.err = errClosed
	}
	return r.c.Close()
}

// Exchange returns the exchange column of the data rows, "" until the
// first row is read.
func (r *EventReader) Exchange() string { return r.exchS }

// Symbol returns the symbol column of the data rows, "" until the first
// row is read.
func (r *EventReader) Symbol() string { return r.symS }

// Rows returns the number of data rows in the events returned so far.
func (r *EventReader) Rows() int64 { return r.rows }

// Line returns the line number (1-based; the header is line 1) of the last
// row of the events returned so far, or 1 before the first event. Errors
// from the reader carry their own line in the *ParseError.
func (r *EventReader) Line() int64 {
	if r.evLine == 0 {
		return 1
	}
	return r.evLine
}

// BytesRead returns how many input bytes (compressed bytes for gzip) have
// been read so far. It is safe to call from another goroutine.
func (r *EventReader) BytesRead() int64 { return r.c.BytesRead() }

func (r *EventReader) errAt(line int64, role int, value []byte, err error) *ParseError {
	return r.c.errAt(line, roleNames[role], value, err)
}

// mapColumns assigns a role to each header column.
func (r *EventReader) mapColumns() error {
	c := r.c
	r.roles = make([]uint8, len(c.header))
	var seen [numRoles]bool
	for i, f := range c.header {
		for role := 1; role < numRoles; role++ {
			if f != roleNames[role] {
				continue
			}
			if seen[role] {
				return &ParseError{File: c.name, Line: 1, Field: roleNames[role], Err: ErrDuplicateColumn}
			}
			seen[role] = true
			r.roles[i] = uint8(role)
		}
	}
	for role := 1; role < numRoles; role++ {
		if !seen[role] {
			return &ParseError{File: c.name, Line: 1, Field: roleNames[role], Err: ErrMissingColumn}
		}
	}
	r.std = len(r.roles) == numRoles-1
	for i, role := range r.roles {
		r.std = r.std && int(role) == i+1
	}
	return nil
}

// readRow reads the next data row into rw. It returns io.EOF after the
// last row.
func (r *EventReader) readRow(rw *row) error {
	c := r.c
	// The fast path straight on the chunk: a row that parses and ends
	// at a line break is that line, so neither the line break nor a quote
	// need searching for first. Anything else (a line split across
	// chunks, a pending blank line, a bad row) takes the line path below.
	if r.fastBuf && len(c.carry) == 0 && c.blank == 0 {
		b := c.buf
		if end, ok := r.fastRowStd(b, rw); ok && end < len(b) {
			n := 0
			if b[end] == '\n' {
				n = 1
			} else if b[end] == '\r' && end+1 < len(b) && b[end+1] == '\n' {
				n = 2
			}
			if n > 0 {
				c.buf = b[end+n:]
				c.line++
				rw.line = c.line
				return nil
			}
		}
	}
	line, err := c.nextRecord()
	if err != nil {
		return err
	}
	// A quote anywhere sends the line to the general path: the fast path
	// does not implement quoting, and must accept only what split does.
	// fastRowStd cannot accept a quote when exch and sym hold none.
	if r.first && !r.slowOnly && (r.fastBuf || bytes.IndexByte(line, '"') < 0) && r.fastRow(line, rw) {
		rw.line = c.line
		return nil
	}
	if err := r.c.split(line); err != nil {
		return err
	}
	for i, f := range r.c.fields {
		r.fld[r.roles[i]] = f
	}
	f := &r.fld
	if !r.first {
		r.exch = append(r.exch[:0], f[roleExchange]...)
		r.sym = append(r.sym[:0], f[roleSymbol]...)
		r.exchS, r.symS = string(r.exch), string(r.sym)
		r.first = true
		r.fastBuf = r.std && !r.slowOnly && bytes.IndexByte(r.exch, '"') < 0 && bytes.IndexByte(r.sym, '"') < 0
	} else {
		if !bytes.Equal(f[roleExchange], r.exch) {
			return r.errAt(r.c.line, roleExchange, f[roleExchange], changedError{r.exchS})
		}
		if !bytes.Equal(f[roleSymbol], r.sym) {
			return r.errAt(r.c.line, roleSymbol, f[roleSymbol], changedError{r.symS})
		}
	}
	if rw.local, err = parseMicros(f[roleLocal]); err != nil {
		return r.errAt(r.c.line, roleLocal, f[roleLocal], err)
	}
	rw.ts = rw.local
	if ts := f[roleTimestamp]; len(ts) > 0 {
		v, err := parseMicros(ts)
		if err != nil {
			return r.errAt(r.c.line, roleTimestamp, ts, err)
		}
		if v != 0 {
			rw.ts = v
		}
	}
	switch s := f[roleSnapshot]; string(s) {
	case "true":
		rw.snap = true
	case "false":
		rw.snap = false
	default:
		return r.errAt(r.c.line, roleSnapshot, s, ErrBool)
	}
	switch s := f[roleSide]; string(s) {
	case "bid", "buy":
		rw.bid = true
	case "ask", "sell":
		rw.bid = false
	default:
		return r.errAt(r.c.line, roleSide, s, ErrSide)
	}
	if rw.price, rw.ps, err = r.value(rolePrice, r.priceFixed); err != nil {
		return err
	}
	if rw.size, rw.ss, err = r.value(roleAmount, r.sizeFixed); err != nil {
		return err
	}
	rw.line = r.c.line
	return nil
}

// The fast path parses a well-formed row in one pass, fusing field
// splitting with parsing. Its helpers take the field's start and return
// its end; ok false means something unusual (quotes, a changed exchange, an
// empty or bad value), and the row goes to the general path, which
// reparses it and reports errors precisely. So the fast path only needs to
// be right when it succeeds.

// fastBytes matches a field equal to want (exchange, symbol).
func fastBytes(line []byte, pos int, want []byte) (int, bool) {
	end := pos + len(want)
	return end, end <= len(line) && bytes.Equal(line[pos:end], want)
}

// fastMicros parses a timestamp in µs, 8 digits at a time. Empty is 0,
// which local_timestamp rejects later.
func fastMicros(line []byte, pos int) (uint64, int, bool) {
	var v uint64
	end := pos
	for range 2 {
		if end+8 > len(line) {
			break
		}
		d, ok := parse8(binary.LittleEndian.Uint64(line[end:]))
		if !ok {
			break
		}
		v = v*100000000 + d
		end += 8
	}
	for end < len(line) && line[end]-'0' <= 9 {
		v = v*10 + uint64(line[end]-'0')
		end++
	}
	// Longer numbers, or ones too late in ns, go to the general path.
	if end-pos > 19 || v > maxMicros {
		return 0, end, false
	}
	return v, end, true
}

// parse8 converts 8 ASCII digits, loaded little-endian, to their value,
// reporting false if any byte is not a digit. (The SWAR method of
// Lemire's "parse_eight_digits_unrolled".)
func parse8(v uint64) (uint64, bool) {
	// A digit is 0x30..0x39: high nibble 3, and adding 6 keeps it 3.
	// Adding 6 cannot carry across bytes once every high nibble is 3.
	if v&0xF0F0F0F0F0F0F0F0 != 0x3030303030303030 ||
		(v+0x0606060606060606)&0xF0F0F0F0F0F0F0F0 != 0x3030303030303030 {
		return 0, false
	}
	v -= 0x3030303030303030
	v = v*10 + v>>8 // pairs of digits
	v = ((v&0x000000FF000000FF)*(100+1000000<<32) + (v>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
	return v, true
}

func fastBool(line []byte, pos int) (bool, int, bool) {
	if len(line)-pos >= 5 && string(line[pos:pos+5]) == "false" {
		return false, pos + 5, true
	}
	if len(line)-pos >= 4 && string(line[pos:pos+4]) == "true" {
		return true, pos + 4, true
	}
	return false, pos, false
}

func fastSide(line []byte, pos int) (bid bool, end int, ok bool) {
	if len(line)-pos < 3 {
		return false, pos, false
	}
	switch string(line[pos : pos+3]) {
	case "bid", "buy":
		return true, pos + 3, true
	case "ask":
		return false, pos + 3, true
	case "sel":
		if len(line)-pos >= 4 && line[pos+3] == 'l' {
			return false, pos + 4, true
		}
	}
	return false, pos, false
}

// fastValue parses a price or amount, at the fixed scale if there is one.
// Plain decimals of up to 19 characters (which cannot overflow) are parsed
// while scanning for the field's end; anything else, like "1.2e-7", goes
// through decimal.Parse.
func fastValue(line []byte, pos, fixed int) (uint64, uint8, int, bool) {
	// Digits, then a dot and digits: two tight loops.
	var m uint64
	dot := -1
	end := pos
	for end < len(line) && line[end]-'0' <= 9 {
		m = m*10 + uint64(line[end]-'0')
		end++
	}
	if end > pos && end < len(line) && line[end] == '.' {
		dot = end
		for end++; end < len(line) && line[end]-'0' <= 9; end++ {
			m = m*10 + uint64(line[end]-'0')
		}
	}
	var sc uint8
	// The field ends at a comma or at the end of the line, or at a line
	// break when readRow parses a row straight from the chunk.
	if end-pos <= 19 && end > pos && dot != end-1 && (end == len(line) || line[end] == ',' || line[end] == '\n' || line[end] == '\r') {
		if dot >= 0 {
			// At most 17 decimals fit in 19 characters, and Tardis
			// writes no trailing zeros, but other writers may.
			sc = uint8(end - 1 - dot)
			for sc > 0 && m%10 == 0 {
				m /= 10
				sc--
			}
		}
	} else {
		for end < len(line) && line[end] != ',' && line[end] != '\n' && line[end] != '\r' {
			end++
		}
		var err error
		if m, sc, err = decimal.Parse(line[pos:end]); err != nil {
			return 0, 0, end, false
		}
	}
	if fixed >= 0 {
		if int(sc) > fixed {
			return 0, 0, end, false
		}
		var ok bool
		if m, ok = mulPow10(m, uint8(fixed)-sc); !ok {
			return 0, 0, end, false
		}
		sc = uint8(fixed)
	}
	return m, sc, end, true
}

// sep checks that a field ending at end is followed by a comma and returns
// the next field's start.
func sep(line []byte, end int) (int, bool) {
	return end + 1, end < len(line) && line[end] == ','
}

// finishTS sets the row's timestamps in ns from µs values.
func (rw *row) finishTS(local, ts uint64) {
	rw.local = local * 1000
	rw.ts = rw.local
	if ts != 0 {
		rw.ts = ts * 1000
	}
}

// fastRowStd is the fast path for the standard column order, written
// out so that there is no per-field dispatch. It returns where the amount
// ends, which the caller checks is the end of the line.
func (r *EventReader) fastRowStd(line []byte, rw *row) (int, bool) {
	var local, ts uint64
	var end, pos int
	var ok, ok2 bool
	if n := len(r.prefix); n > 0 && len(line) > n && string(line[:n]) == string(r.prefix) {
		pos, local, ts = n, r.prefLocal, r.prefTS
	} else {
		end, ok = fastBytes(line, 0, r.exch)
		pos, ok2 = sep(line, end)
		if !ok || !ok2 {
			return 0, false
		}
		end, ok = fastBytes(line, pos, r.sym)
		if pos, ok2 = sep(line, end); !ok || !ok2 {
			return 0, false
		}
		ts, end, ok = fastMicros(line, pos)
		if pos, ok2 = sep(line, end); !ok || !ok2 {
			return 0, false
		}
		start := pos
		local, end, ok = fastMicros(line, pos)
		if pos, ok2 = sep(line, end); !ok || !ok2 || end == start {
			return 0, false
		}
		// Whatever the rest of the row, these bytes parse to these values.
		r.prefix = append(r.prefix[:0], line[:pos]...)
		r.prefLocal, r.prefTS = local, ts
	}
	rw.snap, end, ok = fastBool(line, pos)
	if pos, ok2 = sep(line, end); !ok || !ok2 {
		return 0, false
	}
	rw.bid, end, ok = fastSide(line, pos)
	if pos, ok2 = sep(line, end); !ok || !ok2 {
		return 0, false
	}
	rw.price, rw.ps, end, ok = fastValue(line, pos, r.priceFixed)
	if pos, ok2 = sep(line, end); !ok || !ok2 {
		return 0, false
	}
	rw.size, rw.ss, end, ok = fastValue(line, pos, r.sizeFixed)
	if !ok {
		return 0, false
	}
	rw.finishTS(local, ts)
	return end, true
}

// fastRow is the fast path for any column order.
func (r *EventReader) fastRow(line []byte, rw *row) bool {
	if r.std {
		end, ok := r.fastRowStd(line, rw)
		return ok && end == len(line)
	}
	n := len(line)
	last := len(r.roles) - 1
	pos := 0
	var local, ts uint64
	for col, role := range r.roles {
		end := pos
		ok := true
		switch role {
		case roleExchange:
			end, ok = fastBytes(line, pos, r.exch)
		case roleSymbol:
			end, ok = fastBytes(line, pos, r.sym)
		case roleLocal:
			local, end, ok = fastMicros(line, pos)
			ok = ok && end > pos
		case roleTimestamp:
			ts, end, ok = fastMicros(line, pos)
		case roleSnapshot:
			rw.snap, end, ok = fastBool(line, pos)
		case roleSide:
			rw.bid, end, ok = fastSide(line, pos)
		case rolePrice:
			rw.price, rw.ps, end, ok = fastValue(line, pos, r.priceFixed)
		case roleAmount:
			rw.size, rw.ss, end, ok = fastValue(line, pos, r.sizeFixed)
		default:
			if i := bytes.IndexByte(line[pos:], ','); i >= 0 {
				end = pos + i
			} else {
				end = n
			}
		}
		if !ok {
			return false
		}
		// Every field must end exactly at a separator.
		if col == last {
			if end != n {
				return false
			}
		} else if pos, ok = sep(line, end); !ok {
			return false
		}
	}
	rw.finishTS(local, ts)
	return true
}

// value parses the price or amount field, rescaled to a fixed scale if
// there is one.
func (r *EventReader) value(role, fixed int) (uint64, uint8, error) {
	b := r.fld[role]
	m, s, err := decimal.Parse(b)
	if err != nil {
		return 0, 0, r.errAt(r.c.line, role, b, err)
	}
	if fixed < 0 {
		return m, s, nil
	}
	what := "price"
	if role == roleAmount {
		what = "size"
	}
	if int(s) > fixed {
		return 0, 0, r.errAt(r.c.line, role, b, fixedScaleError{what, fixed})
	}
	if m, err = decimal.Rescale(m, s, uint8(fixed)); err != nil {
		return 0, 0, r.errAt(r.c.line, role, b, rescaleError{err, what, uint8(fixed)})
	}
	return m, uint8(fixed), nil
}

func (r *EventReader) fail(err error) error {
	r.err = err
	return err
}

// Next reads the next event into ev. It sets Type, IngestTS, ExchangeTS,
// PriceScale, SizeScale, Bids and Asks, building the levels in the
// capacity of ev.Bids and ev.Asks, so that memory holds one copy of the
// largest event; the caller sets venue, market and sequence fields. A Diff
// with more than MaxDiffLevels rows on a side goes out in parts, each read
// as it comes: a part ends when the next row would not fit its side, and
// its ExchangeTS is its own rows' largest. Next returns io.EOF after the
// last event and a *ParseError for bad input; after an error every call
// returns the same error, and ev holds no event.
func (r *EventReader) Next(ev *protocol.Event) error {
	if r.err != nil {
		return r.err
	}
	if !r.havePend {
		if err := r.readRow(&r.pend); err != nil {
			return r.fail(err)
		}
		r.havePend = true
	}
	local, snap := r.pend.local, r.pend.snap
	ev.Bids, ev.Asks = ev.Bids[:0], ev.Asks[:0]
	r.maxP, r.maxS = maxLevel{}, maxLevel{}
	// Levels are kept at the event's scale so far, which starts at the
	// previous event's (or the fixed) scale; a row needing more decimals
	// raises the scale of the levels already read. Scales rarely change,
	// so this is one comparison per value.
	ps, ss := r.lastPS, r.lastSS
	var maxTS uint64
	nrows := int64(0)
	for {
		p := &r.pend
		if p.ps != ps {
			if p.ps < ps {
				m, ok := mulPow10(p.price, ps-p.ps)
				if !ok {
					return r.fail(r.rescaleErr(p.line, rolePrice, p.price, p.ps, ps))
				}
				p.price = m
			} else {
				if err := r.raise(ev, rolePrice, ps, p.ps); err != nil {
					return r.fail(err)
				}
				ps = p.ps
			}
		}
		if p.ss != ss {
			if p.ss < ss {
				m, ok := mulPow10(p.size, ss-p.ss)
				if !ok {
					return r.fail(r.rescaleErr(p.line, roleAmount, p.size, p.ss, ss))
				}
				p.size = m
			} else {
				if err := r.raise(ev, roleAmount, ss, p.ss); err != nil {
					return r.fail(err)
				}
				ss = p.ss
			}
		}
		if snap && len(ev.Bids)+len(ev.Asks) >= maxLevels {
			return r.fail(&ParseError{File: r.c.name, Line: p.line, Err: tooManyLevelsError{maxLevels}})
		}
		if p.bid {
			ev.Bids = append(ev.Bids, protocol.Level{Price: p.price, Size: p.size})
		} else {
			ev.Asks = append(ev.Asks, protocol.Level{Price: p.price, Size: p.size})
		}
		r.maxP.note(p.price, p.line)
		r.maxS.note(p.size, p.line)
		maxTS = max(maxTS, p.ts)
		r.evLine = p.line
		nrows++
		err := r.readRow(p)
		if err == io.EOF {
			r.havePend = false
			break
		}
		if err != nil {
			return r.fail(err)
		}
		if p.local != local || p.snap != snap {
			break
		}
		if !snap && (p.bid && len(ev.Bids) == protocol.MaxDiffLevels || !p.bid && len(ev.Asks) == protocol.MaxDiffLevels) {
			break // the next part of this message
		}
	}
	r.lastPS, r.lastSS = ps, ss
	r.rows += nrows

	ev.Type = protocol.Diff
	if snap {
		ev.Type = protocol.Snapshot
	}
	ev.IngestTS, ev.ExchangeTS, ev.PriceScale, ev.SizeScale = local, maxTS, ps, ss
	return nil
}

// maxLevel is the largest price (or size) of the event so far and the
// first line that has it: if it survives a raise of the scale, every
// value does, and if not, it is the value to report.
type maxLevel struct {
	v    uint64
	line int64
}

func (m *maxLevel) note(v uint64, line int64) {
	if v > m.v || m.line == 0 {
		m.v, m.line = v, line
	}
}

func mulPow10(m uint64, n uint8) (uint64, bool) {
	hi, lo := bits.Mul64(m, decimal.Pow10(n))
	return lo, hi == 0
}

// raise rescales the prices (or sizes) of ev's levels from scale from to
// scale to.
func (r *EventReader) raise(ev *protocol.Event, role int, from, to uint8) error {
	mx := &r.maxP
	if role == roleAmount {
		mx = &r.maxS
	}
	m, ok := mulPow10(mx.v, to-from)
	if !ok {
		return r.rescaleErr(mx.line, role, mx.v, from, to)
	}
	mx.v = m
	f := decimal.Pow10(to - from)
	for _, levels := range [2][]protocol.Level{ev.Bids, ev.Asks} {
		for i := range levels {
			if role == roleAmount {
				levels[i].Size *= f
			} else {
				levels[i].Price *= f
			}
		}
	}
	return nil
}

// rescaleErr reports a value, held at scale at, that overflows at scale to.
func (r *EventReader) rescaleErr(line int64, role int, m uint64, at, to uint8) error {
	what := "price"
	if role == roleAmount {
		what = "size"
	}
	text := decimal.Append(nil, m, at)
	return r.errAt(line, role, text, rescaleError{decimal.ErrRange, what, to})
}
