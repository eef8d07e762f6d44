package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

const us = 1000 // ns per µs: Tardis timestamps are µs

var (
	long64  = strings.Repeat("0123456789abcdef", 4) + "!"
	longMax = strings.Repeat("x", MaxString)
)

// roundTripCases cover every type and the edge cases of every kind.
func roundTripCases() []struct {
	name string
	r    *Record
} {
	return []struct {
		name string
		r    *Record
	}{
		{"trade numeric id", build(Trade, 1575158401234000, 1575158401230000, map[string]Value{
			"symbol": str("BTCUSDT"), "id": str("213012234"), "side": code(SideBuy),
			"price": dec("7540.11"), "amount": dec("0.002")})},
		{"trade uuid id", build(Trade, 1583020803307160*us, 1583020803145000*us, map[string]Value{
			"symbol": str("XBTUSD"), "id": str("ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf"), "side": code(SideSell),
			"price": dec("8531.5"), "amount": dec("2152")})},
		{"trade empty id, unknown side, no exchange ts", build(Trade, 5, -1, map[string]Value{
			"symbol": str(""), "id": str(""), "side": code(SideUnknown),
			"price": dec("0"), "amount": dec("1.2e-7")})},
		{"trade exchange ts present and 0", build(Trade, 0, 0, map[string]Value{
			"symbol": str("S"), "id": str("1"), "side": code(SideBuy),
			"price": dec("1"), "amount": dec("1")})},
		{"trade 65-byte id, extremes", build(Trade, math.MaxUint64, math.MaxInt64, map[string]Value{
			"symbol": str(long64), "id": str(long64), "side": code(SideSell),
			"price": decRaw(math.MaxInt64, 18), "amount": decRaw(0, 18)})},
		{"trade 65535-byte id", build(Trade, 1, 1, map[string]Value{
			"symbol": str("BTCUSDT"), "id": str(longMax), "side": code(SideBuy),
			"price": dec("1"), "amount": dec("2")})},
		{"trade binary bytes in strings", build(Trade, 1, 1, map[string]Value{
			"symbol": str("a\"b\\c\x00\x1f\xff\xfeé"), "id": str("\n"), "side": code(SideBuy),
			"price": dec("1"), "amount": dec("2")})},
		{"quote all present", build(Quote, 1582329603502092*us, 1582329601096000*us, map[string]Value{
			"symbol": str("BTCUSDT"), "ask_amount": dec("0.84"), "ask_price": dec("9682"),
			"bid_price": dec("9681.92"), "bid_amount": dec("0.67")})},
		{"quote all absent", build(Quote, 1, 1, map[string]Value{"symbol": str("BTCUSDT")})},
		{"quote zero, not absent", build(Quote, 1, 1, map[string]Value{
			"symbol": str("BTCUSDT"), "ask_amount": dec("0"), "ask_price": decRaw(0, 18),
			"bid_price": dec("0")})},
		{"book_ticker one side", build(BookTicker, 1, -1, map[string]Value{
			"symbol": str("ETHUSDT"), "bid_price": dec("3001.5"), "bid_amount": dec("12")})},
		{"book_snapshot 5 levels", build(BookSnapshot, 1598918400000000*us, 1598918399990000*us, map[string]Value{
			"symbol": str("BTCUSDT"),
			"asks":   lv(2, 3, Level{Price: 1163826, Size: 1}, Level{Price: 1163827, Size: 5000}),
			"bids":   lv(2, 3, Level{Price: 1163825, Size: 2}, Level{Price: 1163700, Size: 1234567})})},
		{"book_snapshot 0 levels", build(BookSnapshot, 1, 1, map[string]Value{
			"symbol": str("BTCUSDT"), "asks": lv(0, 0), "bids": lv(18, 18)})},
		{"book_snapshot many levels", build(BookSnapshot, 1, 1, map[string]Value{
			"symbol": str("BTCUSDT"), "asks": lv(1, 2, levels(1000)...),
			"bids": lv(18, 0, Level{Price: math.MaxUint64, Size: math.MaxUint64})})},
		{"book_snapshot 65535 levels", build(BookSnapshot, 1, 1, map[string]Value{
			"symbol": str("BTCUSDT"), "asks": lv(1, 2, levels(MaxLevels)...), "bids": lv(1, 2)})},
		{"derivative_ticker all present, negative rates", build(DerivativeTicker, 1583020803307160*us, 1583020803145000*us, map[string]Value{
			"symbol": str("XBTUSD"), "funding_timestamp": code(1583020800000000 * us),
			"funding_rate": dec("-0.00012345"), "predicted_funding_rate": dec("5e-7"),
			"open_interest": dec("1000000"), "last_price": dec("9500.5"),
			"index_price": dec("9500"), "mark_price": dec("9500.25")})},
		{"derivative_ticker all absent", build(DerivativeTicker, 1, -1, map[string]Value{"symbol": str("XBTUSD")})},
		{"derivative_ticker min i64, zero rate", build(DerivativeTicker, 1, 1, map[string]Value{
			"symbol": str("XBTUSD"), "funding_rate": decRaw(math.MinInt64, 18),
			"predicted_funding_rate": dec("0"), "funding_timestamp": code(0)})},
		{"liquidation", build(Liquidation, 1, 1, map[string]Value{
			"symbol": str("BTCUSDT"), "id": str("9876543210"), "side": code(SideBuy),
			"price": dec("65000.1"), "amount": dec("0.5")})},
		{"liquidation empty id", build(Liquidation, 1, -1, map[string]Value{
			"symbol": str("BTCUSDT"), "id": str(""), "side": code(SideSell),
			"price": dec("65000.1"), "amount": dec("0.5")})},
		{"options_chain real row", optionsRow()},
		{"options_chain minimal", build(OptionsChain, 1, 1, map[string]Value{
			"symbol": str("BTC-29MAR24-50000-C"), "type": code(OptionCall), "strike_price": dec("50000"),
			"expiration": code(1711699200000000 * us), "underlying_index": str("SYN.BTC-29MAR24"),
			"delta": dec("0"), "theta": decRaw(math.MinInt64, 0)})},
		{"trade, symbol from the stream", streamSymbol(build(Trade, 1575158401234000, 1575158401230000, map[string]Value{
			"symbol": str("BTCUSDT"), "id": str("213012234"), "side": code(SideBuy),
			"price": dec("7540.11"), "amount": dec("0.002")}))},
		{"quote, symbol from the stream", streamSymbol(build(Quote, 1582329603502092*us, 1582329601096000*us, map[string]Value{
			"symbol": str("BTCUSDT"), "ask_amount": dec("0.84"), "ask_price": dec("9682"),
			"bid_price": dec("9681.92"), "bid_amount": dec("0.67")}))},
	}
}

// optionsRow is the first row of deribit_options_chain_2024-01-01_OPTIONS.issue3.csv.
func optionsRow() *Record {
	return build(OptionsChain, 1704067200029840*us, 1704067200027000*us, map[string]Value{
		"symbol": str("BTC-27SEP24-160000-P"), "type": code(OptionPut), "strike_price": dec("160000"),
		"expiration": code(1727424000000000 * us), "open_interest": dec("0"), "last_price": dec("2.45"),
		"mark_price": dec("2.4467"), "mark_iv": dec("75.18"), "underlying_index": str("BTC-27SEP24"),
		"underlying_price": dec("46593.7"), "delta": dec("-0.94333"), "gamma": dec("0"),
		"vega": dec("45.67483"), "theta": dec("-6.35109"), "rho": dec("-1169.77956")})
}

func TestRoundTrip(t *testing.T) {
	seen := map[*Type]bool{}
	var d Record // reused: Decode must not leak one record's values into the next
	for _, c := range roundTripCases() {
		seen[c.r.Type] = true
		b, err := Append([]byte("prefix"), c.r)
		if err != nil {
			t.Fatalf("%s: Append: %v", c.name, err)
		}
		if string(b[:6]) != "prefix" {
			t.Fatalf("%s: Append overwrote dst", c.name)
		}
		b = b[6:]
		if err := Decode(c.r.Type, b, &d); err != nil {
			t.Fatalf("%s: Decode: %v", c.name, err)
		}
		if diff := sameRecord(c.r, &d); diff != "" {
			t.Fatalf("%s: decoded record differs: %s", c.name, diff)
		}
		again, err := Append(nil, &d)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs (%v):\n in %x\nout %x", c.name, err, b, again)
		}
		j1, j2 := AppendJSON(nil, c.r), AppendJSON(nil, &d)
		if !bytes.Equal(j1, j2) || !json.Valid(j1) {
			t.Fatalf("%s: JSON differs or is invalid:\n%s\n%s", c.name, j1, j2)
		}
	}
	for _, typ := range All() {
		if !typ.Reference && !seen[typ] {
			t.Errorf("no round-trip case for %s", typ.Name)
		}
	}
}

// TestStreamSymbol: a record that takes its symbol from its stream stores
// no symbol (flags bit 1, presence bit 0 clear), decodes with the field
// absent, and once SetSymbol fills it in reads as the record with its
// symbol while still encoding to the stored bytes.
func TestStreamSymbol(t *testing.T) {
	for _, c := range []struct {
		full *Record
		size int // stored payload bytes: at most 64 fit one 64-byte block
	}{
		{build(Quote, 1582329603502092*us, 1582329601096000*us, map[string]Value{
			"symbol": str("BTCUSDT"), "ask_amount": dec("0.84"), "ask_price": dec("9682"),
			"bid_price": dec("9681.92"), "bid_amount": dec("0.67")}), 70 - 9},
		{build(Trade, 1575158401234000, -1, map[string]Value{
			"symbol": str("BTCUSDT"), "id": str("742450335"), "side": code(SideBuy),
			"price": dec("60000.1"), "amount": dec("0.013")}), 64 - 9},
		{build(BookSnapshot, 1, 1, map[string]Value{"symbol": str("S"), "asks": lv(1, 1, Level{Price: 1, Size: 2}), "bids": lv(1, 1)}), 0},
	} {
		name := c.full.Type.Name
		full, err := Append(nil, c.full)
		if err != nil {
			t.Fatal(err)
		}
		// Field 0 is ignored, whatever it holds.
		c.full.StreamSymbol = true
		stored, err := Append(nil, c.full)
		if err != nil {
			t.Fatal(err)
		}
		c.full.StreamSymbol = false
		sym := c.full.Fields[0].B
		if want := len(full) - 2 - len(sym); len(stored) != want || c.size != 0 && len(stored) != c.size {
			t.Fatalf("%s: %d bytes stored, want %d", name, len(stored), want)
		}
		if stored[2]&2 == 0 || stored[HeaderSize]&1 != 0 {
			t.Fatalf("%s: flags %#x, bitmap %#x: want flags bit 1 set and presence bit 0 clear", name, stored[2], stored[HeaderSize])
		}
		var d Record
		if err := Decode(c.full.Type, stored, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !d.StreamSymbol || d.Present[0] || len(d.Fields[0].B) != 0 {
			t.Fatalf("%s: decoded stream symbol %v, symbol present %v %q", name, d.StreamSymbol, d.Present[0], d.Fields[0].B)
		}
		d.SetSymbol(string(sym))
		if j1, j2 := AppendJSON(nil, c.full), AppendJSON(nil, &d); !bytes.Equal(j1, j2) {
			t.Fatalf("%s: JSON after SetSymbol\n got %s\nwant %s", name, j2, j1)
		}
		if again, err := Append(nil, &d); err != nil || !bytes.Equal(again, stored) {
			t.Fatalf("%s: re-encoding after SetSymbol differs (%v)", name, err)
		}
		// A record with its own symbol is not a stream symbol one.
		if err := Decode(c.full.Type, full, &d); err != nil || d.StreamSymbol {
			t.Fatalf("%s: full record decodes with stream symbol %v (%v)", name, d.StreamSymbol, err)
		}
	}
}

func TestJSON(t *testing.T) {
	for _, c := range []struct {
		r    *Record
		want string
	}{
		{build(Trade, 2000, -1, map[string]Value{"symbol": str("XBTUSD"), "id": str("a\"\\\x01\xffé"),
			"side": code(SideUnknown), "price": dec("8531.5"), "amount": dec("1.2e-7")}),
			`{"local_ts":2000,"exchange_ts":null,"symbol":"XBTUSD","id":"a\"\\\u0001\ufffdé","side":"unknown","price":"8531.5","amount":"1.2e-7"}`},
		{build(Quote, 1, 0, map[string]Value{"symbol": str("S"), "ask_amount": dec("0"), "bid_price": decRaw(150, 2)}),
			`{"local_ts":1,"exchange_ts":0,"symbol":"S","ask_amount":"0","ask_price":null,"bid_price":"1.5","bid_amount":null}`},
		{build(DerivativeTicker, 1, 2, map[string]Value{"symbol": str("S"), "funding_timestamp": code(3),
			"funding_rate": dec("-0.00012"), "predicted_funding_rate": decRaw(math.MinInt64, 18),
			"mark_price": decRaw(math.MaxInt64, 0)}),
			`{"local_ts":1,"exchange_ts":2,"symbol":"S","funding_timestamp":3,"funding_rate":"-0.00012",` +
				`"predicted_funding_rate":"-9.223372036854775808","open_interest":null,"last_price":null,` +
				`"index_price":null,"mark_price":"9223372036854775807"}`},
		{build(BookSnapshot, 1, 1, map[string]Value{"symbol": str("S"),
			"asks": lv(1, 2, Level{Price: 1005, Size: 150}, Level{Price: 1010, Size: 1}), "bids": lv(0, 0)}),
			`{"local_ts":1,"exchange_ts":1,"symbol":"S","asks":[["100.5","1.5"],["101","0.01"]],"bids":[]}`},
		{build(OptionsChain, 1, 1, map[string]Value{"symbol": str("BTC-29MAR24-50000-C"), "type": code(OptionCall),
			"strike_price": dec("50000"), "expiration": code(7), "underlying_index": str("BTC-29MAR24"), "rho": dec("-1.5")}),
			`{"local_ts":1,"exchange_ts":1,"symbol":"BTC-29MAR24-50000-C","type":"call","strike_price":"50000","expiration":7,` +
				`"open_interest":null,"last_price":null,"bid_price":null,"bid_amount":null,"bid_iv":null,"ask_price":null,` +
				`"ask_amount":null,"ask_iv":null,"mark_price":null,"mark_iv":null,"underlying_index":"BTC-29MAR24",` +
				`"underlying_price":null,"delta":null,"gamma":null,"vega":null,"theta":null,"rho":"-1.5"}`},
	} {
		if got := string(AppendJSON(nil, c.r)); got != c.want {
			t.Errorf("%s JSON:\n got %s\nwant %s", c.r.Type.Name, got, c.want)
		}
	}
}

func TestAppendRefuses(t *testing.T) {
	trade := func(mod func(r *Record)) *Record {
		r := build(Trade, 1, 1, map[string]Value{"symbol": str("BTCUSDT"), "id": str("1"),
			"side": code(SideBuy), "price": dec("1.5"), "amount": dec("2")})
		mod(r)
		return r
	}
	set := func(name string, v Value) func(*Record) {
		return func(r *Record) { r.Fields[r.Type.Field(name)] = v }
	}
	snap := build(BookSnapshot, 1, 1, map[string]Value{"symbol": str("S"), "asks": lv(1, 19), "bids": lv(0, 0)})
	for _, c := range []struct {
		name, want string // want: in the message
		r          *Record
	}{
		{"missing non-nullable", "trade.price: missing", trade(func(r *Record) { r.Present[Trade.Field("price")] = false })},
		{"missing string", "trade.symbol: missing", trade(func(r *Record) { r.Present[0] = false })},
		{"negative unsigned", "trade.amount: negative mantissa -1", trade(set("amount", decRaw(-1, 0)))},
		{"scale 19", "trade.price: scale 19", trade(set("price", decRaw(1, 19)))},
		{"side 0", "trade.side: side code 0", trade(set("side", code(0)))},
		{"side 4", "trade.side: side code 4", trade(set("side", code(4)))},
		{"side 257 (would wrap to a valid byte)", "trade.side: side code 257", trade(set("side", code(257)))},
		{"string too long", "trade.id: 65536 bytes", trade(set("id", str(longMax+"x")))},
		{"too many levels", "book_snapshot.asks: 65536 levels",
			build(BookSnapshot, 1, 1, map[string]Value{"symbol": str("S"), "asks": lv(0, 0, levels(MaxLevels+1)...), "bids": lv(0, 0)})},
		{"levels scale 19", "book_snapshot.asks: scales 1/19", snap},
		{"option type 3", "options_chain.type: option type code 3",
			build(OptionsChain, 1, 1, map[string]Value{"symbol": str("S"), "type": code(3), "strike_price": dec("1"),
				"expiration": code(1), "underlying_index": str("U")})},
		{"option type 0", "options_chain.type: option type code 0",
			build(OptionsChain, 1, 1, map[string]Value{"symbol": str("S"), "type": code(0), "strike_price": dec("1"),
				"expiration": code(1), "underlying_index": str("U")})},
		{"negative strike", "options_chain.strike_price: negative",
			build(OptionsChain, 1, 1, map[string]Value{"symbol": str("S"), "type": code(OptionPut), "strike_price": dec("-1"),
				"expiration": code(1), "underlying_index": str("U")})},
		{"BookEvent", "book_event is not a record-table payload", &Record{Type: BookEvent}},
		{"stream symbol without a symbol field", "nosymbol: a stream symbol, but the type has no symbol field", func() *Record {
			r := build(&Type{ID: 0x2fff, Name: "nosymbol", Fields: []Field{{Name: "price", Kind: Decimal}}}, 1, -1,
				map[string]Value{"price": dec("1")})
			r.StreamSymbol = true
			return r
		}()},
		{"no type", "without a type", &Record{}},
		{"not Reset", "0 values", &Record{Type: Trade}},
	} {
		dst := []byte("keep")
		out, err := Append(dst, c.r)
		if !errors.Is(err, ErrValue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrValue with %q", c.name, err, c.want)
		}
		if string(out) != "keep" {
			t.Errorf("%s: dst changed to %q", c.name, out)
		}
	}
}

// TestDecodeRefuses breaks one rule of the layout per case. The offsets
// are those of refTrade's payload (see testdata/golden/trade.hex for the
// same layout): bitmap @24, scales @25 @26, symbol @27 (u16 7 + 7 bytes),
// id @36 (u16 1 + "1"), side @39, price @40, amount @48, end @56.
func TestDecodeRefuses(t *testing.T) {
	refTrade, err := Append(nil, build(Trade, 1, 2, map[string]Value{"symbol": str("BTCUSDT"), "id": str("1"),
		"side": code(SideBuy), "price": dec("1.5"), "amount": dec("2")}))
	if err != nil || len(refTrade) != 56 {
		t.Fatalf("reference trade: %v, %d bytes", err, len(refTrade))
	}
	// A derivative ticker with absent fields (no exchange ts, only
	// symbol and funding_rate): bitmap @24 = 0b101, scales @25..@29.
	refTicker, err := Append(nil, build(DerivativeTicker, 1, -1, map[string]Value{"symbol": str("X"), "funding_rate": dec("-0.5")}))
	if err != nil {
		t.Fatal(err)
	}
	refOption, err := Append(nil, build(OptionsChain, 1, 1, map[string]Value{"symbol": str("S"), "type": code(OptionPut),
		"strike_price": dec("1"), "expiration": code(1), "underlying_index": str("U")}))
	if err != nil {
		t.Fatal(err)
	}
	refSnap, err := Append(nil, build(BookSnapshot, 1, 1, map[string]Value{"symbol": str("S"), "asks": lv(1, 1, Level{Price: 1, Size: 2}), "bids": lv(1, 1)}))
	if err != nil {
		t.Fatal(err)
	}
	put := func(b []byte, off int, v ...byte) { copy(b[off:], v) }
	for _, c := range []struct {
		name string
		typ  *Type
		ref  []byte
		mod  func(b []byte) []byte
		want string
	}{
		{"schema version 0", Trade, refTrade, func(b []byte) []byte { put(b, 0, 0); return b }, "schema_version 0"},
		{"schema version 2", Trade, refTrade, func(b []byte) []byte { put(b, 0, 2); return b }, "schema_version 2"},
		{"flags bit 2", Trade, refTrade, func(b []byte) []byte { put(b, 2, 5); return b }, "flags 0x0005: undefined"},
		{"stream symbol, symbol present too", Trade, refTrade, func(b []byte) []byte { put(b, 2, 3); return b }, "symbol: present, but flags say it is the stream's"},
		{"flags bit 15", Trade, refTrade, func(b []byte) []byte { put(b, 3, 0x80); return b }, "flags"},
		{"record_len short", Trade, refTrade, func(b []byte) []byte { put(b, 4, 55); return b }, "record_len 55"},
		{"record_len long", Trade, refTrade, func(b []byte) []byte { put(b, 4, 57); return b }, "record_len 57"},
		{"trailing byte", Trade, refTrade, func(b []byte) []byte { put(b, 4, 57); return append(b, 0) }, "1 trailing bytes"},
		{"exchange ts while absent", Trade, refTrade, func(b []byte) []byte { put(b, 2, 0); return b }, "exchange_ts_ns 2 while flagged absent"},
		{"non-nullable bit clear", Trade, refTrade, func(b []byte) []byte { put(b, 24, 0x1e); return b }, "symbol: absent"},
		{"unused bitmap bit", Trade, refTrade, func(b []byte) []byte { put(b, 24, 0x3f); return b }, "bits beyond field 4"},
		{"unused bitmap bit, 3-byte bitmap", OptionsChain, refOption, func(b []byte) []byte { b[26] |= 0x20; return b }, "bits beyond field 20"},
		{"scale 19", Trade, refTrade, func(b []byte) []byte { put(b, 26, 19); return b }, "amount: scale 19"},
		{"levels scale 19", BookSnapshot, refSnap, func(b []byte) []byte { put(b, 28, 19); return b }, "bids: scale 19"},
		{"scale of an absent field", DerivativeTicker, refTicker, func(b []byte) []byte { put(b, 26, 1); return b }, "predicted_funding_rate: scale 1 for an absent field"},
		{"side 0", Trade, refTrade, func(b []byte) []byte { put(b, 39, 0); return b }, "side: undefined code 0"},
		{"side 4", Trade, refTrade, func(b []byte) []byte { put(b, 39, 4); return b }, "side: undefined code 4"},
		{"option type 3", OptionsChain, refOption, func(b []byte) []byte { b[len(b)-1-2-16-1] = 3; return b }, "type: undefined code 3"},
		{"option type 0", OptionsChain, refOption, func(b []byte) []byte { b[len(b)-1-2-16-1] = 0; return b }, "type: undefined code 0"},
		{"negative unsigned", Trade, refTrade, func(b []byte) []byte { put(b, 55, 0x80); return b }, "amount: negative mantissa"},
		{"string past the end", Trade, refTrade, func(b []byte) []byte { put(b, 36, 30); return b }, "id: 30 bytes"},
		{"levels past the end", BookSnapshot, refSnap, func(b []byte) []byte { put(b, 32, 2); return b }, "asks: 2 levels"},
		{"wrong type", BookEvent, refTrade, func(b []byte) []byte { return b }, "package protocol"},
	} {
		b := c.mod(bytes.Clone(c.ref))
		var r Record
		err := Decode(c.typ, b, &r)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrMalformed with %q", c.name, err, c.want)
		}
	}
	// Truncation anywhere, with record_len agreeing with the cut.
	for _, c := range roundTripCases() {
		if c.r.Type == BookSnapshot && len(c.r.Fields[1].L) > 100 || c.r.Type == Trade && len(c.r.Fields[1].B) > 100 {
			continue // quadratic; the short cases cover every position kind
		}
		b, _ := Append(nil, c.r)
		var r Record
		for n := range len(b) {
			cut := bytes.Clone(b[:n])
			if n >= 8 {
				put(cut, 4, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
			}
			if err := Decode(c.r.Type, cut, &r); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s cut to %d bytes: got %v, want ErrMalformed", c.name, n, err)
			}
		}
	}
}

// TestNoAllocs: Append, Decode and AppendJSON reuse their buffers.
func TestNoAllocs(t *testing.T) {
	for _, r := range []*Record{optionsRow(), roundTripCases()[1].r, roundTripCases()[11].r} {
		p, err := Append(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		var d Record
		buf := make([]byte, 0, 4096)
		if err := Decode(r.Type, p, &d); err != nil { // grow d's buffers
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if err := Decode(r.Type, p, &d); err != nil {
				t.Fatal(err)
			}
			buf, _ = Append(buf[:0], &d)
			buf = AppendJSON(buf[:0], &d)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Decode+Append+AppendJSON, want 0", r.Type.Name, allocs)
		}
	}
}

// FuzzDecode: Decode never panics; what it accepts encodes back to the
// same bytes and prints as valid JSON. typ indexes the extension types.
func FuzzDecode(f *testing.F) {
	types := extensionTypes()
	for _, c := range roundTripCases() {
		if p, err := Append(nil, c.r); err == nil && len(p) < 4096 {
			f.Add(typeIndex(c.r.Type), p)
		}
	}
	f.Fuzz(func(t *testing.T, typ uint8, p []byte) {
		rt := types[int(typ)%len(types)]
		var r Record
		if err := Decode(rt, p, &r); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := Append(nil, &r)
		if err != nil {
			t.Fatalf("decoded %s does not encode: %v", rt.Name, err)
		}
		if !bytes.Equal(out, p) {
			t.Fatalf("%s re-encoding differs:\n in %x\nout %x", rt.Name, p, out)
		}
		if j := AppendJSON(nil, &r); !json.Valid(j) {
			t.Fatalf("%s: invalid JSON %s", rt.Name, j)
		}
	})
}

func extensionTypes() []*Type {
	var ts []*Type
	for _, t := range All() {
		if !t.Reference {
			ts = append(ts, t)
		}
	}
	return ts
}

func typeIndex(t *Type) uint8 {
	for i, x := range extensionTypes() {
		if x == t {
			return uint8(i)
		}
	}
	panic(t.Name)
}

func benchRecords() []*Record {
	return []*Record{roundTripCases()[1].r, optionsRow()}
}

func BenchmarkAppend(b *testing.B) {
	for _, r := range benchRecords() {
		b.Run(r.Type.Name, func(b *testing.B) {
			buf, _ := Append(nil, r)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = Append(buf[:0], r)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, r := range benchRecords() {
		b.Run(r.Type.Name, func(b *testing.B) {
			p, _ := Append(nil, r)
			var d Record
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Decode(r.Type, p, &d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
