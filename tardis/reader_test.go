package tardis

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/klauspost/compress/gzip"
)

const hdr = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"

// xhdr has an extra column after the standard ones.
const xhdr = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount,extra\n"

var auto = Options{Name: "x.csv"}

// readAll reads every event, copying the levels, until EOF or an error.
func readAll(r *EventReader) ([]protocol.Event, error) {
	var out []protocol.Event
	var ev protocol.Event
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		c := ev
		c.Bids = append([]protocol.Level{}, ev.Bids...)
		c.Asks = append([]protocol.Level{}, ev.Asks...)
		out = append(out, c)
	}
}

func readString(s string, opts Options) ([]protocol.Event, error) {
	r, err := NewEventReader(strings.NewReader(s), opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readAll(r)
}

// lv builds levels from "price:size" pairs already in fixed point.
func lv(pairs ...uint64) []protocol.Level {
	out := []protocol.Level{}
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, protocol.Level{Price: pairs[i], Size: pairs[i+1]})
	}
	return out
}

func TestEvents(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts Options
		want []protocol.Event
	}{
		{
			name: "snapshot then diffs",
			in: hdr +
				"ex,S,100,105,true,ask,10.5,1\n" +
				"ex,S,100,105,true,bid,10,2\n" +
				"ex,S,101,105,true,bid,9.75,3\n" +
				"ex,S,110,115,false,bid,10,0\n" +
				"ex,S,120,125,false,sell,11,0.5\n" +
				"ex,S,120,125,false,buy,10.25,0.25\n",
			opts: auto,
			want: []protocol.Event{
				{Type: protocol.Snapshot, IngestTS: 105000, ExchangeTS: 101000, PriceScale: 2, SizeScale: 0,
					Bids: lv(1000, 2, 975, 3), Asks: lv(1050, 1)},
				{Type: protocol.Diff, IngestTS: 115000, ExchangeTS: 110000, PriceScale: 2, SizeScale: 0,
					Bids: lv(1000, 0), Asks: lv()},
				{Type: protocol.Diff, IngestTS: 125000, ExchangeTS: 120000, PriceScale: 2, SizeScale: 2,
					Bids: lv(1025, 25), Asks: lv(1100, 50)},
			},
		},
		{
			name: "mixed group splits where is_snapshot switches",
			in: hdr +
				"ex,S,1,5,false,bid,1,1\n" +
				"ex,S,1,5,true,bid,2,1\n" +
				"ex,S,1,5,true,ask,3,1\n" +
				"ex,S,1,5,false,ask,4,1\n" +
				"ex,S,1,6,false,ask,5,1\n",
			opts: auto,
			want: []protocol.Event{
				{Type: protocol.Diff, IngestTS: 5000, ExchangeTS: 1000, Bids: lv(1, 1), Asks: lv()},
				{Type: protocol.Snapshot, IngestTS: 5000, ExchangeTS: 1000, Bids: lv(2, 1), Asks: lv(3, 1)},
				{Type: protocol.Diff, IngestTS: 5000, ExchangeTS: 1000, Bids: lv(), Asks: lv(4, 1)},
				{Type: protocol.Diff, IngestTS: 6000, ExchangeTS: 1000, Bids: lv(), Asks: lv(5, 1)},
			},
		},
		{
			name: "same local_timestamp not adjacent is two groups",
			in: hdr +
				"ex,S,1,5,false,bid,1,1\n" +
				"ex,S,1,6,false,bid,1,2\n" +
				"ex,S,1,5,false,bid,1,3\n",
			opts: auto,
			want: []protocol.Event{
				{Type: protocol.Diff, IngestTS: 5000, ExchangeTS: 1000, Bids: lv(1, 1), Asks: lv()},
				{Type: protocol.Diff, IngestTS: 6000, ExchangeTS: 1000, Bids: lv(1, 2), Asks: lv()},
				{Type: protocol.Diff, IngestTS: 5000, ExchangeTS: 1000, Bids: lv(1, 3), Asks: lv()},
			},
		},
		{
			name: "exchange timestamp is the largest, 0 and empty fall back to local",
			in: hdr +
				"ex,S,7,9,false,bid,1,1\n" +
				"ex,S,0,9,false,bid,1,1\n" +
				"ex,S,8,9,false,bid,1,1\n" +
				"ex,S,0,20,false,bid,1,1\n" +
				"ex,S,,30,false,bid,1,1\n" +
				"ex,S,3,30,false,bid,1,1\n",
			opts: auto,
			want: []protocol.Event{
				{Type: protocol.Diff, IngestTS: 9000, ExchangeTS: 9000, Bids: lv(1, 1, 1, 1, 1, 1), Asks: lv()},
				{Type: protocol.Diff, IngestTS: 20000, ExchangeTS: 20000, Bids: lv(1, 1), Asks: lv()},
				{Type: protocol.Diff, IngestTS: 30000, ExchangeTS: 30000, Bids: lv(1, 1, 1, 1), Asks: lv()},
			},
		},
		{
			name: "automatic scale never goes down",
			in: hdr +
				"ex,S,1,1,false,bid,1.5,0.001\n" +
				"ex,S,1,2,false,bid,2,1\n" +
				"ex,S,1,3,false,ask,1.2e-7,5E-3\n" +
				"ex,S,1,4,false,ask,100.50,1e3\n",
			opts: auto,
			want: []protocol.Event{
				{Type: protocol.Diff, IngestTS: 1000, ExchangeTS: 1000, PriceScale: 1, SizeScale: 3, Bids: lv(15, 1), Asks: lv()},
				{Type: protocol.Diff, IngestTS: 2000, ExchangeTS: 1000, PriceScale: 1, SizeScale: 3, Bids: lv(20, 1000), Asks: lv()},
				{Type: protocol.Diff, IngestTS: 3000, ExchangeTS: 1000, PriceScale: 8, SizeScale: 3, Bids: lv(), Asks: lv(12, 5)},
				{Type: protocol.Diff, IngestTS: 4000, ExchangeTS: 1000, PriceScale: 8, SizeScale: 3, Bids: lv(), Asks: lv(10050000000, 1000000)},
			},
		},
		{
			name: "fixed scales",
			in: hdr +
				"ex,S,1,1,false,bid,1.5,0.001\n" +
				"ex,S,1,2,false,bid,2,1\n",
			opts: Options{PriceScale: FixedScale(2), SizeScale: FixedScale(4)},
			want: []protocol.Event{
				{Type: protocol.Diff, IngestTS: 1000, ExchangeTS: 1000, PriceScale: 2, SizeScale: 4, Bids: lv(150, 10), Asks: lv()},
				{Type: protocol.Diff, IngestTS: 2000, ExchangeTS: 1000, PriceScale: 2, SizeScale: 4, Bids: lv(200, 10000), Asks: lv()},
			},
		},
		{
			name: "columns in another order, extra columns, quotes, CRLF, BOM",
			in: "\xef\xbb\xbfid,\"amount\",price,side,is_snapshot,local_timestamp,timestamp,symbol,exchange,note\r\n" +
				"1,\"0.5\",\"7541.38\",bid,true,10,9,\"S\",ex,\"a, \"\"quoted\"\" note\"\r\n" +
				"2,1,7541.4,ask,true,10,9,S,ex,\r\n" +
				"\r\n",
			opts: auto,
			want: []protocol.Event{
				{Type: protocol.Snapshot, IngestTS: 10000, ExchangeTS: 9000, PriceScale: 2, SizeScale: 1, Bids: lv(754138, 5), Asks: lv(754140, 10)},
			},
		},
		{
			name: "no final newline",
			in:   hdr + "ex,S,1,1,false,bid,1,1",
			opts: auto,
			want: []protocol.Event{{Type: protocol.Diff, IngestTS: 1000, ExchangeTS: 1000, Bids: lv(1, 1), Asks: lv()}},
		},
		{
			name: "blank lines at the end",
			in:   hdr + "ex,S,1,1,false,bid,1,1\n\n\n",
			opts: auto,
			want: []protocol.Event{{Type: protocol.Diff, IngestTS: 1000, ExchangeTS: 1000, Bids: lv(1, 1), Asks: lv()}},
		},
		{name: "header only", in: hdr, opts: auto},
		{name: "header only, no newline", in: strings.TrimSuffix(hdr, "\n"), opts: auto},
		{name: "header and blank line", in: hdr + "\n", opts: auto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readString(tt.in, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	row := func(price, amount string) string {
		return hdr + "ex,S,1,1,false,bid,1,1\nex,S,1,2,false,bid," + price + "," + amount + "\n"
	}
	tests := []struct {
		name  string
		in    string
		opts  Options
		line  int64
		field string
		err   error
		msg   string // full message, if checked
	}{
		{"bad number", row("abc", "1"), auto, 3, "price", decimal.ErrSyntax, `x.csv:3: price "abc": not a decimal`},
		{"exponent without digits", row("1e", "1"), auto, 3, "price", decimal.ErrSyntax, ""},
		{"exponent sign without digits", row("1e-", "1"), auto, 3, "price", decimal.ErrSyntax, ""},
		{"exponent without mantissa", row("e5", "1"), auto, 3, "price", decimal.ErrSyntax, ""},
		{"exponent too small", row("1", "1.2e-19"), auto, 3, "amount", decimal.ErrPrecision, `x.csv:3: amount "1.2e-19": more than 18 decimals`},
		{"19 decimals", row("0.0000000000000000001", "1"), auto, 3, "price", decimal.ErrPrecision, ""},
		{"u64 overflow", row("18446744073709551616", "1"), auto, 3, "price", decimal.ErrRange, ""},
		{"negative", row("1", "-1"), auto, 3, "amount", decimal.ErrNegative, `x.csv:3: amount "-1": negative`},
		{"empty price", row("", "1"), auto, 3, "price", decimal.ErrSyntax, ""},
		{"bad side", hdr + "ex,S,1,1,false,both,1,1\n", auto, 2, "side", ErrSide, ""},
		{"bad bool", hdr + "ex,S,1,1,TRUE,bid,1,1\n", auto, 2, "is_snapshot", ErrBool, ""},
		{"bad bool 1", hdr + "ex,S,1,1,1,bid,1,1\n", auto, 2, "is_snapshot", ErrBool, ""},
		{"empty local_timestamp", hdr + "ex,S,1,,false,bid,1,1\n", auto, 2, "local_timestamp", ErrNotInteger, ""},
		{"fractional local_timestamp", hdr + "ex,S,1,1.5,false,bid,1,1\n", auto, 2, "local_timestamp", ErrNotInteger, ""},
		{"negative local_timestamp", hdr + "ex,S,1,-1,false,bid,1,1\n", auto, 2, "local_timestamp", ErrNotInteger, ""},
		{"local_timestamp overflow", hdr + "ex,S,1,18446744073709552,false,bid,1,1\n", auto, 2, "local_timestamp", ErrTimeRange, ""},
		{"local_timestamp huge", hdr + "ex,S,1,99999999999999999999999,false,bid,1,1\n", auto, 2, "local_timestamp", ErrTimeRange, ""},
		{"bad timestamp", hdr + "ex,S,x,1,false,bid,1,1\n", auto, 2, "timestamp", ErrNotInteger, ""},
		// Issue 7 item 4: 2^63 ns and later used to wrap (year 2286 filed under 1702).
		{"year 2286", hdr + "ex,S,1,10000000000000000,false,bid,1,1\n", auto, 2, "local_timestamp", ErrTimeRange,
			`x.csv:2: local_timestamp "10000000000000000": timestamp is after 2262-04-11, which Chronicle cannot represent`},
		{"year 2286 on the fast path", hdr + "ex,S,1,1,false,bid,1,1\nex,S,1,10000000000000000,false,bid,1,1\n", auto, 3, "local_timestamp", ErrTimeRange, ""},
		{"2^63 ns", hdr + "ex,S,1,1,false,bid,1,1\nex,S,1,9223372036854776,false,bid,1,1\n", auto, 3, "local_timestamp", ErrTimeRange, ""},
		{"exchange timestamp 2^63 ns", hdr + "ex,S,1,1,false,bid,1,1\nex,S,9223372036854776,2,false,bid,1,1\n", auto, 3, "timestamp", ErrTimeRange, ""},
		// Issue 7 item 6: the fast path accepted quotes that the general path refuses.
		{"unterminated quote in an extra column", xhdr + "ex,S,1,1,false,bid,1,1,\"a\n", auto, 2, "", ErrQuote, ""},
		{"unterminated quote in an extra column, later row", xhdr + "ex,S,1,1,false,bid,1,1,a\nex,S,1,2,false,bid,1,1,\"a\n", auto, 3, "", ErrQuote, ""},
		{"unterminated quote equal to the exchange", hdr + "\"\"\"\",S,1,1,false,bid,1,1\n\",S,1,2,false,bid,1,1\n", auto, 3, "", ErrQuote, ""},
		{"missing column", "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,amount\n", auto, 1, "price", ErrMissingColumn, `x.csv:1: missing column "price"`},
		{"duplicate column", strings.TrimSuffix(hdr, "\n") + ",price\n", auto, 1, "price", ErrDuplicateColumn, ""},
		{"empty file", "", auto, 0, "", ErrEmptyFile, "x.csv: empty file: no header"},
		{"BOM only", "\xef\xbb\xbf", auto, 0, "", ErrEmptyFile, ""},
		{"too few fields", hdr + "ex,S,1,1,false,bid,1\n", auto, 2, "", ErrFieldCount, "x.csv:2: wrong number of fields: 7, header has 8"},
		{"too many fields", hdr + "ex,S,1,1,false,bid,1,1,1\n", auto, 2, "", ErrFieldCount, ""},
		{"blank line inside", hdr + "ex,S,1,1,false,bid,1,1\n\nex,S,1,1,false,bid,1,1\n", auto, 3, "", ErrBlankLine, ""},
		{"unterminated quote", hdr + "ex,S,1,1,false,bid,\"1,1\n", auto, 2, "", ErrQuote, ""},
		{"junk after quote", hdr + "ex,S,1,1,false,bid,\"1\"x,1\n", auto, 2, "", ErrQuote, ""},
		{"exchange changes", hdr + "ex,S,1,1,false,bid,1,1\nex2,S,1,1,false,bid,1,1\n", auto, 3, "exchange", ErrChanged, `x.csv:3: exchange "ex2": differs from the first row's "ex"`},
		{"symbol changes", hdr + "ex,S,1,1,false,bid,1,1\nex,T,1,1,false,bid,1,1\n", auto, 3, "symbol", ErrChanged, ""},
		{"fixed scale too small", row("1.234", "1"), Options{Name: "x.csv", PriceScale: FixedScale(2), SizeScale: FixedScale(0)}, 3, "price", ErrFixedScale, `x.csv:3: price "1.234": more decimals than the fixed price scale 2`},
		{"fixed scale overflow", row("1", "18446744073709552"), Options{Name: "x.csv", PriceScale: FixedScale(0), SizeScale: FixedScale(3)}, 3, "amount", decimal.ErrRange, ""},
		{"rescale overflow names the row", hdr +
			"ex,S,1,1,false,bid,1,1\n" +
			"ex,S,1,2,false,bid,18446744073709551615,1\n" +
			"ex,S,1,2,false,ask,0.5,1\n", auto, 3, "price", decimal.ErrRange, `x.csv:3: price "18446744073709551615": does not fit in u64 at price scale 1`},
		{"rescale overflow against earlier scale", hdr +
			"ex,S,1,1,false,bid,1,0.01\n" +
			"ex,S,1,2,false,bid,1,1844674407370955162\n", auto, 3, "amount", decimal.ErrRange, `x.csv:3: amount "1844674407370955162": does not fit in u64 at size scale 2`},
		{"long line", hdr + strings.Repeat("x", 3<<20), auto, 2, "", ErrLineTooLong, ""},
		{"random bytes", hdr + "\x00\xff\x13\x37,,\n", auto, 2, "", ErrFieldCount, ""},
		{"random header", "\x00\xff\x13\x37\n", auto, 1, "exchange", ErrMissingColumn, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readString(tt.in, tt.opts)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want a *ParseError", err, err)
			}
			if pe.Line != tt.line || pe.Field != tt.field || !errors.Is(err, tt.err) {
				t.Errorf("got line %d field %q err %v; want line %d field %q err %v", pe.Line, pe.Field, pe.Err, tt.line, tt.field, tt.err)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("message %q, want %q", err.Error(), tt.msg)
			}
		})
	}
}

func TestErrorIsSticky(t *testing.T) {
	r, err := NewEventReader(strings.NewReader(hdr+"ex,S,1,1,false,bid,x,1\n"), auto)
	if err != nil {
		t.Fatal(err)
	}
	var ev protocol.Event
	e1 := r.Next(&ev)
	e2 := r.Next(&ev)
	if e1 == nil || e1 != e2 {
		t.Errorf("errors %v then %v, want the same error twice", e1, e2)
	}
}

func TestParseErrorMessage(t *testing.T) {
	tests := []struct {
		e    ParseError
		want string
	}{
		{ParseError{File: "x.csv.gz", Line: 3000, Field: "price", Value: "abc", Err: decimal.ErrSyntax}, `x.csv.gz:3000: price "abc": not a decimal`},
		{ParseError{File: "x.csv", Line: 7, Err: fieldCountError{5, 8}}, `x.csv:7: wrong number of fields: 5, header has 8`},
		{ParseError{File: "x.csv.gz", Err: truncatedError{}}, `x.csv.gz: unexpected EOF (truncated gzip)`},
		{ParseError{Line: 4, Field: "side", Value: "x", Err: ErrSide}, `line 4: side "x": side must be bid, buy, ask or sell`},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if !errors.Is(&ParseError{Err: truncatedError{}}, io.ErrUnexpectedEOF) {
		t.Error("truncated gzip error does not match io.ErrUnexpectedEOF")
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{PriceScale: FixedScale(19)}, {PriceScale: FixedScale(-2)}, {SizeScale: FixedScale(19)}} {
		if _, err := NewEventReader(strings.NewReader(hdr), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// bigDiff is one group of n bid rows, m ask rows and a following event.
func bigGroup(snap string, n, m int) string {
	var b strings.Builder
	b.WriteString(hdr)
	for i := range n {
		fmt.Fprintf(&b, "ex,S,1,1,%s,bid,%d,1\n", snap, i)
	}
	for i := range m {
		fmt.Fprintf(&b, "ex,S,1,1,%s,ask,%d,2\n", snap, i)
	}
	b.WriteString("ex,S,1,2,false,ask,7,7\n")
	return b.String()
}

func TestDiffSplit(t *testing.T) {
	const max = protocol.MaxDiffLevels
	tests := []struct {
		name       string
		snap       string
		bids, asks int
		parts      [][2]int // bids, asks per event, then the trailing event
	}{
		{"fits", "false", max, max, [][2]int{{max, max}}},
		// A part ends when the next row does not fit its side.
		{"bids split", "false", 2*max + 5, 3, [][2]int{{max, 0}, {max, 0}, {5, 3}}},
		{"asks split", "false", 0, max + 1, [][2]int{{0, max}, {0, 1}}},
		{"snapshots not split", "true", 2*max + 5, 3, [][2]int{{2*max + 5, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := readString(bigGroup(tt.snap, tt.bids, tt.asks), auto)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != len(tt.parts)+1 {
				t.Fatalf("%d events, want %d", len(evs), len(tt.parts)+1)
			}
			nb, na := 0, 0
			for i, p := range tt.parts {
				ev := evs[i]
				if len(ev.Bids) != p[0] || len(ev.Asks) != p[1] || ev.IngestTS != 1000 || ev.ExchangeTS != 1000 {
					t.Errorf("event %d: %d bids %d asks ts %d/%d, want %d, %d", i, len(ev.Bids), len(ev.Asks), ev.IngestTS, ev.ExchangeTS, p[0], p[1])
				}
				// Nothing dropped, file order kept.
				for _, l := range ev.Bids {
					if l.Price != uint64(nb) || l.Size != 1 {
						t.Fatalf("event %d: bid %+v, want price %d", i, l, nb)
					}
					nb++
				}
				for _, l := range ev.Asks {
					if l.Price != uint64(na) || l.Size != 2 {
						t.Fatalf("event %d: ask %+v, want price %d", i, l, na)
					}
					na++
				}
				if _, err := protocol.AppendEvent(nil, &ev); err != nil {
					t.Errorf("event %d does not encode: %v", i, err)
				}
			}
			if last := evs[len(evs)-1]; last.IngestTS != 2000 || len(last.Asks) != 1 {
				t.Errorf("trailing event %+v", last)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	in := hdr + "ex,S,1,1,false,bid,1,1\nex,S,1,1,false,bid,1,1\nex,S,1,2,false,bid,1,1\n"
	r, err := NewEventReader(strings.NewReader(in), auto)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Exchange() != "" || r.Symbol() != "" || r.Rows() != 0 || r.Line() != 1 {
		t.Errorf("before Next: %q %q rows %d line %d", r.Exchange(), r.Symbol(), r.Rows(), r.Line())
	}
	var ev protocol.Event
	if err := r.Next(&ev); err != nil {
		t.Fatal(err)
	}
	if r.Exchange() != "ex" || r.Symbol() != "S" || r.Rows() != 2 || r.Line() != 3 {
		t.Errorf("after one event: %q %q rows %d line %d", r.Exchange(), r.Symbol(), r.Rows(), r.Line())
	}
	if err := r.Next(&ev); err != nil {
		t.Fatal(err)
	}
	if err := r.Next(&ev); err != io.EOF {
		t.Fatalf("got %v, want EOF", err)
	}
	if err := r.Next(&ev); err != io.EOF {
		t.Fatalf("after EOF got %v, want EOF again", err)
	}
	if r.Rows() != 3 || r.Line() != 4 || r.BytesRead() != int64(len(in)) {
		t.Errorf("at EOF rows %d line %d bytes %d, want 3, 4 and %d", r.Rows(), r.Line(), r.BytesRead(), len(in))
	}
}

// TestChunkBoundaries feeds the input one byte per Read, so that every line
// and field is split across chunks.
func TestChunkBoundaries(t *testing.T) {
	data, err := os.ReadFile(binanceFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := readString(string(data), auto)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewEventReader(&oneByteReader{data}, auto)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("events differ when read one byte at a time")
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func gz(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeTemp(t *testing.T, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpen(t *testing.T) {
	plain := []byte(hdr + "ex,S,1,1,true,bid,1,1\nex,S,1,2,false,ask,2,2\n")
	half := len(plain) / 2
	multi := append(gz(t, plain[:half]), gz(t, plain[half:])...)
	full := gz(t, plain)
	tests := []struct {
		name   string
		file   string
		data   []byte
		events int
		err    error // nil: success
	}{
		{"plain", "a.csv", plain, 2, nil},
		{"gzip", "a.csv.gz", full, 2, nil},
		{"gzip without .gz name", "a.csv", full, 2, nil},
		{"multi-member gzip", "a.csv.gz", multi, 2, nil},
		{"truncated gzip", "a.csv.gz", full[:len(full)-6], 0, io.ErrUnexpectedEOF},
		{"truncated gzip header", "a.csv.gz", full[:5], 0, io.ErrUnexpectedEOF},
		{"gzip with bad checksum", "a.csv.gz", append(append([]byte{}, full[:len(full)-8]...), 0, 0, 0, 0, 0, 0, 0, 0), 0, gzip.ErrChecksum},
		{"not gzip named .gz", "a.csv.gz", plain, 0, ErrNotGzip},
		{"empty file named .gz", "a.csv.gz", nil, 0, ErrNotGzip},
		{"empty gzip", "a.csv.gz", gz(t, nil), 0, ErrEmptyFile},
		{"empty file", "a.csv", nil, 0, ErrEmptyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeTemp(t, tt.file, tt.data)
			r, err := Open(p, Options{Name: tt.file})
			var evs []protocol.Event
			if err == nil {
				evs, err = readAll(r)
				if cerr := r.Close(); cerr != nil {
					t.Errorf("Close: %v", cerr)
				}
				if tt.err == nil && r.BytesRead() != int64(len(tt.data)) {
					t.Errorf("BytesRead %d, want %d", r.BytesRead(), len(tt.data))
				}
			}
			if tt.err == nil {
				if err != nil || len(evs) != tt.events {
					t.Fatalf("%d events, error %v; want %d events", len(evs), err, tt.events)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, tt.err) || pe.File != tt.file {
				t.Fatalf("error %v (%T), want a *ParseError for %s wrapping %v", err, err, tt.file, tt.err)
			}
		})
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.csv"), auto); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestTruncatedGzipBig checks that truncation deep inside a multi-chunk
// file is an error and not a silent early EOF.
func TestTruncatedGzipBig(t *testing.T) {
	data := gz(t, genCSV(200000, 1))
	p := writeTemp(t, "big.csv.gz", data[:len(data)*2/3])
	r, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = readAll(r)
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, io.ErrUnexpectedEOF) || pe.Line != 0 {
		t.Fatalf("got %v, want truncated gzip error", err)
	}
	if want := "big.csv.gz: unexpected EOF (truncated gzip)"; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("message %q, want suffix %q", err.Error(), want)
	}
}

// TestCloseEarly closes a gzip reader mid-file: the decompression goroutine
// must stop.
func TestCloseEarly(t *testing.T) {
	p := writeTemp(t, "big.csv.gz", gz(t, genCSV(300000, 2)))
	before := runtime.NumGoroutine()
	for range 5 {
		r, err := Open(p, auto)
		if err != nil {
			t.Fatal(err)
		}
		var ev protocol.Event
		if err := r.Next(&ev); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := r.Next(&ev); err == nil || err == io.EOF {
			t.Fatalf("Next after Close: %v", err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// TestGzipMatchesPlain reads the same generated data through the gzip
// pipeline and the plain reader.
func TestGzipMatchesPlain(t *testing.T) {
	data := genCSV(100000, 3)
	p := writeTemp(t, "g.csv.gz", gz(t, data))
	r, err := Open(p, auto)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Progress display polls BytesRead from another goroutine.
	done := make(chan struct{})
	polled := make(chan int64)
	go func() {
		var last int64
		for {
			select {
			case <-done:
				polled <- last
				return
			default:
				if n := r.BytesRead(); n < last {
					t.Errorf("BytesRead went back from %d to %d", last, n)
				} else {
					last = n
				}
				runtime.Gosched()
			}
		}
	}()
	got, err := readAll(r)
	close(done)
	if fi, _ := os.Stat(p); <-polled > fi.Size() {
		t.Error("BytesRead beyond the file size")
	}
	if err != nil {
		t.Fatal(err)
	}
	want, err := readString(string(data), auto)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("gzip and plain reads differ")
	}
	if want := countRows(data); r.Rows() != want {
		t.Errorf("rows %d, want %d", r.Rows(), want)
	}
}

// TestNoAllocsPerRow checks that reading allocates nothing once buffers
// have grown to the largest group.
func TestNoAllocsPerRow(t *testing.T) {
	data := genCSV(300000, 4)
	r, err := NewEventReader(bytes.NewReader(data), auto)
	if err != nil {
		t.Fatal(err)
	}
	var ev protocol.Event
	// The first events include the 2000-level snapshot, growing buffers.
	for range 100 {
		if err := r.Next(&ev); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(5000, func() {
		if err := r.Next(&ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event, want 0", allocs)
	}
}

// TestCSVReader checks the engine the readers of every data type share.
func TestCSVReader(t *testing.T) {
	in := "\xef\xbb\xbfa,\"b\",c\r\n" +
		"1,,3\r\n" +
		"\"x,y\",\"say \"\"hi\"\"\",z\"q\n" +
		"4,5,6\n\n\n"
	c, err := newCSVReader(strings.NewReader(in), "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if h := c.Header(); !reflect.DeepEqual(h, []string{"a", "b", "c"}) {
		t.Errorf("header %q", h)
	}
	if c.Column("c") != 2 || c.Column("d") != -1 {
		t.Errorf("Column: c %d, d %d", c.Column("c"), c.Column("d"))
	}
	want := []struct {
		line   int64
		fields []string
	}{
		{2, []string{"1", "", "3"}},
		{3, []string{"x,y", `say "hi"`, `z"q`}},
		{4, []string{"4", "5", "6"}},
	}
	for _, w := range want {
		f, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, len(f))
		for i := range f {
			got[i] = string(f[i])
		}
		if c.Line() != w.line || !reflect.DeepEqual(got, w.fields) {
			t.Errorf("line %d %q, want line %d %q", c.Line(), got, w.line, w.fields)
		}
		if w.line == 2 {
			if msg := c.fieldError(1, f[1], ErrNotInteger).Error(); msg != `x.csv:2: b "": not an integer number of microseconds` {
				t.Errorf("fieldError: %s", msg)
			}
		}
	}
	if _, err := c.Next(); err != io.EOF {
		t.Errorf("after the last line: %v, want EOF", err)
	}
	if c.BytesRead() != int64(len(in)) {
		t.Errorf("BytesRead %d, want %d", c.BytesRead(), len(in))
	}

	for _, tt := range []struct{ in, msg string }{
		{"a,b\n1\n", "x.csv:2: wrong number of fields: 1, header has 2"},
		{"a,b\n1,2\n1,\"2\n", "x.csv:3: bad quoted field"},
		{"a,b\n1,2\n\n1,2\n", "x.csv:3: blank line before more data"},
	} {
		c, err := newCSVReader(strings.NewReader(tt.in), "x.csv")
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = c.Next()
		}
		if err.Error() != tt.msg {
			t.Errorf("%q: %v, want %s", tt.in, err, tt.msg)
		}
		if _, again := c.Next(); again != err {
			t.Errorf("%q: error not sticky: %v", tt.in, again)
		}
	}
}

func TestParseMicros(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		err  error
	}{
		{"0", 0, nil},
		{"1714521600000000", 1714521600000000000, nil},
		{"9223372036854775", 9223372036854775000, nil}, // 2262-04-11T23:47:16.854775Z
		{"9223372036854776", 0, ErrTimeRange},
		{"10000000000000000", 0, ErrTimeRange}, // 2286
		{"99999999999999999999999", 0, ErrTimeRange},
		{"99999999999999999999999x", 0, ErrNotInteger},
		{"", 0, ErrNotInteger},
		{"-1", 0, ErrNotInteger},
	} {
		got, err := parseMicros([]byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("parseMicros(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestSnapshotLimit: a snapshot over MaxLevelsPerMessage levels is
// refused, naming the line of the first level too many.
func TestSnapshotLimit(t *testing.T) {
	defer func(n int) { maxLevels = n }(maxLevels)
	maxLevels = 10
	for _, tt := range []struct {
		name string
		in   string
		err  string
	}{
		{"at the limit", bigGroup("true", 6, 4), ""},
		{"over", bigGroup("true", 6, 5), "x.csv:12: snapshot has more than 10 levels (tardis.MaxLevelsPerMessage)"},
		{"diffs are split, not refused", bigGroup("false", 60, 50), ""},
	} {
		_, err := readString(tt.in, auto)
		if (err == nil) != (tt.err == "") || err != nil && (err.Error() != tt.err || !errors.Is(err, ErrTooManyLevels)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.err)
		}
	}
}

// TestDiffGroupMemory: a Diff message of a million rows is read in
// parts, in memory bounded by a part, not the message (issue 7 item 5:
// it used to hold the whole message, 24 bytes a row, and copy each part).
func TestDiffGroupMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 1 << 20
	var b strings.Builder
	b.WriteString(hdr)
	for i := range n {
		side := "bid"
		if i%2 == 1 {
			side = "ask"
		}
		fmt.Fprintf(&b, "ex,S,1,1,false,%s,%d,1\n", side, i%1000)
	}
	data := b.String()
	r, err := NewEventReader(strings.NewReader(data), auto)
	if err != nil {
		t.Fatal(err)
	}
	var ev protocol.Event
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	levels := 0
	for {
		if err := r.Next(&ev); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		levels += len(ev.Bids) + len(ev.Asks)
	}
	runtime.ReadMemStats(&after)
	if levels != n {
		t.Fatalf("%d levels, want %d", levels, n)
	}
	// One part is 2 × 65535 levels of 16 bytes, 2 MiB; growing its
	// slices allocates a few times that.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 12<<20 {
		t.Errorf("reading a %d-row diff message allocated %d MiB", n, alloc>>20)
	}
}
