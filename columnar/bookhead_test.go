package columnar

import (
	"bytes"
	"math"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

// bookCols builds a book block's columns for events evs (their levels
// differenced as the encoder's pushBook does) and reads them back as the
// decoder does, the prices and sizes lazy.
func bookCols(t *testing.T, evs []protocol.Event) []rcol {
	t.Helper()
	cs := make([]col, nCommon+6)
	for i, k := range layouts[protocol.TypeBookEvent].kinds {
		cs[i].kind = k
	}
	var bid, ask uint64
	for i := range evs {
		ev := &evs[i]
		cs[cTS].u = append(cs[cTS].u, ev.IngestTS)
		cs[cBookType].b = append(cs[cBookType].b, byte(ev.Type))
		cs[cBookExch].u = append(cs[cBookExch].u, ev.ExchangeTS)
		cs[cBookScales].b = append(cs[cBookScales].b, ev.PriceScale, ev.SizeScale)
		cs[cBookCounts].u = append(cs[cBookCounts].u, uint64(len(ev.Bids)), uint64(len(ev.Asks)))
		pushLevels(&cs[cBookPrices].u, &cs[cBookSizes].u, ev.Bids, &bid)
		pushLevels(&cs[cBookPrices].u, &cs[cBookSizes].u, ev.Asks, &ask)
	}
	var src []byte
	var s scratch
	for i := range cs {
		src = appendCol(src, &cs[i], &s)
	}
	var raw []byte
	var vals []uint64
	rc := make([]rcol, len(cs))
	l := layouts[protocol.TypeBookEvent]
	for i := range rc {
		var err error
		if src, err = readCol(src, &raw, &vals, &rc[i], l.kinds[i], l.lazy(i)); err != nil {
			t.Fatalf("column %d: %v", i, err)
		}
	}
	return rc
}

// TestBookHead: (*decoder).book writes, for every event a column can hold,
// the bytes of the record an import writes (predictBook, then
// protocol.AppendEvent and frame: bookRecord), with and without the
// CRC-32, into a buffer of garbage: its fast path for a Diff or Snapshot
// as its Event path for the rest, and the same errors as AppendEvent.
func TestBookHead(t *testing.T) {
	ctx := bookCtx{venue: 0xfedc, market: 0xfedcba98, stream: 0x76543210}
	lv := func(n int, price, step, size uint64) []protocol.Level {
		var l []protocol.Level
		for i := range n {
			l = append(l, protocol.Level{Price: price + uint64(i)*step, Size: size * uint64(i+1)})
		}
		return l
	}
	tests := []struct {
		name     string
		firstSeq uint64
		evs      []protocol.Event
		err      bool // the last event is refused
	}{
		{"diff, both sides", 7, []protocol.Event{
			{Type: protocol.Diff, IngestTS: 1e18, ExchangeTS: 1e18 - 5, PriceScale: 1, SizeScale: 3, Bids: lv(3, 600000, ^uint64(9), 17), Asks: lv(4, 600010, 3, 5)},
			{Type: protocol.Diff, IngestTS: 1e18 + 1, ExchangeTS: 0, PriceScale: 1, SizeScale: 3, Bids: lv(1, 599000, 0, 1), Asks: lv(2, 601000, 1, 1)},
		}, false},
		{"snapshot, then one-sided diffs", 0, []protocol.Event{
			{Type: protocol.Snapshot, IngestTS: 5, ExchangeTS: 4, PriceScale: 18, SizeScale: 18, Bids: lv(40, 1000, ^uint64(0), 3), Asks: lv(37, 2000, 1, 2)},
			{Type: protocol.Diff, IngestTS: 6, ExchangeTS: 6, Bids: lv(2, 990, 1, 0)},
			{Type: protocol.Diff, IngestTS: 7, ExchangeTS: 7, Asks: lv(3, 2001, 7, math.MaxUint64)},
			{Type: protocol.Diff, IngestTS: 8, ExchangeTS: 8},
			{Type: protocol.Snapshot, IngestTS: 9, ExchangeTS: 9},
		}, false},
		{"seq 0, 1 and the last", math.MaxUint64 - 1, []protocol.Event{
			{Type: protocol.Diff, IngestTS: math.MaxUint64, ExchangeTS: math.MaxUint64, Bids: lv(1, math.MaxUint64, 0, 1)},
			{Type: protocol.Diff, IngestTS: 1, ExchangeTS: 2, Bids: lv(1, 0, 0, 1), Asks: lv(1, math.MaxUint64, 0, math.MaxUint64)},
			{Type: protocol.Diff, IngestTS: 1, ExchangeTS: 2, Asks: lv(5, 1<<63, 1<<40, 1<<50)},
		}, false},
		{"wide and round values", 100, []protocol.Event{
			{Type: protocol.Diff, IngestTS: 1e18, ExchangeTS: 1e18, Bids: lv(6, 1<<40*1000, 1<<33*1000, 1<<30*1000), Asks: lv(6, 1<<41*1000, 1<<20*1000, 1<<44*1000)},
			{Type: protocol.Snapshot, IngestTS: 1e18, ExchangeTS: 1e18, Bids: lv(6, 1<<50*1000, 1<<45*1000, 1<<52*1000), Asks: lv(6, 1<<52*1000, 1<<50*1000, 1<<30*1000)},
		}, false},
		{"reset and heartbeat: the Event's way", 3, []protocol.Event{
			{Type: protocol.Diff, IngestTS: 10, ExchangeTS: 10, Bids: lv(2, 50, 1, 1)},
			{Type: protocol.Reset, IngestTS: 11, ExchangeTS: 11},
			{Type: protocol.Heartbeat, IngestTS: 12, ExchangeTS: 12},
			{Type: protocol.Diff, IngestTS: 13, ExchangeTS: 13, Bids: lv(2, 52, 1, 1), Asks: lv(1, 60, 0, 1)},
		}, false},
		{"reset with levels", 3, []protocol.Event{{Type: protocol.Reset, IngestTS: 11, ExchangeTS: 11, Asks: lv(1, 5, 0, 1)}}, true},
		{"unknown event type", 3, []protocol.Event{{Type: 9, IngestTS: 11, ExchangeTS: 11}}, true},
		{"price scale 19", 3, []protocol.Event{{Type: protocol.Diff, PriceScale: 19, Bids: lv(1, 5, 0, 1)}}, true},
		{"size scale 19", 3, []protocol.Event{{Type: protocol.Snapshot, SizeScale: 19}}, true},
	}
	for _, tc := range tests {
		for _, crc := range []bool{true, false} {
			var want []byte
			var wantErr error
			seq := tc.firstSeq
			for i := range tc.evs {
				ev := tc.evs[i]
				predictBook(&ev, seq, ctx)
				if want, wantErr = bookRecord(want, seq, &ev, crc); wantErr != nil {
					break
				}
				seq++
			}
			if (wantErr != nil) != tc.err {
				t.Fatalf("%s: bookRecord: %v", tc.name, wantErr)
			}
			cols := bookCols(t, tc.evs)
			d := decoder{noCRC: !crc}
			d.st.reset(tc.firstSeq, 0)
			// Garbage after the prefix: every byte of a record must be
			// written.
			got := bytes.Repeat([]byte{0xa5}, 1<<16)[:3]
			got[0], got[1], got[2] = 'p', 'r', 'e'
			var err error
			seq = tc.firstSeq
			for range tc.evs {
				room := cap(got) - len(got)
				if got, err = d.book(got, cols, seq, ctx, room); err != nil {
					break
				}
				seq++
			}
			if (err != nil) != tc.err {
				t.Fatalf("%s, crc %v: book: %v, want an error: %v", tc.name, crc, err, tc.err)
			}
			if !bytes.Equal(got[3:], want) || string(got[:3]) != "pre" {
				t.Fatalf("%s, crc %v: differs at %d of %d bytes (%d wanted)", tc.name, crc, firstDiff(got[3:], want), len(got)-3, len(want))
			}
			if !tc.err {
				for i := range cols {
					if !cols[i].done() {
						t.Errorf("%s: column %d not used up", tc.name, i)
					}
				}
			}
		}
	}
}

// TestBookHeadRoom: an event that does not fit the room left takes the
// Event's way, which writes it whole (the caller reports it as past the
// block's end), and one whose levels alone do not fit is an error.
func TestBookHeadRoom(t *testing.T) {
	ev := protocol.Event{Type: protocol.Diff, IngestTS: 1, ExchangeTS: 1,
		Bids: []protocol.Level{{Price: 5, Size: 1}}, Asks: []protocol.Level{{Price: 6, Size: 2}}}
	want, _ := bookRecord(nil, 0, func() *protocol.Event { e := ev; predictBook(&e, 0, bookCtx{}); return &e }(), true)
	for _, room := range []int{len(want), len(want) - 1, 2 * protocol.LevelSize} {
		d := decoder{}
		d.st.reset(0, 0)
		got, err := d.book(make([]byte, 0, room), bookCols(t, []protocol.Event{ev}), 0, bookCtx{}, room)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("room %d: %v, bytes equal: %v", room, err, bytes.Equal(got, want))
		}
	}
	d := decoder{}
	d.st.reset(0, 0)
	if _, err := d.book(nil, bookCols(t, []protocol.Event{ev}), 0, bookCtx{}, 2*protocol.LevelSize-1); err == nil {
		t.Errorf("room %d: no error", 2*protocol.LevelSize-1)
	}
}
