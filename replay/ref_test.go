package replay_test

// An independent reference for the book a Tardis incremental_book_L2 file
// describes, written straight from Tardis's documented rules with its own
// CSV reading (encoding/csv) and its own exact decimals (canonical digit
// strings). It shares no code with packages tardis, decimal, book or replay,
// so that a mistake there cannot hide in both.
//
// Rules: rows sharing local_timestamp (consecutive) are one message; a run
// of is_snapshot=true rows that follows non-snapshot rows (or starts the
// file) resets the book; updates before the first snapshot are ignored;
// amount is the new total size at the price and 0 removes the level.

import (
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// dec is a non-negative decimal in canonical form: ip has no leading zeros
// ("0" for values below 1), fp has no trailing zeros (and no point); s is
// the whole, ip[.fp].
type dec struct{ ip, fp, s string }

func (d dec) String() string { return d.s }

func (d dec) isZero() bool { return d.ip == "0" && d.fp == "" }

// parseDec reads digits[.digits][e[+-]digits], as Tardis writes numbers.
func parseDec(s string) (dec, error) {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return dec{}, fmt.Errorf("bad exponent in %q", s)
		}
		mant, exp = s[:i], e
	}
	ip, fp, _ := strings.Cut(mant, ".")
	if ip == "" && fp == "" {
		return dec{}, fmt.Errorf("no digits in %q", s)
	}
	for _, c := range ip + fp {
		if c < '0' || c > '9' {
			return dec{}, fmt.Errorf("bad digit in %q", s)
		}
	}
	// Move the point by exp: digits = ip+fp with the point after len(ip).
	digits, point := ip+fp, len(ip)+exp
	for point < 0 {
		digits, point = "0"+digits, point+1
	}
	for point > len(digits) {
		digits += "0"
	}
	ip, fp = strings.TrimLeft(digits[:point], "0"), strings.TrimRight(digits[point:], "0")
	if ip == "" {
		ip = "0"
	}
	return mkDec(ip, fp), nil
}

// decFixed is the canonical form of v × 10^-scale.
func decFixed(v uint64, scale uint8) dec {
	ip, fp, _ := strings.Cut(string(appendFixed(nil, v, scale)), ".")
	return mkDec(ip, fp)
}

// appendFixed appends the canonical text of v × 10^-scale (no leading or
// trailing zeros, no point for integers), without allocating.
func appendFixed(dst []byte, v uint64, scale uint8) []byte {
	var buf [24]byte
	digits := strconv.AppendUint(buf[:0], v, 10)
	if len(digits) <= int(scale) {
		// 0.000ddd: pad to scale+1 digits.
		pad := int(scale) + 1 - len(digits)
		var z [24]byte
		for i := range pad {
			z[i] = '0'
		}
		digits = append(z[:pad], digits...)
	}
	point := len(digits) - int(scale)
	ip, fp := digits[:point], digits[point:]
	for len(fp) > 0 && fp[len(fp)-1] == '0' {
		fp = fp[:len(fp)-1]
	}
	dst = append(dst, ip...)
	if len(fp) > 0 {
		dst = append(dst, '.')
		dst = append(dst, fp...)
	}
	return dst
}

func mkDec(ip, fp string) dec {
	if fp == "" {
		return dec{ip, fp, ip}
	}
	return dec{ip, fp, ip + "." + fp}
}

func cmpDec(a, b dec) int {
	if len(a.ip) != len(b.ip) {
		if len(a.ip) < len(b.ip) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.ip, b.ip); c != 0 {
		return c
	}
	// Without trailing zeros, fractions compare as strings.
	return strings.Compare(a.fp, b.fp)
}

type refLevel struct{ price, size dec }

// refSide keeps levels sorted by ascending price.
type refSide []refLevel

func (s *refSide) find(p dec) (int, bool) {
	lo, hi := 0, len(*s)
	for lo < hi {
		m := (lo + hi) / 2
		if cmpDec((*s)[m].price, p) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(*s) && cmpDec((*s)[lo].price, p) == 0
}

func (s *refSide) set(p, size dec) {
	i, found := s.find(p)
	switch {
	case found && size.isZero():
		*s = append((*s)[:i], (*s)[i+1:]...)
	case found:
		(*s)[i].size = size
	case !size.isZero():
		*s = append(*s, refLevel{})
		copy((*s)[i+1:], (*s)[i:])
		(*s)[i] = refLevel{p, size}
	}
}

type refRow struct {
	ts, local uint64 // µs; ts 0 when the file has none
	snap, bid bool
	price     dec
	amount    dec
	line      int
}

// exchNS is the row's exchange time in ns (local time where it has none).
func (r *refRow) exchNS() uint64 {
	if r.ts == 0 {
		return r.local * 1000
	}
	return r.ts * 1000
}

type refBook struct {
	bids, asks refSide
	seen       bool // a snapshot has been applied
	prevSnap   bool // the previous row was a snapshot row
	started    bool
}

func (b *refBook) apply(r *refRow) {
	if r.snap && (!b.started || !b.prevSnap) {
		b.bids, b.asks = b.bids[:0], b.asks[:0]
		b.seen = true
	}
	b.started, b.prevSnap = true, r.snap
	if !b.seen {
		return
	}
	if r.bid {
		b.bids.set(r.price, r.amount)
	} else {
		b.asks.set(r.price, r.amount)
	}
}

// top returns up to n levels of a side, best first, as "price size".
func (b *refBook) top(bid bool, n int) []string {
	var out []string
	b.each(bid, n, func(l *refLevel) { out = append(out, l.price.s+" "+l.size.s) })
	return out
}

// each calls fn with up to n levels of a side, best first.
func (b *refBook) each(bid bool, n int, fn func(*refLevel)) {
	if bid {
		for i := len(b.bids) - 1; i >= 0 && n > 0; i, n = i-1, n-1 {
			fn(&b.bids[i])
		}
		return
	}
	for i := 0; i < len(b.asks) && n > 0; i, n = i+1, n-1 {
		fn(&b.asks[i])
	}
}

// refMessage is the rows of one local_timestamp, cut into parts where
// is_snapshot changes (each part is one event in the archive, with the
// largest exchange time of its rows).
type refMessage struct {
	local uint64 // ns
	rows  []refRow
}

type refPart struct {
	rows       []refRow
	local      uint64 // ns
	exch       uint64 // ns: max over the rows
	firstLine  int
	isSnapshot bool
}

func (m *refMessage) parts() []refPart {
	var out []refPart
	for i, r := range m.rows {
		if i == 0 || r.snap != m.rows[i-1].snap {
			out = append(out, refPart{local: m.local, firstLine: r.line, isSnapshot: r.snap})
		}
		p := &out[len(out)-1]
		p.rows = append(p.rows, r)
		p.exch = max(p.exch, r.exchNS())
	}
	return out
}

// refReader reads messages from a Tardis CSV (optionally gzipped).
type refReader struct {
	f    *os.File
	cr   *csv.Reader
	col  map[string]int
	next *refRow
	line int
}

func openRef(path string) (*refReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		r = gz
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		f.Close()
		return nil, err
	}
	rr := &refReader{f: f, cr: cr, col: map[string]int{}, line: 1}
	for i, h := range head {
		rr.col[h] = i
	}
	for _, c := range []string{"timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount"} {
		if _, ok := rr.col[c]; !ok {
			f.Close()
			return nil, fmt.Errorf("%s: no %s column", path, c)
		}
	}
	return rr, nil
}

func (rr *refReader) Close() error { return rr.f.Close() }

func (rr *refReader) row() (*refRow, error) {
	rec, err := rr.cr.Read()
	if err != nil {
		return nil, err
	}
	rr.line++
	r := &refRow{line: rr.line, snap: rec[rr.col["is_snapshot"]] == "true", bid: rec[rr.col["side"]] == "bid"}
	if s := rec[rr.col["timestamp"]]; s != "" {
		if r.ts, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, fmt.Errorf("line %d: %w", rr.line, err)
		}
	}
	if r.local, err = strconv.ParseUint(rec[rr.col["local_timestamp"]], 10, 64); err != nil {
		return nil, fmt.Errorf("line %d: %w", rr.line, err)
	}
	if r.price, err = parseDec(rec[rr.col["price"]]); err != nil {
		return nil, fmt.Errorf("line %d: %w", rr.line, err)
	}
	if r.amount, err = parseDec(rec[rr.col["amount"]]); err != nil {
		return nil, fmt.Errorf("line %d: %w", rr.line, err)
	}
	return r, nil
}

// message returns the next message, or io.EOF.
func (rr *refReader) message() (*refMessage, error) {
	if rr.next == nil {
		r, err := rr.row()
		if err != nil {
			return nil, err
		}
		rr.next = r
	}
	m := &refMessage{local: rr.next.local * 1000, rows: []refRow{*rr.next}}
	for {
		r, err := rr.row()
		if err == io.EOF {
			rr.next = nil
			return m, nil
		}
		if err != nil {
			return nil, err
		}
		if r.local*1000 != m.local {
			rr.next = r
			return m, nil
		}
		m.rows = append(m.rows, *r)
	}
}
