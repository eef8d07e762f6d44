package bars

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/export"
	"github.com/chronicle-archive/chronicle/record"
)

func TestVWAP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		notional [2]uint64
		volume   uint64
		ps, as   uint8
		want     string
	}{
		{"exact", [2]uint64{0, 15}, 10, 0, 0, "1.50000000"},
		{"tie rounds to even, up", [2]uint64{0, 15}, 1e9, 0, 0, "0.00000002"},   // 0.000000015
		{"tie rounds to even, down", [2]uint64{0, 25}, 1e9, 0, 0, "0.00000002"}, // 0.000000025
		{"above the tie", [2]uint64{0, 250001}, 1e13, 0, 0, "0.00000003"},       // 0.0000000250001
		{"thirds", [2]uint64{0, 2}, 3, 2, 0, "0.0066666667"},
		{"carry into the integer part", [2]uint64{0, 1999999999999}, 1e12, 0, 0, "2.00000000"},
		{"price scale 10: 18 decimals", [2]uint64{0, 1}, 3, 10, 0, "0.000000000033333333"},
		{"price scale 18: no extra digit, tie to even", [2]uint64{0, 5}, 2, 18, 0, "0.000000000000000002"},
		{"price scale 18: odd tie rounds up", [2]uint64{0, 7}, 2, 18, 0, "0.000000000000000004"},
		{"128-bit notional", [2]uint64{1, 0}, 1 << 32, 0, 0, "4294967296.00000000"},
		{"amount scale does not matter", [2]uint64{0, 96821900}, 10000, 2, 4, "96.8219000000"},
		{"zero volume", [2]uint64{0, 0}, 0, 2, 3, ""},
	} {
		b := Bar{Notional: tc.notional, Volume: tc.volume, PriceScale: tc.ps, AmountScale: tc.as}
		if got := string(b.AppendVWAP(nil)); got != tc.want {
			t.Errorf("%s: VWAP %q, want %q", tc.name, got, tc.want)
		}
		m, ok, err := b.VWAP()
		if err != nil || ok != (tc.want != "") || (ok && decimal.String(m, VWAPScale(tc.ps)) != decimal.String(mustParse(t, tc.want))) {
			t.Errorf("%s: VWAP() = %d, %v, %v", tc.name, m, ok, err)
		}
	}
	b := Bar{Notional: [2]uint64{0, 1 << 62}, Volume: 1, PriceScale: 2}
	if _, _, err := b.VWAP(); err == nil {
		t.Error("VWAP of 2^62 × 10^8 units at 10 decimals: no error")
	}
}

func mustParse(t *testing.T, s string) (uint64, uint8) {
	m, sc, err := decimal.ParseString(s)
	if err != nil {
		t.Fatal(err)
	}
	return m, sc
}

// tr builds a trade at local µs us, exchange µs us-1, from decimal text.
func tr(t *testing.T, us uint64, price, amount string, side uint8) *Trade {
	p, ps := mustParse(t, price)
	a, as := mustParse(t, amount)
	return &Trade{LocalTS: us * 1000, ExchangeTS: (us - 1) * 1000, Price: p, PriceScale: ps, Amount: a, AmountScale: as, Side: side}
}

func run(t *testing.T, a *Aggregator, trades ...*Trade) []Bar {
	t.Helper()
	var out []Bar
	for i, x := range trades {
		b, err := a.Add(x)
		if err != nil {
			t.Fatalf("trade %d: %v", i, err)
		}
		if b != nil {
			out = append(out, *b)
		}
	}
	if b, ok := a.Flush(); ok {
		out = append(out, *b)
	}
	if _, ok := a.Flush(); ok {
		t.Fatal("second Flush returned a bar")
	}
	return out
}

func TestScales(t *testing.T) {
	a, _ := NewByCount(3)
	bars := run(t, a,
		tr(t, 1, "9682", "1", record.SideBuy),
		tr(t, 2, "9682.19", "0.5", record.SideSell), // raises both scales mid-bar
		tr(t, 3, "9680", "2", record.SideUnknown),   // fewer decimals: brought up
		tr(t, 4, "9681.5", "0.25", record.SideBuy),  // next bar keeps scale 2
	)
	want := []Bar{
		{Start: 1000, End: 3000, OpenTS: 0, CloseTS: 2000, Open: 968200, High: 968219, Low: 968000, Close: 968000, PriceScale: 2,
			Volume: 35, BuyVolume: 10, SellVolume: 5, AmountScale: 1,
			Notional: [2]uint64{0, 33883095}, Trades: 3}, // 9682×1 + 9682.19×0.5 + 9680×2 = 33883.095
		{Start: 4000, End: 4000, OpenTS: 3000, CloseTS: 3000, Open: 968150, High: 968150, Low: 968150, Close: 968150, PriceScale: 2,
			Volume: 25, BuyVolume: 25, AmountScale: 2, Notional: [2]uint64{0, 968150 * 25}, Trades: 1},
	}
	if len(bars) != len(want) {
		t.Fatalf("%d bars: %+v", len(bars), bars)
	}
	for i := range want {
		if bars[i] != want[i] {
			t.Errorf("bar %d:\n got %+v\nwant %+v", i, bars[i], want[i])
		}
	}
}

func TestByTimeGaps(t *testing.T) {
	a, _ := NewByTime(1e9)
	bars := run(t, a,
		tr(t, 1_000_000, "1", "1", record.SideBuy),
		tr(t, 1_999_999, "2", "1", record.SideBuy),
		tr(t, 2_000_000, "3", "1", record.SideBuy), // exactly at a boundary: next bar
		tr(t, 5_500_000, "4", "1", record.SideBuy), // seconds 3 and 4 have no trades: no bars
	)
	var got [][3]uint64
	for _, b := range bars {
		got = append(got, [3]uint64{b.Start / 1e9, b.End / 1e9, uint64(b.Trades)})
	}
	want := [][3]uint64{{1, 2, 2}, {2, 3, 1}, {5, 6, 1}}
	if len(got) != len(want) {
		t.Fatalf("bars %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("bars %v, want %v", got, want)
		}
	}
}

func TestByVolumeNoSplit(t *testing.T) {
	a, _ := NewByVolume(15, 1) // 1.5
	bars := run(t, a,
		tr(t, 1, "1", "1", record.SideBuy),
		tr(t, 2, "1", "0.4", record.SideBuy),  // 1.4
		tr(t, 3, "1", "0.1", record.SideSell), // 1.5: closes at exactly the threshold
		tr(t, 4, "1", "7", record.SideBuy),    // 7 alone crosses: not split
		tr(t, 5, "1", "0.001", record.SideBuy),
	)
	var got []string
	for _, b := range bars {
		got = append(got, decimal.String(b.Volume, b.AmountScale))
	}
	if strings.Join(got, " ") != "1.5 7 0.001" {
		t.Errorf("volumes %v, want [1.5 7 0.001]", got)
	}
}

func TestAddErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		trades []*Trade
		want   string
	}{
		{"volume overflow", []*Trade{{Price: 1, Amount: math.MaxUint64}, {Price: 1, Amount: 1}}, "volume"},
		{"bar price no longer fits", []*Trade{{Price: 1e19, Amount: 1}, {Price: 1, PriceScale: 1, Amount: 1}}, "open"},
		{"trade price does not fit", []*Trade{{Price: 1, PriceScale: 2, Amount: 1}, {Price: 1e18, Amount: 1}}, "price 1000000000000000000"},
		{"trade amount does not fit", []*Trade{{Price: 1, Amount: 1, AmountScale: 5}, {Price: 1, Amount: 1e15}}, "amount"},
	} {
		a, _ := NewByCount(10)
		var err error
		for _, x := range tc.trades {
			if _, err = a.Add(x); err != nil {
				break
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one about %q", tc.name, err, tc.want)
		}
		// The failed trade changed nothing: the bar holds the first trade.
		if b, ok := a.Flush(); !ok || b.Trades != 1 {
			t.Errorf("%s: after the error, bar %+v", tc.name, b)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for name, err := range map[string]error{
		"time 0":       second(NewByTime(0)),
		"time 1500ns":  second(NewByTime(1500)),
		"count 0":      second(NewByCount(0)),
		"volume 0":     second(NewByVolume(0, 0)),
		"volume 1e-19": second(NewByVolume(1, 19)),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func second(_ *Aggregator, err error) error { return err }

func TestNoAllocs(t *testing.T) {
	for _, mk := range []func() (*Aggregator, error){
		func() (*Aggregator, error) { return NewByTime(1e6) },
		func() (*Aggregator, error) { return NewByCount(7) },
		func() (*Aggregator, error) { return NewByVolume(5, 0) },
	} {
		a, _ := mk()
		x := &Trade{Price: 968219, PriceScale: 2, Amount: 1, AmountScale: 0, Side: record.SideBuy}
		if n := testing.AllocsPerRun(1000, func() {
			x.LocalTS += 100_000
			if _, err := a.Add(x); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%v allocations per trade", n)
		}
	}
}

func TestWriters(t *testing.T) {
	var buf bytes.Buffer
	w := NewCSVWriter(&buf)
	if err := w.Flush(); err != nil || buf.String() != strings.Join(Columns, ",")+"\n" {
		t.Fatalf("empty CSV %q, %v", buf.String(), err)
	}
	a, _ := NewByTime(1e9)
	got := run(t, a,
		tr(t, 1582329602418379, "9682", "0.132", record.SideBuy),
		tr(t, 1582329602421536, "9682.19", "0.01", record.SideSell),
		tr(t, 1582329602421551, "9680.5", "0.0000001", record.SideUnknown),
	)
	buf.Reset()
	w = NewCSVWriter(&buf)
	if err := w.Write(&got[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// VWAP: (9682×0.132 + 9682.19×0.01 + 9680.5×0.0000001) / 0.1420001
	// = 1374.84686805 / 0.1420001 = 9682.01337921587... (10 decimals).
	want := strings.Join(Columns, ",") + "\n" +
		"1582329602000000,1582329603000000,9682,9682.19,9680.5,9680.5,0.1420001,0.132,0.01,9682.0133792159,3,1582329602418378,1582329602421550\n"
	if buf.String() != want {
		t.Errorf("CSV\n%s\nwant\n%s", buf.String(), want)
	}
	b := Bar{Start: 1500, End: 2000, Trades: 1}
	if err := w.Write(&b); err == nil || !strings.Contains(err.Error(), "row 2, start") {
		t.Errorf("Write of a bar starting at 1500 ns: %v", err)
	}
	var pb bytes.Buffer
	p, err := NewParquetWriter(&pb, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	over := Bar{Notional: [2]uint64{0, 1 << 62}, Volume: 1, PriceScale: 2, Trades: 1}
	if err := p.Write(&over); err == nil || !strings.Contains(err.Error(), "VWAP") {
		t.Errorf("Parquet write of a VWAP beyond a u64 mantissa: %v", err)
	}
	finer := Bar{Open: 1, PriceScale: 3, Trades: 1}
	if err := p.Write(&finer); !errors.Is(err, export.ErrValue) {
		t.Errorf("Parquet write of a price finer than the column: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAdd: 1 s bars over trades 100 µs apart.
func BenchmarkAdd(b *testing.B) {
	a, _ := NewByTime(1e9)
	x := &Trade{Price: 968219, PriceScale: 2, Amount: 13, AmountScale: 3, Side: record.SideBuy}
	for i := range b.N {
		x.LocalTS += 100_000
		x.Price = 968219 + uint64(i&63)
		if _, err := a.Add(x); err != nil {
			b.Fatal(err)
		}
	}
}
