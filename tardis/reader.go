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
// its own goroutine. Memory is bounded by the largest group, not the file.
package tardis

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"strings"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/klauspost/compress/gzip"
)

// Options configure an EventReader. The zero value means fixed scale 0 for
// both prices and sizes; most callers want PriceScale and SizeScale -1.
type Options struct {
	Name       string // file name used in errors
	PriceScale int    // -1 automatic; 0..18 fixed
	SizeScale  int    // -1 automatic; 0..18 fixed
}

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

// maxLine bounds one line, so that a file without line breaks cannot make
// the reader buffer all of it.
const maxLine = 1 << 20

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
	name                  string
	priceFixed, sizeFixed int // -1 automatic

	src     source
	counter *countingReader
	chunk   []byte // the current chunk, returned to src when used up
	buf     []byte // its unconsumed part
	carry   []byte // a line split across chunks
	srcErr  error  // the source's error, once buf is used up
	line    int64  // lines read, including the row read ahead
	evLine  int64  // line of the last row of the returned events
	rows    int64
	err     error // sticky: io.EOF or the first error

	roles          []uint8          // role of each header column
	fld            [numRoles][]byte // this row's fields by role
	fields         [][]byte         // scratch for the quoted-field path
	unq            []byte           // scratch for unescaped quoted fields
	first          bool             // exchange and symbol were seen
	exch           []byte           // first row's exchange and symbol, compared
	sym            []byte           // with every later row without allocating
	exchS          string           // ...and as strings, converted once
	symS           string           //
	std            bool             // the header has the standard columns in order
	slowOnly       bool             // tests: parse every row the general way
	blank          int64            // line of a pending blank line, 0 if none
	pend           row              // the row read ahead: first of the next event
	havePend       bool             //
	bids           []protocol.Level // the event being built
	asks           []protocol.Level //
	bidLines       []int64          // the line of each level, for errors
	askLines       []int64          //
	lastPS, lastSS uint8            // previous event's (or the fixed) scales

	// A Diff with more than MaxDiffLevels on a side goes out in parts.
	splitOff int
	splitEv  protocol.Event // header fields of the parts; no levels
}

// Open opens a Tardis CSV file, gzipped or not. Gzip (including
// multi-member files) is recognised by its magic bytes, and decompressed in
// a separate goroutine; a file named *.gz that is not gzip is an error.
// The header is read before Open returns.
func Open(path string, opts Options) (*EventReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = path
	}
	cr := &countingReader{r: f}
	br := bufio.NewReaderSize(cr, 256<<10)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		f.Close()
		return nil, err
	}
	var src source
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
				err = truncatedError{}
			}
			return nil, &ParseError{File: name, Err: err}
		}
		src = newGzipSource(zr, f)
	} else {
		if strings.HasSuffix(path, ".gz") {
			f.Close()
			return nil, &ParseError{File: name, Err: ErrNotGzip}
		}
		src = &readerSource{r: br, closer: f}
	}
	return newEventReader(src, cr, name, opts)
}

// NewEventReader reads uncompressed CSV from r. It reads the header before
// returning.
func NewEventReader(r io.Reader, opts Options) (*EventReader, error) {
	cr := &countingReader{r: r}
	return newEventReader(&readerSource{r: cr}, cr, opts.Name, opts)
}

func newEventReader(src source, cr *countingReader, name string, opts Options) (*EventReader, error) {
	for _, s := range []struct {
		what string
		v    int
	}{{"price", opts.PriceScale}, {"size", opts.SizeScale}} {
		if s.v < -1 || s.v > decimal.MaxScale {
			src.close()
			return nil, fmt.Errorf("tardis: %s scale %d out of range (-1 automatic, or 0..%d)", s.what, s.v, decimal.MaxScale)
		}
	}
	r := &EventReader{
		name:       name,
		priceFixed: opts.PriceScale,
		sizeFixed:  opts.SizeScale,
		src:        src,
		counter:    cr,
	}
	// In fixed mode every value is read at the fixed scale, and the
	// scale-raising logic in Next never triggers.
	if opts.PriceScale >= 0 {
		r.lastPS = uint8(opts.PriceScale)
	}
	if opts.SizeScale >= 0 {
		r.lastSS = uint8(opts.SizeScale)
	}
	if err := r.readHeader(); err != nil {
		src.close()
		return nil, err
	}
	return r, nil
}

// Close stops decompression and closes the file Open opened.
func (r *EventReader) Close() error {
	if r.err == nil || r.err == io.EOF {
		r.err = errors.New("tardis: reader closed")
	}
	return r.src.close()
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
func (r *EventReader) BytesRead() int64 { return r.counter.n.Load() }

func (r *EventReader) errAt(line int64, role int, value []byte, err error) *ParseError {
	return &ParseError{File: r.name, Line: line, Field: roleNames[role], Value: valueText(value), Err: err}
}

// nextLine returns the next physical line without its '\n'. The line
// aliases the current chunk or r.carry and is valid until the next call.
func (r *EventReader) nextLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf, '\n'); i >= 0 {
			line := r.buf[:i]
			r.buf = r.buf[i+1:]
			r.line++
			if len(r.carry) > 0 {
				if len(r.carry)+len(line) > maxLine {
					return nil, &ParseError{File: r.name, Line: r.line, Err: ErrLineTooLong}
				}
				line = append(r.carry, line...)
				r.carry = line[:0]
			}
			return line, nil
		}
		if len(r.carry)+len(r.buf) > maxLine {
			return nil, &ParseError{File: r.name, Line: r.line + 1, Err: ErrLineTooLong}
		}
		r.carry = append(r.carry, r.buf...)
		r.buf = nil
		if r.srcErr != nil {
			if r.srcErr != io.EOF {
				return nil, &ParseError{File: r.name, Err: r.srcErr}
			}
			if len(r.carry) > 0 {
				// The last line has no '\n'.
				line := r.carry
				r.carry = r.carry[:0]
				r.line++
				return line, nil
			}
			return nil, io.EOF
		}
		r.chunk, r.srcErr = r.src.next(r.chunk)
		r.buf = r.chunk
	}
}

// splitQuoted splits a line with RFC 4180 quoting into r.fields. Quoted
// fields may not span lines: no Tardis field contains a line break.
func (r *EventReader) splitQuoted(line []byte) error {
	r.fields = r.fields[:0]
	r.unq = r.unq[:0]
	i := 0
	for {
		if i < len(line) && line[i] == '"' {
			// Fields without "" escapes alias the line; others are
			// copied to r.unq.
			start := i + 1
			j := start
			escaped := false
			for {
				k := bytes.IndexByte(line[j:], '"')
				if k < 0 {
					return ErrQuote
				}
				j += k
				if j+1 < len(line) && line[j+1] == '"' {
					escaped = true
					j += 2
					continue
				}
				break
			}
			f := line[start:j]
			if escaped {
				off := len(r.unq)
				for k := 0; k < len(f); k++ {
					r.unq = append(r.unq, f[k])
					if f[k] == '"' {
						k++
					}
				}
				f = r.unq[off:]
			}
			r.fields = append(r.fields, f)
			i = j + 1
			if i == len(line) {
				return nil
			}
			if line[i] != ',' {
				return ErrQuote
			}
			i++
			continue
		}
		k := bytes.IndexByte(line[i:], ',')
		if k < 0 {
			r.fields = append(r.fields, line[i:])
			return nil
		}
		r.fields = append(r.fields, line[i:i+k])
		i += k + 1
	}
}

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

func (r *EventReader) readHeader() error {
	line, err := r.nextLine()
	if err == io.EOF {
		return &ParseError{File: r.name, Err: ErrEmptyFile}
	}
	if err != nil {
		return err
	}
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	line = trimCR(line)
	if len(line) == 0 {
		return &ParseError{File: r.name, Err: ErrEmptyFile}
	}
	if err := r.splitQuoted(line); err != nil {
		return &ParseError{File: r.name, Line: r.line, Err: err}
	}
	r.roles = make([]uint8, len(r.fields))
	var seen [numRoles]bool
	for i, f := range r.fields {
		for role := 1; role < numRoles; role++ {
			if string(f) != roleNames[role] {
				continue
			}
			if seen[role] {
				return &ParseError{File: r.name, Line: r.line, Field: roleNames[role], Err: ErrDuplicateColumn}
			}
			seen[role] = true
			r.roles[i] = uint8(role)
		}
	}
	for role := 1; role < numRoles; role++ {
		if !seen[role] {
			return &ParseError{File: r.name, Line: r.line, Field: roleNames[role], Err: ErrMissingColumn}
		}
	}
	r.std = len(r.roles) == numRoles-1
	for i, role := range r.roles {
		r.std = r.std && int(role) == i+1
	}
	return nil
}

// split fills r.fld from a data line for the general path: plain fields
// are sliced in place; a field that opens with a quote sends the line to
// splitQuoted.
func (r *EventReader) split(line []byte) error {
	roles := r.roles
	col, start := 0, 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == ',' {
			if col < len(roles) {
				r.fld[roles[col]] = line[start:i]
			}
			col++
			start = i + 1
		} else if c == '"' && i == start {
			return r.splitSlow(line)
		}
	}
	if col < len(roles) {
		r.fld[roles[col]] = line[start:]
	}
	if col+1 != len(roles) {
		return &ParseError{File: r.name, Line: r.line, Err: fieldCountError{col + 1, len(roles)}}
	}
	return nil
}

func (r *EventReader) splitSlow(line []byte) error {
	if err := r.splitQuoted(line); err != nil {
		return &ParseError{File: r.name, Line: r.line, Err: err}
	}
	if len(r.fields) != len(r.roles) {
		return &ParseError{File: r.name, Line: r.line, Err: fieldCountError{len(r.fields), len(r.roles)}}
	}
	for i, f := range r.fields {
		r.fld[r.roles[i]] = f
	}
	return nil
}

// parseMicros parses a non-negative integer number of microseconds and
// returns nanoseconds.
func parseMicros(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, ErrNotInteger
	}
	var v uint64
	if len(b) <= 19 {
		// 19 digits cannot overflow.
		for _, c := range b {
			d := c - '0'
			if d > 9 {
				return 0, ErrNotInteger
			}
			v = v*10 + uint64(d)
		}
	} else {
		overflow := false
		for _, c := range b {
			d := c - '0'
			if d > 9 {
				return 0, ErrNotInteger
			}
			if v > (math.MaxUint64-uint64(d))/10 {
				overflow = true
			}
			v = v*10 + uint64(d)
		}
		if overflow {
			return 0, ErrTimeRange
		}
	}
	if v > math.MaxUint64/1000 {
		return 0, ErrTimeRange
	}
	return v * 1000, nil
}

// readRow reads the next data row into rw. It returns io.EOF after the
// last row.
func (r *EventReader) readRow(rw *row) error {
	var line []byte
	for {
		l, err := r.nextLine()
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return err
		}
		l = trimCR(l)
		if len(l) == 0 {
			// Blank lines are fine at the end of the file only.
			if r.blank == 0 {
				r.blank = r.line
			}
			continue
		}
		if r.blank != 0 {
			return &ParseError{File: r.name, Line: r.blank, Err: ErrBlankLine}
		}
		line = l
		break
	}
	if r.first && !r.slowOnly && r.fastRow(line, rw) {
		rw.line = r.line
		return nil
	}
	if err := r.split(line); err != nil {
		return err
	}
	f := &r.fld
	if !r.first {
		r.exch = append(r.exch[:0], f[roleExchange]...)
		r.sym = append(r.sym[:0], f[roleSymbol]...)
		r.exchS, r.symS = string(r.exch), string(r.sym)
		r.first = true
	} else {
		if !bytes.Equal(f[roleExchange], r.exch) {
			return r.errAt(r.line, roleExchange, f[roleExchange], changedError{r.exchS})
		}
		if !bytes.Equal(f[roleSymbol], r.sym) {
			return r.errAt(r.line, roleSymbol, f[roleSymbol], changedError{r.symS})
		}
	}
	var err error
	if rw.local, err = parseMicros(f[roleLocal]); err != nil {
		return r.errAt(r.line, roleLocal, f[roleLocal], err)
	}
	rw.ts = rw.local
	if ts := f[roleTimestamp]; len(ts) > 0 {
		v, err := parseMicros(ts)
		if err != nil {
			return r.errAt(r.line, roleTimestamp, ts, err)
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
		return r.errAt(r.line, roleSnapshot, s, ErrBool)
	}
	switch s := f[roleSide]; string(s) {
	case "bid", "buy":
		rw.bid = true
	case "ask", "sell":
		rw.bid = false
	default:
		return r.errAt(r.line, roleSide, s, ErrSide)
	}
	if rw.price, rw.ps, err = r.value(rolePrice, r.priceFixed); err != nil {
		return err
	}
	if rw.size, rw.ss, err = r.value(roleAmount, r.sizeFixed); err != nil {
		return err
	}
	rw.line = r.line
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
	// Longer numbers, or ones that overflow in ns, go to the general path.
	if end-pos > 19 || v > math.MaxUint64/1000 {
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
	var m uint64
	dot := -1
	end := pos
	for ; end < len(line); end++ {
		c := line[end]
		if c-'0' <= 9 {
			m = m*10 + uint64(c-'0')
		} else if c == '.' && dot < 0 && end > pos {
			dot = end
		} else {
			break
		}
	}
	var sc uint8
	if end-pos <= 19 && end > pos && dot != end-1 && (end == len(line) || line[end] == ',') {
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
		for end < len(line) && line[end] != ',' {
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
// out so that there is no per-field dispatch.
func (r *EventReader) fastRowStd(line []byte, rw *row) bool {
	var local, ts uint64
	end, ok := fastBytes(line, 0, r.exch)
	pos, ok2 := sep(line, end)
	if !ok || !ok2 {
		return false
	}
	end, ok = fastBytes(line, pos, r.sym)
	if pos, ok2 = sep(line, end); !ok || !ok2 {
		return false
	}
	ts, end, ok = fastMicros(line, pos)
	if pos, ok2 = sep(line, end); !ok || !ok2 {
		return false
	}
	start := pos
	local, end, ok = fastMicros(line, pos)
	if pos, ok2 = sep(line, end); !ok || !ok2 || end == start {
		return false
	}
	rw.snap, end, ok = fastBool(line, pos)
	if pos, ok2 = sep(line, end); !ok || !ok2 {
		return false
	}
	rw.bid, end, ok = fastSide(line, pos)
	if pos, ok2 = sep(line, end); !ok || !ok2 {
		return false
	}
	rw.price, rw.ps, end, ok = fastValue(line, pos, r.priceFixed)
	if pos, ok2 = sep(line, end); !ok || !ok2 {
		return false
	}
	rw.size, rw.ss, end, ok = fastValue(line, pos, r.sizeFixed)
	if !ok || end != len(line) {
		return false
	}
	rw.finishTS(local, ts)
	return true
}

// fastRow is the fast path for any column order.
func (r *EventReader) fastRow(line []byte, rw *row) bool {
	if r.std {
		return r.fastRowStd(line, rw)
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
		return 0, 0, r.errAt(r.line, role, b, err)
	}
	if fixed < 0 {
		return m, s, nil
	}
	what := "price"
	if role == roleAmount {
		what = "size"
	}
	if int(s) > fixed {
		return 0, 0, r.errAt(r.line, role, b, fixedScaleError{what, fixed})
	}
	if m, err = decimal.Rescale(m, s, uint8(fixed)); err != nil {
		return 0, 0, r.errAt(r.line, role, b, rescaleError{err, what, uint8(fixed)})
	}
	return m, uint8(fixed), nil
}

func (r *EventReader) fail(err error) error {
	r.err = err
	return err
}

// Next reads the next event into ev. It sets Type, IngestTS, ExchangeTS,
// PriceScale, SizeScale, Bids and Asks, reusing the capacity of ev.Bids and
// ev.Asks; the caller sets venue, market and sequence fields. Next returns
// io.EOF after the last event and a *ParseError for bad input; after an
// error every call returns the same error.
func (r *EventReader) Next(ev *protocol.Event) error {
	if r.err != nil {
		return r.err
	}
	if r.splitOff > 0 {
		r.emitPart(ev)
		return nil
	}
	if !r.havePend {
		if err := r.readRow(&r.pend); err != nil {
			return r.fail(err)
		}
		r.havePend = true
	}
	local, snap := r.pend.local, r.pend.snap
	r.bids, r.asks = r.bids[:0], r.asks[:0]
	r.bidLines, r.askLines = r.bidLines[:0], r.askLines[:0]
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
				if err := r.raise(rolePrice, ps, p.ps); err != nil {
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
				if err := r.raise(roleAmount, ss, p.ss); err != nil {
					return r.fail(err)
				}
				ss = p.ss
			}
		}
		if p.bid {
			r.bids = append(r.bids, protocol.Level{Price: p.price, Size: p.size})
			r.bidLines = append(r.bidLines, p.line)
		} else {
			r.asks = append(r.asks, protocol.Level{Price: p.price, Size: p.size})
			r.askLines = append(r.askLines, p.line)
		}
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
	}
	r.lastPS, r.lastSS = ps, ss
	r.rows += nrows

	typ := protocol.Diff
	if snap {
		typ = protocol.Snapshot
	}
	r.splitEv = protocol.Event{Type: typ, IngestTS: local, ExchangeTS: maxTS, PriceScale: ps, SizeScale: ss}
	r.emitPart(ev)
	return nil
}

func mulPow10(m uint64, n uint8) (uint64, bool) {
	hi, lo := bits.Mul64(m, decimal.Pow10(n))
	return lo, hi == 0
}

// raise rescales the prices (or sizes) of the levels read so far from
// scale from to scale to.
func (r *EventReader) raise(role int, from, to uint8) error {
	for side, levels := range [2][]protocol.Level{r.bids, r.asks} {
		for i := range levels {
			v := &levels[i].Price
			if role == roleAmount {
				v = &levels[i].Size
			}
			m, ok := mulPow10(*v, to-from)
			if !ok {
				line := r.bidLines[i]
				if side == 1 {
					line = r.askLines[i]
				}
				return r.rescaleErr(line, role, *v, from, to)
			}
			*v = m
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

// emitPart copies the current event, or its next part for a Diff with more
// than MaxDiffLevels levels on a side, into ev. Each part takes up to
// MaxDiffLevels levels from each side, in file order.
func (r *EventReader) emitPart(ev *protocol.Event) {
	h := &r.splitEv
	ev.Type, ev.IngestTS, ev.ExchangeTS = h.Type, h.IngestTS, h.ExchangeTS
	ev.PriceScale, ev.SizeScale = h.PriceScale, h.SizeScale
	lo, hi := r.splitOff, math.MaxInt
	if h.Type == protocol.Diff {
		hi = lo + protocol.MaxDiffLevels
	}
	ev.Bids = append(ev.Bids[:0], r.bids[min(lo, len(r.bids)):min(hi, len(r.bids))]...)
	ev.Asks = append(ev.Asks[:0], r.asks[min(lo, len(r.asks)):min(hi, len(r.asks))]...)
	r.splitOff = 0
	if hi < len(r.bids) || hi < len(r.asks) {
		r.splitOff = hi
	}
}
