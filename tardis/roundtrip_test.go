package tardis

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
)

const (
	binanceFile = "testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv"
	deribitFile = "testdata/deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.nautilus15.csv"
)

// valueRow is a CSV row reduced to values, for comparing files that write
// the same numbers differently ("100.50" and "100.5").
type valueRow struct {
	ts, local     uint64
	snap          string
	side          string // bid or ask
	price, amount [2]uint64
}

// valueRows parses a CSV with encoding/csv, independently of the reader
// under test, into groups of rows that form one event, each ordered bids
// first as the reader orders them.
func valueRows(t testing.TB, data []byte) [][]valueRow {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[strings.TrimPrefix(name, "\xef\xbb\xbf")] = i
	}
	num := func(s string) [2]uint64 {
		m, sc, err := decimal.ParseString(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return [2]uint64{m, uint64(sc)}
	}
	var groups [][]valueRow
	for _, rec := range recs[1:] {
		local, _ := strconv.ParseUint(rec[col["local_timestamp"]], 10, 64)
		ts, _ := strconv.ParseUint(rec[col["timestamp"]], 10, 64)
		if ts == 0 {
			ts = local
		}
		side := rec[col["side"]]
		if side == "buy" {
			side = "bid"
		} else if side == "sell" {
			side = "ask"
		}
		v := valueRow{ts, local, rec[col["is_snapshot"]], side, num(rec[col["price"]]), num(rec[col["amount"]])}
		if n := len(groups); n > 0 && groups[n-1][0].local == v.local && groups[n-1][0].snap == v.snap {
			groups[n-1] = append(groups[n-1], v)
		} else {
			groups = append(groups, []valueRow{v})
		}
	}
	for _, g := range groups {
		// The exchange timestamp of an event is its largest.
		var maxTS uint64
		for _, v := range g {
			maxTS = max(maxTS, v.ts)
		}
		for i := range g {
			g[i].ts = maxTS
		}
		slices.SortStableFunc(g, func(a, b valueRow) int {
			return strings.Compare(b.side, a.side) // "bid" before "ask"
		})
	}
	return groups
}

func writeAll(t testing.TB, evs []protocol.Event, exchange, symbol string) []byte {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, exchange, symbol)
	for i := range evs {
		if err := w.WriteEvent(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestRealFilesRoundTrip(t *testing.T) {
	tests := []struct {
		file             string
		exchange, symbol string
		events, rows     int
		first            protocol.EventType
		bids, asks       int // in the first event
	}{
		{binanceFile, "binance", "BTCUSDT", 8, 2050, protocol.Snapshot, 1000, 1000},
		{deribitFile, "deribit", "BTC-PERPETUAL", 1, 15, protocol.Snapshot, 0, 15},
	}
	for _, tt := range tests {
		t.Run(tt.exchange, func(t *testing.T) {
			in, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Open(tt.file, auto)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := readAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != tt.events || r.Rows() != int64(tt.rows) || r.Exchange() != tt.exchange || r.Symbol() != tt.symbol {
				t.Fatalf("%d events, %d rows, %q %q", len(evs), r.Rows(), r.Exchange(), r.Symbol())
			}
			if e := evs[0]; e.Type != tt.first || len(e.Bids) != tt.bids || len(e.Asks) != tt.asks {
				t.Errorf("first event %v with %d bids, %d asks", e.Type, len(e.Bids), len(e.Asks))
			}
			for i := range evs {
				if _, err := protocol.AppendEvent(nil, &evs[i]); err != nil {
					t.Errorf("event %d: %v", i, err)
				}
			}
			out := writeAll(t, evs, r.Exchange(), r.Symbol())
			if want, got := valueRows(t, in), valueRows(t, out); !reflect.DeepEqual(got, want) {
				t.Errorf("rows written back differ from the input\n got %v\nwant %v", got, want)
			}
			// Reading the written file gives the same events.
			again, err := readString(string(out), auto)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again, evs) {
				t.Error("events differ after a write/read round trip")
			}
		})
	}
}

// TestBinanceValues pins a few values of the real file.
func TestBinanceValues(t *testing.T) {
	r, err := Open(binanceFile, auto)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	evs, err := readAll(r)
	if err != nil {
		t.Fatal(err)
	}
	snap := evs[0]
	if snap.IngestTS != 1575158405045139000 || snap.ExchangeTS != 1575158405045139000 ||
		snap.PriceScale != 2 || snap.SizeScale != 6 {
		t.Errorf("snapshot header %+v", protocol.Event{Type: snap.Type, IngestTS: snap.IngestTS, ExchangeTS: snap.ExchangeTS, PriceScale: snap.PriceScale, SizeScale: snap.SizeScale})
	}
	// First ask row: 7541.38, 0.085806; the third: 7541.4, 4.
	if got := snap.Asks[0]; got != (protocol.Level{Price: 754138, Size: 85806}) {
		t.Errorf("first ask %+v", got)
	}
	if got := snap.Asks[2]; got != (protocol.Level{Price: 754140, Size: 4000000}) {
		t.Errorf("third ask %+v", got)
	}
	// The exchange timestamp of the first diff is earlier than the snapshot's.
	if d := evs[1]; d.Type != protocol.Diff || d.ExchangeTS != 1575158404999000000 || d.IngestTS != 1575158405116597000 {
		t.Errorf("first diff %v ts %d/%d", d.Type, d.ExchangeTS, d.IngestTS)
	}
}

// TestGeneratedRoundTrip checks the in-test generator's data the same way.
func TestGeneratedRoundTrip(t *testing.T) {
	in := genCSV(50000, 9)
	evs, err := readString(string(in), auto)
	if err != nil {
		t.Fatal(err)
	}
	out := writeAll(t, evs, "binance-futures", "BTCUSDT")
	if !reflect.DeepEqual(valueRows(t, out), valueRows(t, in)) {
		t.Error("generated rows differ after a round trip")
	}
}

// TestTardisgen reads output of the shared generator, when it is there.
func TestTardisgen(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs the shared generator with go run")
	}
	const tools = "../../shared/tools"
	if _, err := os.Stat(tools + "/tardisgen"); err != nil {
		t.Skipf("skipping: generator not found at %s (it is outside this repository)", tools)
	}
	cmd := exec.Command("go", "run", "./tardisgen", "-rows", "30000", "-resnap-every", "2000", "-lot", "0.0000001")
	cmd.Dir = tools
	in, err := cmd.Output()
	if err != nil {
		t.Skipf("skipping: cannot run the generator: %v", err)
	}
	evs, err := readString(string(in), auto)
	if err != nil {
		t.Fatal(err)
	}
	out := writeAll(t, evs, "binance-futures", "BTCUSDT")
	if !bytes.Contains(in, []byte("e-7")) {
		t.Log("note: generator output has no exponent numbers")
	}
	if !reflect.DeepEqual(valueRows(t, out), valueRows(t, in)) {
		t.Error("tardisgen rows differ after a round trip")
	}
}

func TestWriter(t *testing.T) {
	tests := []struct {
		name             string
		exchange, symbol string
		evs              []protocol.Event
		want             string
	}{
		{"no events", "ex", "S", nil, hdr},
		{"rows", "ex", "S", []protocol.Event{
			{Type: protocol.Snapshot, IngestTS: 5000, ExchangeTS: 4999, PriceScale: 2, SizeScale: 8,
				Bids: lv(10050, 12), Asks: lv(10100, 100000000)},
			{Type: protocol.Heartbeat},
			{Type: protocol.Diff, IngestTS: 6000, ExchangeTS: 0, PriceScale: 0, SizeScale: 0, Bids: lv(), Asks: lv(7, 0)},
		}, hdr +
			"ex,S,4,5,true,bid,100.5,1.2e-7\n" +
			"ex,S,4,5,true,ask,101,1\n" +
			"ex,S,0,6,false,ask,7,0\n"},
		{"quoting", `a,b`, `c"d`, []protocol.Event{{Type: protocol.Diff, Bids: lv(1, 1)}},
			hdr + `"a,b","c""d",0,0,false,bid,1,1` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(writeAll(t, tt.evs, tt.exchange, tt.symbol))
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			r, err := NewEventReader(strings.NewReader(got), auto)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := readAll(r); err != nil {
				t.Fatal(err)
			}
			if len(tt.evs) > 0 && (r.Exchange() != tt.exchange || r.Symbol() != tt.symbol) {
				t.Errorf("read back %q %q", r.Exchange(), r.Symbol())
			}
		})
	}
	w := NewWriter(io.Discard, "ex", "S")
	if err := w.WriteEvent(&protocol.Event{Type: protocol.Reset, Bids: lv(1, 1)}); err == nil {
		t.Error("Reset with levels written")
	}
	if err := w.WriteEvent(&protocol.Event{Type: 9}); err == nil {
		t.Error("unknown event type written")
	}
}

func TestWriterError(t *testing.T) {
	w := NewWriter(failWriter{}, "ex", "S")
	ev := protocol.Event{Type: protocol.Diff, Bids: lv(1, 1)}
	var err error
	for range 10000 {
		if err = w.WriteEvent(&ev); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if !errors.Is(err, errFail) || !errors.Is(w.Flush(), errFail) {
		t.Errorf("got %v, want the write error, sticky", err)
	}
}

var errFail = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }
