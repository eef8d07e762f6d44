package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestMarketIDVectors(t *testing.T) {
	for _, tc := range []struct {
		symbol string
		want   uint32
	}{
		{"BTCUSDT", 3467451262},
		{"BTC-PERPETUAL", 3951212007},
		{"ETHUSDT", 4036950487},
	} {
		if got := MarketID(tc.symbol); got != tc.want {
			t.Errorf("MarketID(%q) = %d, want %d", tc.symbol, got, tc.want)
		}
	}
}

// TestGoldenDiff pins every byte of a Diff payload against a hand-checked
// layout (FORMAT.md, BookEventHeader + L2Diff + levels).
func TestGoldenDiff(t *testing.T) {
	e := &Event{
		Type: Diff, VenueID: 1, MarketID: 0x04030201,
		IngestTS: 0x1122334455667788, ExchangeTS: 0x0102030405060708,
		Seq: 5, NativeSeq: 5, PriceScale: 2, SizeScale: 3, DiffFlags: FlagAbsolute,
		UpdateIDFirst: 5, UpdateIDLast: 5, UpdateIDPrev: 4,
		Bids: []Level{{Price: 10050, Size: 1}},
		Asks: []Level{{Price: 10100, Size: 0}},
	}
	got, err := AppendEvent(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"0200", "0000", "80000000", // schema_version, pad, record_len=128
		"00", "00", "0100", "01020304", // endianness, pad, venue_id, market_id
		"00000000", "00000000", // stream_id, pad
		"8877665544332211", "0807060504030201", // ingest_ts, exchange_ts
		"0500000000000000", "0500000000000000", // seq, native_seq
		"02", "00", "0000", "00000000", // event_type, book_mode, flags, pad
		"0500000000000000", "0500000000000000", "0400000000000000", // update ids
		"02", "03", "0100", "0100", "0100", // scales, flags, bid_count, ask_count
		"4227000000000000", "0100000000000000", // bid 10050 = 0x2742 x 1
		"7427000000000000", "0000000000000000", // ask 10100 = 0x2774 x 0
	}, "")
	if h := hex.EncodeToString(got); h != want {
		t.Fatalf("diff bytes\n got %s\nwant %s", h, want)
	}
	var d Event
	if err := DecodeEvent(got, &d); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&d, e) {
		t.Fatalf("round trip: got %+v want %+v", d, *e)
	}
}

func TestRoundTripSnapshot(t *testing.T) {
	e := &Event{Type: Snapshot, VenueID: 7, MarketID: MarketID("BTCUSDT"), IngestTS: 1, ExchangeTS: 2,
		PriceScale: 18, SizeScale: 0,
		Bids: []Level{{1, 2}, {3, 4}}, Asks: []Level{{5, 6}}}
	b, err := AppendEvent([]byte("prefix"), e)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:6]) != "prefix" || len(b) != 6+64+12+48 {
		t.Fatalf("AppendEvent did not append: len %d", len(b))
	}
	var d Event
	if err := DecodeEvent(b[6:], &d); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&d, e) {
		t.Fatalf("got %+v want %+v", d, *e)
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := AppendEvent(nil, &Event{Type: Diff, Bids: []Level{{1, 1}}})
	for _, tc := range []struct {
		name string
		mut  func(b []byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:10] }},
		{"version", func(b []byte) []byte { b[0] = 3; return b }},
		{"record_len", func(b []byte) []byte { b[4]++; return b }},
		{"endianness", func(b []byte) []byte { b[8] = 1; return b }},
		{"header padding", func(b []byte) []byte { b[61] = 1; return b }},
		{"event type", func(b []byte) []byte { b[56] = 9; return b }},
		{"scale", func(b []byte) []byte { b[64+24] = 19; return b }},
		{"count", func(b []byte) []byte { b[64+28] = 2; return b }},
		{"truncated", func(b []byte) []byte { b = b[:len(b)-1]; b[4]--; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mut(append([]byte(nil), good...))
			var e Event
			if err := DecodeEvent(b, &e); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestAppendRejects(t *testing.T) {
	if _, err := AppendEvent(nil, &Event{Type: Diff, Bids: make([]Level, MaxDiffLevels+1)}); !errors.Is(err, ErrTooManyLevels) {
		t.Errorf("65536-level diff: %v", err)
	}
	if _, err := AppendEvent(nil, &Event{Type: Snapshot, PriceScale: 19}); !errors.Is(err, ErrScale) {
		t.Errorf("scale 19: %v", err)
	}
}

func TestDecodeNoAlloc(t *testing.T) {
	b, _ := AppendEvent(nil, &Event{Type: Diff, Bids: make([]Level, 8), Asks: make([]Level, 8)})
	var e Event
	DecodeEvent(b, &e)
	if n := testing.AllocsPerRun(100, func() { DecodeEvent(b, &e) }); n != 0 {
		t.Fatalf("DecodeEvent allocates %v times per call", n)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	b, _ := AppendEvent(nil, &Event{Type: Diff, Bids: []Level{{1, 2}}, Asks: []Level{{3, 4}}})
	f.Add(b)
	b, _ = AppendEvent(nil, &Event{Type: Snapshot, Bids: []Level{{1, 2}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, p []byte) {
		var e Event
		if err := DecodeEvent(p, &e); err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes.
		out, err := AppendEvent(nil, &e)
		if err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
		if string(out) != string(p) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", p, out)
		}
	})
}

// TestAppendEventHead: the head and the levels' bytes, concatenated, are
// AppendEvent's payload.
func TestAppendEventHead(t *testing.T) {
	for _, e := range []Event{
		{Type: Snapshot, Seq: 3, IngestTS: 5, PriceScale: 2, SizeScale: 1, Bids: []Level{{100, 1}, {99, 2}}, Asks: []Level{{101, 1 << 60}}},
		{Type: Diff, Seq: 4, UpdateIDFirst: 4, UpdateIDLast: 4, UpdateIDPrev: 3, DiffFlags: FlagAbsolute, Asks: []Level{{7, 0}}},
		{Type: Heartbeat, Seq: 5},
	} {
		want, err := AppendEvent([]byte("x"), &e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendEventHead([]byte("x"), &e)
		if err != nil {
			t.Fatal(err)
		}
		got = append(append(got, LevelBytes(e.Bids)...), LevelBytes(e.Asks)...)
		if !bytes.Equal(got, want) {
			t.Errorf("%v: head+levels\n%x\nwant\n%x", e.Type, got, want)
		}
	}
	if _, err := AppendEventHead(nil, &Event{Type: Diff, Bids: make([]Level, MaxDiffLevels+1)}); !errors.Is(err, ErrTooManyLevels) {
		t.Errorf("too many levels: %v", err)
	}
}
