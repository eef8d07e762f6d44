package tardis

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/export"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
)

// colString prints columns as name:kind[scale][?] (? = nullable).
func colString(cols []export.Column) string {
	kinds := map[export.Kind]string{export.String: "str", export.Timestamp: "ts", export.Decimal: "dec", export.Bool: "bool"}
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%s", c.Name, kinds[c.Kind])
		if c.Kind == export.Decimal {
			fmt.Fprint(&b, c.Scale)
		}
		if c.Nullable {
			b.WriteByte('?')
		}
	}
	return b.String()
}

const common = "exchange:str symbol:str timestamp:ts? local_timestamp:ts "

func TestRecordColumns(t *testing.T) {
	tests := []struct {
		dt     string
		scales []uint8
		want   string
	}{
		{"trades", []uint8{2, 6}, "id:str? side:str price:dec2 amount:dec6"},
		{"liquidations", []uint8{1, 0}, "id:str? side:str price:dec1 amount:dec0"},
		{"quotes", []uint8{3, 2, 2, 3}, "ask_amount:dec3? ask_price:dec2? bid_price:dec2? bid_amount:dec3?"},
		{"book_ticker", []uint8{0, 1, 2, 3}, "ask_amount:dec0? ask_price:dec1? bid_price:dec2? bid_amount:dec3?"},
		{"derivative_ticker", []uint8{8, 7, 0, 1, 2, 3},
			"funding_timestamp:ts? funding_rate:dec8? predicted_funding_rate:dec7? open_interest:dec0? last_price:dec1? index_price:dec2? mark_price:dec3?"},
		{"options_chain", []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17},
			"type:str strike_price:dec0 expiration:ts open_interest:dec1? last_price:dec2? bid_price:dec3? bid_amount:dec4? bid_iv:dec5? " +
				"ask_price:dec6? ask_amount:dec7? ask_iv:dec8? mark_price:dec9? mark_iv:dec10? underlying_index:str? underlying_price:dec11? " +
				"delta:dec12? gamma:dec13? vega:dec14? theta:dec15? rho:dec16?"},
		{"book_snapshot_2", []uint8{2, 3, 2, 3},
			"asks[0].price:dec2? asks[0].amount:dec3? bids[0].price:dec2? bids[0].amount:dec3? " +
				"asks[1].price:dec2? asks[1].amount:dec3? bids[1].price:dec2? bids[1].amount:dec3?"},
	}
	for _, tc := range tests {
		dt, ok := LookupDataType(tc.dt)
		if !ok {
			t.Fatalf("no data type %s", tc.dt)
		}
		cols := RecordColumns(dt.Record, dt.Depth, tc.scales)
		if got := colString(cols); got != common+tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.dt, got, common+tc.want)
		}
		// The Parquet names are Tardis's CSV header.
		var names []string
		for _, c := range cols {
			names = append(names, c.Name)
		}
		if got, want := strings.Join(names, ","), strings.Join(dt.Columns(), ","); got != want {
			t.Errorf("%s: names %s, want the CSV header %s", tc.dt, got, want)
		}
	}
}

func TestBookColumns(t *testing.T) {
	want := common[:len(common)-len("timestamp:ts? local_timestamp:ts ")] +
		"timestamp:ts local_timestamp:ts is_snapshot:bool side:str price:dec2 amount:dec8"
	if got := colString(BookColumns(2, 8)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// cellString prints cells of columns cols as the CSV row they stand for:
// decimals as sign, digits and scale ("-12e-3"), NULL for nulls.
func cellString(cols []export.Column, cells []export.Cell) string {
	if len(cells) != len(cols) {
		return fmt.Sprintf("%d cells for %d columns", len(cells), len(cols))
	}
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteByte(',')
		}
		switch k := cols[i].Kind; {
		case c.Null:
			b.WriteString("NULL")
		case k == export.String:
			b.Write(c.B)
		case k == export.Bool:
			fmt.Fprint(&b, c.Bool)
		case k == export.Decimal:
			if c.Neg {
				b.WriteByte('-')
			}
			fmt.Fprintf(&b, "%de-%d", c.Mag, c.Scale)
		default:
			fmt.Fprint(&b, c.Mag)
		}
	}
	return b.String()
}

func TestAppendRecordCells(t *testing.T) {
	trade := &record.Record{}
	trade.Reset(record.Trade)
	trade.LocalTS, trade.ExchangeTS, trade.HasExchangeTS = 2000, 1000, true
	trade.Fields[0].B = []byte("BTCUSDT")
	trade.Fields[2].U = record.SideUnknown
	trade.Fields[3] = record.Value{I: 754078, Scale: 2}
	trade.Fields[4] = record.Value{I: 39741, Scale: 6}
	for i := range trade.Present {
		trade.Present[i] = true
	}

	ticker := &record.Record{}
	ticker.Reset(record.DerivativeTicker)
	ticker.LocalTS = 5000
	ticker.Fields[0].B = []byte("XBTUSD")
	ticker.Present[1], ticker.Fields[1].U = true, 1583020800000000000
	ticker.Present[2], ticker.Fields[2] = true, record.Value{I: -12, Scale: 5}
	ticker.Present[7], ticker.Fields[7] = true, record.Value{I: 950025, Scale: 2}

	option := &record.Record{}
	option.Reset(record.OptionsChain)
	option.Fields[0].B = []byte("BTC-27SEP24-160000-P")
	option.Fields[1].U = record.OptionPut
	option.Fields[2] = record.Value{I: 160000}
	option.Fields[3].U = 1727424000000000000
	option.Fields[14].B = []byte("BTC-27SEP24")
	option.Present[1], option.Present[2], option.Present[3], option.Present[14] = true, true, true, true

	snap := &record.Record{}
	snap.Reset(record.BookSnapshot)
	snap.Fields[0].B = []byte("BTCUSDT")
	snap.Fields[1] = record.Value{Scale: 2, Scale2: 3, L: []record.Level{{Price: 1165708, Size: 1714}, {Price: 1165754, Size: 5400}}}
	snap.Fields[2] = record.Value{Scale: 2, Scale2: 3, L: []record.Level{{Price: 1165707, Size: 10896}}}
	snap.Present[0], snap.Present[1], snap.Present[2] = true, true, true

	tests := []struct {
		name  string
		rec   *record.Record
		depth int
		want  string
	}{
		{"trade with an empty id", trade, 0, "binance,BTCUSDT,1000,2000,NULL,unknown,754078e-2,39741e-6"},
		{"derivative ticker, no exchange time", ticker, 0, "binance,XBTUSD,NULL,5000,1583020800000000000,-12e-5,NULL,NULL,NULL,NULL,950025e-2"},
		{"option", option, 0, "binance,BTC-27SEP24-160000-P,NULL,0,put,160000e-0,1727424000000000000," +
			"NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,BTC-27SEP24,NULL,NULL,NULL,NULL,NULL,NULL"},
		{"snapshot, bids thinner, depth 3", snap, 3, "binance,BTCUSDT,NULL,0," +
			"1165708e-2,1714e-3,1165707e-2,10896e-3,1165754e-2,5400e-3,NULL,NULL,NULL,NULL,NULL,NULL"},
	}
	for _, tc := range tests {
		cols := RecordColumns(tc.rec.Type, tc.depth, make([]uint8, 18))
		cells := AppendRecordCells(nil, "binance", tc.rec, tc.depth)
		if got := cellString(cols, cells); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	// Absent fields leave their slots as they were.
	if got := RaiseScales([]uint8{1, 3}, ticker); fmt.Sprint(got) != "[5 3 0 0 0 2]" {
		t.Errorf("RaiseScales(ticker) = %v, want [5 3 0 0 0 2]", got)
	}
}

func TestAppendBookRows(t *testing.T) {
	ev := &protocol.Event{Type: protocol.Snapshot, IngestTS: 2000, ExchangeTS: 1000, PriceScale: 2, SizeScale: 6,
		Bids: []protocol.Level{{Price: 754138, Size: 85806}}, Asks: []protocol.Level{{Price: 754139, Size: 13013}, {Price: 754140, Size: 0}}}
	var rows []string
	emit := func(cells []export.Cell) error {
		rows = append(rows, cellString(BookColumns(2, 6), cells))
		return nil
	}
	if err := AppendBookRows("binance", "BTCUSDT", ev, emit); err != nil {
		t.Fatal(err)
	}
	ev.Type, ev.Bids, ev.Asks = protocol.Diff, ev.Bids[:0], ev.Asks[1:]
	if err := AppendBookRows("binance", "BTCUSDT", ev, emit); err != nil {
		t.Fatal(err)
	}
	if err := AppendBookRows("binance", "BTCUSDT", &protocol.Event{Type: protocol.Heartbeat}, emit); err != nil {
		t.Fatal(err)
	}
	want := "binance,BTCUSDT,1000,2000,true,bid,754138e-2,85806e-6\n" +
		"binance,BTCUSDT,1000,2000,true,ask,754139e-2,13013e-6\n" +
		"binance,BTCUSDT,1000,2000,true,ask,754140e-2,0e-6\n" +
		"binance,BTCUSDT,1000,2000,false,ask,754140e-2,0e-6"
	if got := strings.Join(rows, "\n"); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	bad := &protocol.Event{Type: protocol.Reset, Bids: []protocol.Level{{Price: 1}}}
	if err := AppendBookRows("binance", "BTCUSDT", bad, emit); err == nil {
		t.Error("a Reset with levels: no error")
	}
	stop := io.ErrShortWrite
	if err := AppendBookRows("binance", "BTCUSDT", ev, func([]export.Cell) error { return stop }); err != stop {
		t.Errorf("emit's error: got %v", err)
	}
}

// TestParquetCellsNoAllocs: nothing per record; per event, only the cells
// handed to emit (an array that escapes through the callback).
func TestParquetCellsNoAllocs(t *testing.T) {
	snap := &record.Record{}
	snap.Reset(record.BookSnapshot)
	snap.Fields[0].B = []byte("BTCUSDT")
	snap.Fields[1].L = make([]record.Level, 25)
	snap.Fields[2].L = make([]record.Level, 25)
	cells := AppendRecordCells(nil, "binance", snap, 25)
	ev := &protocol.Event{Type: protocol.Diff, Bids: make([]protocol.Level, 10)}
	emit := func(cells []export.Cell) error { return nil }
	allocs := testing.AllocsPerRun(100, func() {
		cells = AppendRecordCells(cells[:0], "binance", snap, 25)
		if err := AppendBookRows("binance", "BTCUSDT", ev, emit); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("%v allocations per record and 10-level event, want at most 1", allocs)
	}
}
