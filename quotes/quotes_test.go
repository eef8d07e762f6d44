package quotes

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/stream"
)

// base is 2023-11-14T22:13:20Z in µs, for hand-written streams.
const base = 1_700_000_000_000_000

const bookHeader = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"

// importPath imports a Tardis incremental_book_L2 file into a new archive,
// in small segments so that messages meet segment boundaries, and returns
// the stream directory.
func importPath(t testing.TB, path string) string {
	t.Helper()
	res, err := ingest.Import(context.Background(), ingest.Options{Root: t.TempDir(), Input: path, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return res.Dir
}

// importText imports hand-written rows, each
// "local_offset_µs[/exchange_offset_µs] snapshot|diff side price amount".
func importText(t testing.TB, lines ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(bookHeader)
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 5 {
			t.Fatalf("bad test line %q", l)
		}
		local, exch, _ := strings.Cut(f[0], "/")
		if exch == "" {
			exch = local
		}
		lo, err1 := strconv.ParseUint(local, 10, 64)
		ex, err2 := strconv.ParseUint(exch, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad test line %q", l)
		}
		b.WriteString("binance,TEST," + strconv.FormatUint(base+ex, 10) + "," + strconv.FormatUint(base+lo, 10) + "," +
			strconv.FormatBool(f[1] == "snapshot") + "," + f[2] + "," + f[3] + "," + f[4] + "\n")
	}
	path := filepath.Join(t.TempDir(), "binance_incremental_book_L2_2023-11-14_TEST.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return importPath(t, path)
}

// deriveCSV derives the quotes of the stream in dir, priming the events
// whose local timestamp is before from (ns; 0: none), and returns the CSV.
func deriveCSV(t testing.TB, dir string, from uint64) string {
	t.Helper()
	evs, err := stream.OpenEvents(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer evs.Close()
	var out bytes.Buffer
	w := NewCSVWriter(&out, evs.Meta().Venue)
	d := New(evs.Meta().Symbol)
	for {
		ev, err := evs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.IngestTS < from {
			if err := d.Prime(ev); err != nil {
				t.Fatal(err)
			}
			continue
		}
		q, err := d.Add(ev)
		if err != nil {
			t.Fatal(err)
		}
		if q != nil {
			if err := w.Write(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	q, ok, err := d.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		if err := w.Write(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// row is an expected quote: local and exchange offsets in µs from base,
// then ask_amount, ask_price, bid_price, bid_amount.
func row(local, exch uint64, cells string) string {
	return "binance,TEST," + strconv.FormatUint(base+exch, 10) + "," + strconv.FormatUint(base+local, 10) + "," + cells
}

func TestChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"diffs before the first snapshot make no quote",
			[]string{"1 diff bid 100 1", "2 diff ask 101 1", "3 snapshot bid 99 2", "3 snapshot ask 102 3"},
			[]string{row(3, 3, "3,102,99,2")}},
		{"a change beyond the top makes none",
			[]string{"1 snapshot bid 100 1", "1 snapshot bid 99 1", "1 snapshot ask 101 1", "2 diff bid 98 5", "3 diff ask 105 1", "4 diff bid 99 0"},
			[]string{row(1, 1, "1,101,100,1")}},
		{"an amount at the top is a change",
			[]string{"1 snapshot bid 100 1", "1 snapshot ask 101 1", "2 diff bid 100 1.5", "3 diff ask 101 0.25"},
			[]string{row(1, 1, "1,101,100,1"), row(2, 2, "1,101,100,1.5"), row(3, 3, "0.25,101,100,1.5")}},
		{"a better price is a change",
			[]string{"1 snapshot bid 100 1", "1 snapshot ask 101 1", "2 diff bid 100.5 2", "3 diff ask 100.7 3"},
			[]string{row(1, 1, "1,101,100,1"), row(2, 2, "1,101,100.5,2"), row(3, 3, "3,100.7,100.5,2")}},
		{"an empty side is empty cells, never 0",
			[]string{"1 snapshot bid 100 1", "2 diff ask 101 1", "3 diff ask 101 0", "4 diff bid 100 0"},
			[]string{row(1, 1, ",,100,1"), row(2, 2, "1,101,100,1"), row(3, 3, ",,100,1"), row(4, 4, ",,,")}},
		{"a change undone within its message makes none",
			[]string{"1 snapshot bid 100 1", "1 snapshot ask 101 1", "2 diff bid 100 2", "2 diff bid 100 1", "2 diff ask 100.5 1", "2 diff ask 100.5 0"},
			[]string{row(1, 1, "1,101,100,1")}},
		{"one quote per message, at its end; timestamp the largest exchange time",
			// Snapshot rows then diff rows at one local timestamp: two events, one message.
			[]string{"3/2 snapshot bid 100 1", "3/2 snapshot ask 101 1", "3/1 diff bid 100.5 1", "5/3 diff ask 100.9 2", "5/4 diff ask 100.8 2", "5/2 diff ask 100.9 0"},
			[]string{row(3, 2, "1,101,100.5,1"), row(5, 4, "2,100.8,100.5,1")}},
		{"a rise of the book's scale alone is not a change",
			[]string{"1 snapshot bid 100 1", "1 snapshot ask 101 1", "2 diff bid 99.125 0.0001", "3 diff ask 101 1.5"},
			[]string{row(1, 1, "1,101,100,1"), row(3, 3, "1.5,101,100,1")}},
		{"a reset to the same top makes none; to another top, one",
			[]string{"1 snapshot bid 100 1", "1 snapshot ask 101 1", "2 diff bid 98 1",
				"3 snapshot bid 100 1", "3 snapshot ask 101 1", "4 diff ask 102 1", "5 snapshot bid 90 1", "5 snapshot ask 91 1"},
			[]string{row(1, 1, "1,101,100,1"), row(5, 5, "1,91,90,1")}},
		{"a crossed book is quoted as it is",
			[]string{"1 snapshot bid 100 1", "1 snapshot ask 101 1", "2 diff bid 102 1"},
			[]string{row(1, 1, "1,101,100,1"), row(2, 2, "1,101,102,1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := deriveCSV(t, importText(t, tc.in...), 0)
			want := strings.Join(Columns, ",") + "\n" + strings.Join(tc.want, "\n") + "\n"
			if got != want {
				t.Errorf("quotes\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestHeaderIsTardis(t *testing.T) {
	const sample = "testdata/huobi-dm-swap_quotes_2020-05-01_BTC-USD.nautilus10.csv"
	f, err := os.Open(sample)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head, err := csv.NewReader(f).Read()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(head, ",") != strings.Join(Columns, ",") {
		t.Errorf("columns %v, Tardis's %s: %v", Columns, sample, head)
	}
	var b bytes.Buffer
	if err := NewCSVWriter(&b, "x").Flush(); err != nil || b.String() != strings.Join(head, ",")+"\n" {
		t.Errorf("empty CSV %q, %v", b.String(), err)
	}
}

// TestPrime: the quotes after priming the events before a time are the
// whole stream's quotes from that time on.
func TestPrime(t *testing.T) {
	dir := importPath(t, "testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv")
	whole := strings.Split(deriveCSV(t, dir, 0), "\n")
	if len(whole) < 5 {
		t.Fatalf("only %d lines", len(whole))
	}
	for _, i := range []int{1, 2, len(whole) / 2, len(whole) - 2} {
		f := strings.Split(whole[i], ",")
		us, err := strconv.ParseUint(f[3], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		got := deriveCSV(t, dir, us*1000)
		want := whole[0] + "\n" + strings.Join(whole[i:], "\n")
		if got != want {
			t.Errorf("from line %d (%d µs):\n%s\nwant\n%s", i, us, got, want)
		}
	}
}

func TestAddErrorChangesNothing(t *testing.T) {
	d := New("S")
	ok := &protocol.Event{Type: protocol.Snapshot, IngestTS: 1, Bids: []protocol.Level{{Price: 100, Size: 1}}}
	if _, err := d.Add(ok); err != nil {
		t.Fatal(err)
	}
	bad := &protocol.Event{Type: protocol.Diff, IngestTS: 2, DiffFlags: protocol.FlagDelta, Bids: []protocol.Level{{Price: 101, Size: 1}}}
	if q, err := d.Add(bad); err == nil || q != nil {
		t.Fatalf("DELTA diff: %v, %v", q, err)
	}
	q, okq, err := d.Flush()
	if err != nil || !okq || q.LocalTS != 1 || q.Fields[fBidPrice].I != 100 || q.Present[fAskPrice] {
		t.Errorf("after the error: %+v, %v, %v", q, okq, err)
	}
	huge := &protocol.Event{Type: protocol.Diff, IngestTS: 3, Bids: []protocol.Level{{Price: 1 << 63, Size: 1}}}
	if _, err := d.Add(huge); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Flush(); err == nil || !strings.Contains(err.Error(), "bid_price") {
		t.Errorf("a price beyond an int64 mantissa: %v", err)
	}
}

func TestNoAllocs(t *testing.T) {
	d := New("BTCUSDT")
	snap := &protocol.Event{Type: protocol.Snapshot, PriceScale: 1, SizeScale: 3,
		Bids: []protocol.Level{{Price: 600000, Size: 5}, {Price: 599990, Size: 7}},
		Asks: []protocol.Level{{Price: 600010, Size: 2}, {Price: 600020, Size: 9}}}
	if _, err := d.Add(snap); err != nil {
		t.Fatal(err)
	}
	diff := &protocol.Event{Type: protocol.Diff, PriceScale: 1, SizeScale: 3,
		Bids: []protocol.Level{{Price: 600000, Size: 1}}, Asks: []protocol.Level{{Price: 600010, Size: 1}}}
	var ts uint64 = 10
	quotes := 0
	n := testing.AllocsPerRun(1000, func() {
		ts++
		diff.IngestTS, diff.ExchangeTS = ts*1000, ts*1000
		diff.Bids[0].Size = 1 + ts%3 // a new top amount most of the time
		q, err := d.Add(diff)
		if err != nil {
			t.Fatal(err)
		}
		if q != nil {
			quotes++
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per event", n)
	}
	if quotes < 500 {
		t.Errorf("only %d quotes", quotes)
	}
	var buf bytes.Buffer
	w := NewCSVWriter(&buf, "binance-futures")
	q, _, _ := d.Flush()
	rec := *q
	if n := testing.AllocsPerRun(1000, func() {
		buf.Reset()
		if err := w.Write(&rec); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per CSV row", n)
	}
}

// A Quote record is what an imported quotes stream holds: the record type
// and its field list are record.Quote's.
func TestRecordType(t *testing.T) {
	d := New("S")
	if d.rec.Type != record.Quote || DataType.Record != record.Quote || DataType.Name != "quotes" {
		t.Errorf("record type %v, data type %+v", d.rec.Type.Name, DataType)
	}
}

// BenchmarkDeriver derives the quotes of the repository's book sample
// (7,484 messages, 50,011 levels) from events held in memory.
func BenchmarkDeriver(b *testing.B) {
	dir := importPath(b, "../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz")
	evs, err := stream.OpenEvents(nil, dir)
	if err != nil {
		b.Fatal(err)
	}
	var all []protocol.Event
	for {
		ev, err := evs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		c := *ev
		c.Bids, c.Asks = append([]protocol.Level(nil), ev.Bids...), append([]protocol.Level(nil), ev.Asks...)
		all = append(all, c)
	}
	evs.Close()
	b.ResetTimer()
	for range b.N {
		d := New("BTCUSDT")
		for i := range all {
			if _, err := d.Add(&all[i]); err != nil {
				b.Fatal(err)
			}
		}
		d.Flush()
	}
	b.ReportMetric(float64(len(all))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
