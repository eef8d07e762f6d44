// Package quotes derives quotes from a book stream: the best bid and ask
// after every message that changed them, as records of Tardis's quotes
// type (record.Quote: exchange,symbol,timestamp,local_timestamp,
// ask_amount,ask_price,bid_price,bid_amount), so that they are written by
// the same CSV and Parquet code as an imported quotes stream.
// docs/DERIVED.md describes the semantics.
//
// A message is a run of consecutive events with the same local timestamp
// (the importer makes several events of one Tardis message when it mixes
// snapshot and diff rows or has more than 65535 levels on a side); the top
// of book is compared only after a message's last event, exactly (a rise
// of the book's decimal scale alone is not a change). No quote is made
// while no snapshot is in effect: diffs before the first snapshot are
// ignored, as Tardis does, and a Reset event clears the book until the
// next snapshot. An empty side is an absent bid or ask, never 0. This is
// package snapshots' rule at depth 1.
//
// Deriver makes quotes from events however they are read; Scanner (Open)
// reads them from a book stream's days over a time range, rebuilding the
// book at the range's start from a checkpoint.
package quotes

import (
	"fmt"
	"math"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/tardis"
)

// DataType is Tardis's quotes data type: its columns, and the record type
// a Deriver makes.
var DataType = func() tardis.DataType {
	dt, ok := tardis.LookupDataType("quotes")
	if !ok {
		panic("quotes: tardis has no quotes data type")
	}
	return dt
}()

// Field indexes of record.Quote.
const (
	fSymbol = iota
	fAskAmount
	fAskPrice
	fBidPrice
	fBidAmount
)

// top is the best bid and ask as a book stood at the end of a message.
type top struct {
	bid, ask       protocol.Level
	hasBid, hasAsk bool
	ps, ss         uint8
}

func (t *top) capture(b *book.Book) {
	t.bid, t.hasBid = b.Best(book.Bid)
	t.ask, t.hasAsk = b.Best(book.Ask)
	t.ps, t.ss = b.Scales()
}

// same compares values, not their fixed-point encodings.
func (t *top) same(u *top) bool {
	return t.hasBid == u.hasBid && t.hasAsk == u.hasAsk &&
		(!t.hasBid || sameLevel(t.bid, u.bid, t.ps, t.ss, u.ps, u.ss)) &&
		(!t.hasAsk || sameLevel(t.ask, u.ask, t.ps, t.ss, u.ps, u.ss))
}

func sameLevel(a, b protocol.Level, aps, ass, bps, bss uint8) bool {
	if aps == bps && ass == bss {
		return a == b
	}
	ps, ss := max(aps, bps), max(ass, bss)
	return sameValue(a.Price, aps, b.Price, bps, ps) && sameValue(a.Size, ass, b.Size, bss, ss)
}

// sameValue compares x×10^-xs and y×10^-ys at scale s >= both. A value that
// overflows at s is larger than one that does not (both cannot: one of xs,
// ys is s), so an overflow means "different".
func sameValue(x uint64, xs uint8, y uint64, ys uint8, s uint8) bool {
	x, errX := decimal.Rescale(x, xs, s)
	y, errY := decimal.Rescale(y, ys, s)
	return errX == nil && errY == nil && x == y
}

// Deriver turns the events of one book stream, in stored order (days in
// date order for a multi-day stream), into quotes. It keeps the book (a
// book.Replayer, Tardis's rules) and allocates nothing per event once its
// buffers have grown. It is not safe for concurrent use.
type Deriver struct {
	rep   *book.Replayer
	valid bool // a snapshot is in effect

	// The message being applied.
	inMsg       bool
	primed      bool // begun by Prime: its end makes no quote
	msgLocal    uint64
	msgExchange uint64

	last     top // of the last quote, or of the book at the end of priming
	haveLast bool
	cur      top
	rec      record.Record
}

// New returns a Deriver of quotes whose symbol column is symbol (the
// exact symbol, meta.json's "symbol").
func New(symbol string) *Deriver {
	d := &Deriver{rep: book.NewReplayer(book.Options{})}
	d.rec.Reset(record.Quote)
	d.rec.Fields[fSymbol].B = append(d.rec.Fields[fSymbol].B[:0], symbol...)
	d.rec.Present[fSymbol] = true
	d.rec.HasExchangeTS = true
	return d
}

// Add applies the next event. When ev begins a new message and the one
// before it changed the top of book, it returns that message's quote: a
// record.Quote whose LocalTS is the message's local timestamp and whose
// ExchangeTS is the largest exchange timestamp of its events. The record
// is the Deriver's and stays valid until the next Add or Flush. Call Flush
// after the last event for the last message's quote.
//
// An event the book cannot apply (book.ErrUnsupported, a scale overflow)
// is an error and changes nothing; the caller names its position.
func (d *Deriver) Add(ev *protocol.Event) (*record.Record, error) {
	return d.add(ev, false)
}

// Prime applies an event without making quotes: the events before the
// start of a range. The top of book they leave is the reference for the
// first quote after them, so that the quotes of a range are exactly the
// quotes of the whole stream in that range. A message must be primed or
// added whole: its first event decides.
func (d *Deriver) Prime(ev *protocol.Event) error {
	_, err := d.add(ev, true)
	return err
}

func (d *Deriver) add(ev *protocol.Event, prime bool) (*record.Record, error) {
	var q *record.Record
	var err error
	// What ending the previous message changes, restored if ev fails.
	last, haveLast := d.last, d.haveLast
	ended := d.inMsg && ev.IngestTS != d.msgLocal
	if ended {
		// ev begins a new message: the book is the previous one's end.
		if q, err = d.endMessage(); err != nil {
			d.inMsg, d.last, d.haveLast = true, last, haveLast
			return nil, err
		}
	}
	if err := d.rep.Apply(ev); err != nil {
		if ended {
			d.inMsg, d.last, d.haveLast = true, last, haveLast
		}
		return nil, err
	}
	switch ev.Type {
	case protocol.Snapshot:
		d.valid = true
	case protocol.Reset:
		d.valid = false
	}
	if !d.inMsg || ev.IngestTS != d.msgLocal {
		d.inMsg, d.primed = true, prime
		d.msgLocal, d.msgExchange = ev.IngestTS, ev.ExchangeTS
	} else {
		d.msgExchange = max(d.msgExchange, ev.ExchangeTS)
	}
	return q, nil
}

// Flush ends the last message and returns its quote, if it changed the top
// of book. Add may be called again after it.
func (d *Deriver) Flush() (*record.Record, bool, error) {
	if !d.inMsg {
		return nil, false, nil
	}
	last, haveLast := d.last, d.haveLast
	q, err := d.endMessage()
	if err != nil {
		d.inMsg, d.last, d.haveLast = true, last, haveLast
		return nil, false, err
	}
	return q, q != nil, nil
}

// restore replaces the book with a checkpoint's state (the caller seeks the
// stream to the checkpoint's position): the start of priming.
func (d *Deriver) restore(cp *book.Checkpoint) error {
	if err := d.rep.Restore(cp); err != nil {
		return err
	}
	d.valid, d.inMsg = cp.SnapshotSeen, false
	// The top of the restored book is the reference for the next quote:
	// a message the checkpoint splits is primed, and its end updates it.
	d.haveLast = d.valid
	if d.valid {
		d.last.capture(d.rep.Book())
	}
	return nil
}

// Book returns the book as of the last event applied. Read it, do not
// change it.
func (d *Deriver) Book() *book.Book { return d.rep.Book() }

// endMessage compares the book, at the end of the message, with the last
// quote, and fills the record if it changed.
func (d *Deriver) endMessage() (*record.Record, error) {
	d.inMsg = false
	if !d.valid {
		d.haveLast = false // the next valid book is a new start
		return nil, nil
	}
	d.cur.capture(d.rep.Book())
	if d.haveLast && d.cur.same(&d.last) {
		return nil, nil
	}
	d.last, d.haveLast = d.cur, true
	if d.primed {
		return nil, nil
	}
	if err := d.fill(); err != nil {
		return nil, err
	}
	return &d.rec, nil
}

func (d *Deriver) fill() error {
	r, t := &d.rec, &d.last
	r.LocalTS, r.ExchangeTS = d.msgLocal, d.msgExchange
	for _, c := range [...]struct {
		field   int
		present bool
		v       uint64
		scale   uint8
	}{
		{fAskAmount, t.hasAsk, t.ask.Size, t.ss},
		{fAskPrice, t.hasAsk, t.ask.Price, t.ps},
		{fBidPrice, t.hasBid, t.bid.Price, t.ps},
		{fBidAmount, t.hasBid, t.bid.Size, t.ss},
	} {
		r.Present[c.field] = c.present
		if !c.present {
			r.Fields[c.field].I, r.Fields[c.field].Scale = 0, 0
			continue
		}
		// A record's decimals are signed 64-bit mantissas.
		if c.v > math.MaxInt64 {
			return fmt.Errorf("quotes: quote at local_timestamp %d ns: %s %s does not fit a signed 64-bit mantissa",
				d.msgLocal, record.Quote.Fields[c.field].Name, decimal.String(c.v, c.scale))
		}
		r.Fields[c.field].I, r.Fields[c.field].Scale = int64(c.v), c.scale
	}
	return nil
}

// Scales returns the price and size scales a Parquet file of the quotes of
// the book stream days metas needs: the largest of their meta.json's
// "price" and "amount" scales. A quote's values come from the book, whose
// scales never exceed the largest of its events'.
func Scales(metas ...*archive.Meta) (price, size uint8) {
	for _, m := range metas {
		price, size = max(price, m.Scales["price"]), max(size, m.Scales["amount"])
	}
	return price, size
}
