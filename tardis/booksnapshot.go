package tardis

import (
	"strconv"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/record"
)

// book_snapshot_N: per level i, best first, the columns asks[i].price,
// asks[i].amount, bids[i].price, bids[i].amount. A side's levels end at
// its first empty price cell, and every later cell of that side must be
// empty too: anything else (a gap, a price without an amount) has no
// record form and is an error.

// levelColumns are the four columns of a level, in Tardis's order, as
// (side, value) name parts.
var levelColumns = [4][2]string{{"asks", "price"}, {"asks", "amount"}, {"bids", "price"}, {"bids", "amount"}}

func levelColumn(c [2]string, level int) string {
	return c[0] + "[" + strconv.Itoa(level) + "]." + c[1]
}

// Record fields of record.BookSnapshot.
const (
	snapAsks = 1
	snapBids = 2
)

// snapCols are the CSV columns of a snapshot's levels, and scratch for a
// row's scales.
type snapCols struct {
	cols   [2][][2]int // [side][level] = price and amount columns; side 0 asks
	scales []uint8     // the scale each parsed value needs: price, amount per level
}

// newSnapCols takes the columns of Columns()[4:], in its order.
func newSnapCols(cols []int, depth int) snapCols {
	var s snapCols
	for side := range 2 {
		s.cols[side] = make([][2]int, depth)
		for i := range depth {
			c := cols[4*i+2*side:]
			s.cols[side][i] = [2]int{c[0], c[1]}
		}
	}
	s.scales = make([]uint8, 0, 4*depth)
	return s
}

// readLevels parses both sides into rec, then puts every price (and
// every amount) at one scale: the largest needed, at least the previous
// record's.
func (r *RecordReader) readLevels(f [][]byte, rec *record.Record) error {
	sn := &r.snap
	sn.scales = sn.scales[:0]
	ps, as := r.scales[0], r.scales[1]
	for side, fi := range [2]int{snapAsks, snapBids} {
		v := &rec.Fields[fi]
		rec.Present[fi] = true
		ended := false
		for _, c := range sn.cols[side] {
			p, a := f[c[0]], f[c[1]]
			switch {
			case ended && len(p) > 0:
				return r.c.fieldError(c[0], p, ErrLevelGap)
			case ended && len(a) > 0:
				return r.c.fieldError(c[1], a, ErrLevelGap)
			case ended:
				continue
			case len(p) == 0 && len(a) > 0:
				return r.c.fieldError(c[0], p, ErrHalfLevel)
			case len(p) == 0:
				ended = true
				continue
			case len(a) == 0:
				return r.c.fieldError(c[1], a, ErrHalfLevel)
			}
			pm, psc, err := decimal.Parse(p)
			if err != nil {
				return r.c.fieldError(c[0], p, err)
			}
			am, asc, err := decimal.Parse(a)
			if err != nil {
				return r.c.fieldError(c[1], a, err)
			}
			v.L = append(v.L, record.Level{Price: pm, Size: am})
			sn.scales = append(sn.scales, psc, asc)
			ps, as = max(ps, psc), max(as, asc)
		}
	}
	r.scales[0], r.scales[1] = ps, as
	k := 0
	for side, fi := range [2]int{snapAsks, snapBids} {
		v := &rec.Fields[fi]
		v.Scale, v.Scale2 = ps, as
		for i := range v.L {
			l, c := &v.L[i], sn.cols[side][i]
			psc, asc := sn.scales[k], sn.scales[k+1]
			k += 2
			if psc == ps && asc == as {
				continue
			}
			var err error
			if l.Price, err = decimal.Rescale(l.Price, psc, ps); err != nil {
				return r.c.fieldError(c[0], f[c[0]], rescaleError{err, "price", ps})
			}
			if l.Size, err = decimal.Rescale(l.Size, asc, as); err != nil {
				return r.c.fieldError(c[1], f[c[1]], rescaleError{err, "amount", as})
			}
		}
	}
	return nil
}

// appendLevels appends a snapshot's level cells, empty beyond each side's
// levels, up to the writer's depth.
func (w *RecordWriter) appendLevels(b []byte, rec *record.Record) ([]byte, error) {
	asks, bids := &rec.Fields[snapAsks], &rec.Fields[snapBids]
	for _, v := range [2]*record.Value{asks, bids} {
		if len(v.L) > w.dt.Depth {
			return nil, w.valueErr("levels", uint64(len(v.L)), "are more than the depth "+strconv.Itoa(w.dt.Depth))
		}
	}
	for i := range w.dt.Depth {
		for _, v := range [2]*record.Value{asks, bids} {
			b = append(b, ',')
			if i < len(v.L) {
				b = decimal.Append(b, v.L[i].Price, v.Scale)
				b = append(b, ',')
				b = decimal.Append(b, v.L[i].Size, v.Scale2)
			} else {
				b = append(b, ',')
			}
		}
	}
	return b, nil
}
