package book

import (
	"encoding/csv"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

// parseFixed parses a plain decimal ("7541.27", "4") into value and
// decimals, without floating point.
func parseFixed(t *testing.T, s string) (uint64, uint8) {
	t.Helper()
	ip, fp, _ := strings.Cut(s, ".")
	v, err := strconv.ParseUint(ip+fp, 10, 64)
	if err != nil || len(fp) > protocol.MaxScale {
		t.Fatalf("bad decimal %q", s)
	}
	return v, uint8(len(fp))
}

// loadTardisL2 turns a Tardis incremental_book_L2 CSV into events the way
// the importer does: one event per local_timestamp group, a Snapshot if the
// group has snapshot rows, scales = the most decimals in the group.
func loadTardisL2(t *testing.T, path string) []protocol.Event {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		bid             bool
		p, s            uint64
		pd, sd          uint8
		local, exchange uint64
		snapshot        bool
	}
	var evs []protocol.Event
	var group []row
	flush := func() {
		if len(group) == 0 {
			return
		}
		ev := protocol.Event{Type: protocol.Diff, DiffFlags: protocol.FlagAbsolute, Seq: uint64(len(evs)),
			IngestTS: group[0].local * 1000, ExchangeTS: group[0].exchange * 1000}
		for _, r := range group {
			if r.snapshot {
				ev.Type, ev.DiffFlags = protocol.Snapshot, 0
			}
			ev.PriceScale, ev.SizeScale = max(ev.PriceScale, r.pd), max(ev.SizeScale, r.sd)
		}
		for _, r := range group {
			l := protocol.Level{Price: r.p * pow10[ev.PriceScale-r.pd], Size: r.s * pow10[ev.SizeScale-r.sd]}
			if r.bid {
				ev.Bids = append(ev.Bids, l)
			} else {
				ev.Asks = append(ev.Asks, l)
			}
		}
		evs = append(evs, ev)
		group = group[:0]
	}
	for _, rec := range rows[1:] { // exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount
		exch, err1 := strconv.ParseUint(rec[2], 10, 64)
		local, err2 := strconv.ParseUint(rec[3], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad timestamps in %v", rec)
		}
		r := row{bid: rec[5] == "bid", local: local, exchange: exch, snapshot: rec[4] == "true"}
		r.p, r.pd = parseFixed(t, rec[6])
		r.s, r.sd = parseFixed(t, rec[7])
		if len(group) > 0 && group[0].local != local {
			flush()
		}
		group = append(group, r)
	}
	flush()
	return evs
}

// TestRealTardisL2 replays real Binance data against the reference and pins
// the final top of book.
func TestRealTardisL2(t *testing.T) {
	evs := loadTardisL2(t, "testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv")
	r, ref := NewReplayer(Options{Strict: true}), newRef()
	for i := range evs {
		if err := r.Apply(&evs[i]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		ref.apply(&evs[i])
		if err := compareRef(r.Book(), ref); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	b := r.Book()
	if ps, ss := b.Scales(); ps != 2 || ss != 6 {
		t.Errorf("scales %d/%d, want 2/6", ps, ss)
	}
	bid, _ := b.Best(Bid)
	ask, _ := b.Best(Ask)
	if bid != L(753941, 226735) || ask != L(754127, 260806) {
		t.Errorf("top of book %v / %v, want 7539.41 × 0.226735 / 7541.27 × 0.260806", bid, ask)
	}
	st := r.Stats()
	if st.Events != 8 || st.Resets != 1 || st.LevelUpdates != 2050 || st.Gaps != 0 || st.CrossedEvents != 0 || st.AbsentRemovals == 0 {
		t.Errorf("stats %+v", st)
	}
	if st != ref.stats {
		t.Errorf("stats %+v, reference %+v", st, ref.stats)
	}
}
