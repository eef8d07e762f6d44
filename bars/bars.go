// Package bars computes trade bars (OHLC, volumes, VWAP, trade count) from
// a stream of trades, in exact fixed-point integers, like tardis-machine's
// trade_bar_* computables. docs/DERIVED.md describes the semantics.
//
// Bars close by time (intervals of local_timestamp aligned to the epoch),
// by trade count, or by volume (a bar closes at the first trade that takes
// its volume to the threshold or beyond; that trade is not split).
// Everything is exact except VWAP, which is Notional / Volume rounded half
// to even at VWAPScale decimals (see Bar.AppendVWAP).
package bars

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/record"
)

// Kind is what closes a bar.
type Kind uint8

// Bar kinds.
const (
	// ByTime: one bar per interval [k·I, (k+1)·I) of local_timestamp
	// that has trades; intervals without trades give no bar.
	ByTime Kind = iota + 1
	// ByCount: a bar every N trades.
	ByCount
	// ByVolume: a bar closes at the trade that brings its volume to at
	// least V; the trade is not split, so a bar's volume is V or more.
	ByVolume
)

// Trade is one trade as the aggregator reads it. Price and Amount are
// mantissas at PriceScale and AmountScale decimals; Side is record.SideBuy,
// record.SideSell or record.SideUnknown (which counts in Volume only).
type Trade struct {
	LocalTS, ExchangeTS     uint64 // ns since the epoch
	Price, Amount           uint64
	PriceScale, AmountScale uint8
	Side                    uint8
}

// Bar is one trade bar. Prices are mantissas at PriceScale, volumes at
// AmountScale: the largest scales of the stream's trades so far, so that
// every value is exact.
type Bar struct {
	// Start and End: for ByTime, the interval [Start, End) of local
	// timestamps; otherwise the local timestamps of the first and last
	// trade (both included).
	Start, End uint64
	// OpenTS and CloseTS: the exchange timestamps of the first and last
	// trade, as tardis-machine's openTimestamp and closeTimestamp.
	OpenTS, CloseTS        uint64
	Open, High, Low, Close uint64
	PriceScale             uint8
	// Volume is the sum of all amounts; BuyVolume and SellVolume those of
	// buyer- and seller-initiated trades (unknown sides count in neither).
	Volume, BuyVolume, SellVolume uint64
	AmountScale                   uint8
	// Notional is the exact sum of price × amount, a 128-bit mantissa
	// (Notional[0] the high word) at PriceScale + AmountScale decimals.
	// It cannot overflow: it is at most High × Volume.
	Notional [2]uint64
	Trades   int
}

// VWAPScale returns the number of decimals of the VWAP of a bar whose
// prices have scale ps: 8 more than the prices, at most 18 (the most a
// decimal or a Parquet DECIMAL column of Chronicle's carries).
func VWAPScale(ps uint8) uint8 { return min(ps+8, decimal.MaxScale) }

// vwap returns Notional / Volume rounded half to even at VWAPScale
// decimals, as an integer part q at PriceScale and extra further digits f
// (q + f/10^extra), by two exact 128-by-64-bit divisions. ok is false when
// Volume is 0: the VWAP is then undefined (absent).
func (b *Bar) vwap() (q, f uint64, extra uint8, ok bool) {
	v := b.Volume
	if v == 0 {
		return 0, 0, 0, false
	}
	// Notional / Volume <= High < 2^64 in a Bar made by an Aggregator,
	// so Notional[0] < v and the quotients fit.
	q, r := bits.Div64(b.Notional[0], b.Notional[1], v)
	extra = VWAPScale(b.PriceScale) - b.PriceScale
	p := decimal.Pow10(extra)
	hi, lo := bits.Mul64(r, p) // r < v, so hi < v
	f, r = bits.Div64(hi, lo, v)
	// Half to even on the last digit kept, that of q·p + f (its low bit
	// is right even if the product wraps).
	if rest := v - r; r > rest || (r == rest && (q*p+f)&1 == 1) {
		if f++; f == p {
			f, q = 0, q+1 // q < High here: a round-up cannot overflow
		}
	}
	return q, f, extra, true
}

// AppendVWAP appends the VWAP as a decimal with exactly
// VWAPScale(PriceScale) decimals ("9680.4812345679"), or nothing when
// Volume is 0. It is the one rounded value of a bar: Notional / Volume,
// rounded half to even.
func (b *Bar) AppendVWAP(dst []byte) []byte {
	q, f, extra, ok := b.vwap()
	if !ok {
		return dst
	}
	ps := decimal.Pow10(b.PriceScale)
	dst = strconv.AppendUint(dst, q/ps, 10)
	if b.PriceScale+extra == 0 {
		return dst
	}
	dst = append(dst, '.')
	dst = appendPadded(dst, q%ps, b.PriceScale)
	return appendPadded(dst, f, extra)
}

// VWAP returns the VWAP as a mantissa at VWAPScale(PriceScale), ok false
// when Volume is 0, and an error when the mantissa does not fit in a u64
// (a VWAP of 1.8e19 units of its last digit or more).
func (b *Bar) VWAP() (mant uint64, ok bool, err error) {
	q, f, extra, ok := b.vwap()
	if !ok {
		return 0, false, nil
	}
	hi, lo := bits.Mul64(q, decimal.Pow10(extra))
	m, carry := bits.Add64(lo, f, 0)
	if hi != 0 || carry != 0 {
		return 0, false, fmt.Errorf("bars: VWAP %s does not fit a u64 mantissa", b.AppendVWAP(nil))
	}
	return m, true, nil
}

// Aggregator turns trades into bars. It holds one bar in progress and
// allocates nothing per trade.
type Aggregator struct {
	kind      Kind
	n         uint64 // ByTime: interval in ns; ByCount: trades; ByVolume: threshold mantissa
	nScale    uint8  // ByVolume: threshold scale
	ps, as    uint8  // current scales, the largest seen
	bucket    uint64 // ByTime: the interval index of cur
	cur, done Bar
}

// NewByTime returns an aggregator of bars over intervals of interval ns of
// local_timestamp, aligned to the epoch (a 1 m bar covers [12:00, 12:01)).
// The interval must be a positive whole number of µs, Tardis's resolution.
func NewByTime(interval uint64) (*Aggregator, error) {
	if interval == 0 || interval%1000 != 0 {
		return nil, fmt.Errorf("bars: interval %d ns is not a positive whole number of µs", interval)
	}
	return &Aggregator{kind: ByTime, n: interval}, nil
}

// NewByCount returns an aggregator of bars of n trades each.
func NewByCount(n uint64) (*Aggregator, error) {
	if n == 0 {
		return nil, errors.New("bars: a bar needs at least one trade")
	}
	return &Aggregator{kind: ByCount, n: n}, nil
}

// NewByVolume returns an aggregator of bars that close when their volume
// reaches at least mant × 10^-scale (trades are not split).
func NewByVolume(mant uint64, scale uint8) (*Aggregator, error) {
	if mant == 0 || scale > decimal.MaxScale {
		return nil, fmt.Errorf("bars: volume threshold %d × 10^-%d is not a positive decimal", mant, scale)
	}
	return &Aggregator{kind: ByVolume, n: mant, nScale: scale}, nil
}

// Add adds the next trade. When that closes a bar it returns it; the Bar
// is the aggregator's and stays valid until the next Add or Flush. A trade
// whose price or amount cannot be brought exactly to the stream's scale,
// or that would overflow the bar's volume, is an error and changes no bar:
// the caller names the trade's file and line.
//
// Trades should come in local_timestamp order, as in Tardis files. For
// ByTime, a trade from an earlier interval than the bar in progress (out
// of order) joins that bar, as in tardis-machine.
func (a *Aggregator) Add(t *Trade) (*Bar, error) {
	ps, as := max(a.ps, t.PriceScale), max(a.as, t.AmountScale)
	price, err := decimal.Rescale(t.Price, t.PriceScale, ps)
	if err != nil {
		return nil, fmt.Errorf("bars: price %s at %d decimals: %w", decimal.String(t.Price, t.PriceScale), ps, err)
	}
	amount, err := decimal.Rescale(t.Amount, t.AmountScale, as)
	if err != nil {
		return nil, fmt.Errorf("bars: amount %s at %d decimals: %w", decimal.String(t.Amount, t.AmountScale), as, err)
	}
	var closed *Bar
	if a.kind == ByTime && a.cur.Trades > 0 && t.LocalTS/a.n > a.bucket {
		closed = a.close()
	}
	c := &a.cur
	if ps != a.ps || as != a.as {
		if c.Trades > 0 {
			r, err := rescaled(c, ps, as)
			if err != nil {
				return nil, err
			}
			*c = r
		}
		a.ps, a.as = ps, as
	}
	vol, carry := bits.Add64(c.Volume, amount, 0)
	if carry != 0 {
		return nil, fmt.Errorf("bars: volume %s + %s does not fit a u64 mantissa at %d decimals",
			decimal.String(c.Volume, as), decimal.String(amount, as), as)
	}
	if c.Trades == 0 {
		*c = Bar{Start: t.LocalTS, OpenTS: t.ExchangeTS, Open: price, High: price, Low: price, PriceScale: ps, AmountScale: as}
		if a.kind == ByTime {
			a.bucket = t.LocalTS / a.n
			c.Start = a.bucket * a.n
			c.End = c.Start + a.n
			if c.End < c.Start {
				c.End = math.MaxUint64
			}
		}
	}
	c.High = max(c.High, price)
	c.Low = min(c.Low, price)
	c.Close = price
	c.CloseTS = t.ExchangeTS
	if a.kind != ByTime {
		c.End = t.LocalTS
	}
	c.Volume = vol
	switch t.Side {
	case record.SideBuy:
		c.BuyVolume += amount // <= Volume: cannot overflow
	case record.SideSell:
		c.SellVolume += amount
	}
	hi, lo := bits.Mul64(price, amount)
	var cy uint64
	c.Notional[1], cy = bits.Add64(c.Notional[1], lo, 0)
	c.Notional[0], _ = bits.Add64(c.Notional[0], hi, cy) // <= High × Volume < 2^128
	c.Trades++
	switch a.kind {
	case ByCount:
		if uint64(c.Trades) >= a.n {
			closed = a.close()
		}
	case ByVolume:
		if a.volumeReached() {
			closed = a.close()
		}
	}
	return closed, nil
}

// volumeReached reports whether cur's volume is at least the threshold:
// Volume × 10^nScale >= n × 10^AmountScale, compared in 128 bits.
func (a *Aggregator) volumeReached() bool {
	vh, vl := bits.Mul64(a.cur.Volume, decimal.Pow10(a.nScale))
	th, tl := bits.Mul64(a.n, decimal.Pow10(a.cur.AmountScale))
	return vh > th || (vh == th && vl >= tl)
}

// Flush returns the bar in progress, if it has trades, and starts afresh;
// call it at the end of the trades. A ByTime bar keeps its interval's
// bounds even if the trades end before the interval does.
func (a *Aggregator) Flush() (*Bar, bool) {
	if a.cur.Trades == 0 {
		return nil, false
	}
	return a.close(), true
}

func (a *Aggregator) close() *Bar {
	a.done = a.cur
	a.cur = Bar{}
	return &a.done
}

// rescaled returns b with its prices at ps and its volumes at as decimals
// (both at least b's), exactly, or an error if a value no longer fits.
func rescaled(b *Bar, ps, as uint8) (Bar, error) {
	r := *b
	r.PriceScale, r.AmountScale = ps, as
	for _, v := range [...]struct {
		p        *uint64
		from, to uint8
		what     string
	}{
		{&r.Open, b.PriceScale, ps, "open"}, {&r.High, b.PriceScale, ps, "high"},
		{&r.Low, b.PriceScale, ps, "low"}, {&r.Close, b.PriceScale, ps, "close"},
		{&r.Volume, b.AmountScale, as, "volume"}, {&r.BuyVolume, b.AmountScale, as, "buy volume"},
		{&r.SellVolume, b.AmountScale, as, "sell volume"},
	} {
		m, err := decimal.Rescale(*v.p, v.from, v.to)
		if err != nil {
			return Bar{}, fmt.Errorf("bars: bar %s %s at %d decimals: %w", v.what, decimal.String(*v.p, v.from), v.to, err)
		}
		*v.p = m
	}
	// Notional <= High × Volume, both of which now fit in a u64 at the
	// new scales: the products fit in 128 bits.
	r.Notional = mul128(mul128(r.Notional, decimal.Pow10(ps-b.PriceScale)), decimal.Pow10(as-b.AmountScale))
	return r, nil
}

// mul128 returns n × m for a 128-bit n whose product is known to fit.
func mul128(n [2]uint64, m uint64) [2]uint64 {
	hi, lo := bits.Mul64(n[1], m)
	return [2]uint64{hi + n[0]*m, lo}
}

// appendPadded appends v in exactly width digits, with leading zeros
// (v < 10^width).
func appendPadded(dst []byte, v uint64, width uint8) []byte {
	if width == 0 {
		return dst
	}
	var buf [20]byte
	d := strconv.AppendUint(buf[:0], v, 10)
	for range int(width) - len(d) {
		dst = append(dst, '0')
	}
	return append(dst, d...)
}
