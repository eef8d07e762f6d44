package record

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/decimal"
)

var update = flag.Bool("update", false, "rewrite golden files and fuzz seeds in testdata/")

// goldens are one or two small records per type. note says what was
// checked by hand against docs/FORMAT.md; it heads the golden file.
func goldens() []struct {
	typ  *Type
	note string
	recs []*Record
} {
	return []struct {
		typ  *Type
		note string
		recs []*Record
	}{
		{Trade, `record 1: bitmex_trades_2020-03-01_XBTUSD row 1 (UUID id, sell,
# 8531.5 = 85315 at scale 1, 2152 at scale 0); local_ts 1583020803307160 µs
# = 0x15f805088d2d41c0 ns; record_len 0x5a = 90 = 24 + 1 bitmap + 2 scales
# + (2+6) + (2+36) + 1 + 8 + 8. record 2: exchange_ts absent (flags 0, field 0),
# empty id (length 0, no bytes), side unknown = 3, price 0.00012 = 12 at
# scale 5, amount 1.2e-7 = 12 at scale 8.`,
			[]*Record{
				build(Trade, 1583020803307160*us, 1583020803145000*us, map[string]Value{
					"symbol": str("XBTUSD"), "id": str("ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf"), "side": code(SideSell),
					"price": dec("8531.5"), "amount": dec("2152")}),
				build(Trade, 1575158401234000*us, -1, map[string]Value{
					"symbol": str("BTCUSDT"), "id": str(""), "side": code(SideUnknown),
					"price": dec("0.00012"), "amount": dec("1.2e-7")}),
			}},
		{Quote, `record 1: binance-futures_quotes_2020-02-22_BTCUSDT row 1, all four
# present (bitmap 0x1f), ask first as in Tardis's columns. record 2: asks
# absent (bitmap 0x19: symbol, bid_price, bid_amount), their scales 0 and
# no value bytes; bid_amount 0 is present and 0, not absent. record 3:
# record 1 as an import of a one-symbol file stores it, its symbol taken
# from the stream (meta.json "symbol"): flags 0x0003 (bit 1 set), presence
# bit 0 clear (bitmap 0x1e), no symbol bytes: 61 bytes, not 70, so the
# record with its 64-byte message header takes 128 bytes of a segment, not
# 192.`,
			[]*Record{
				build(Quote, 1582329603502092*us, 1582329601096000*us, map[string]Value{
					"symbol": str("BTCUSDT"), "ask_amount": dec("0.84"), "ask_price": dec("9682"),
					"bid_price": dec("9681.92"), "bid_amount": dec("0.67")}),
				build(Quote, 1582329603522418*us, 1582329603401000*us, map[string]Value{
					"symbol": str("BTCUSDT"), "bid_price": dec("9681.83"), "bid_amount": dec("0")}),
				streamSymbol(build(Quote, 1582329603502092*us, 1582329601096000*us, map[string]Value{
					"symbol": str("BTCUSDT"), "ask_amount": dec("0.84"), "ask_price": dec("9682"),
					"bid_price": dec("9681.92"), "bid_amount": dec("0.67")})),
			}},
		{BookTicker, `same layout as quote under its own type id 0x2003: bid side
# absent (bitmap 0x07: symbol, ask_amount, ask_price), exchange_ts absent.`,
			[]*Record{
				build(BookTicker, 1714521600100000*us, -1, map[string]Value{
					"symbol": str("ETHUSDT"), "ask_amount": dec("12.5"), "ask_price": dec("3001.5")}),
			}},
		{BookSnapshot, `record 1: binance-futures_book_snapshot_5_2020-09-01_BTCUSDT row 1
# cut to its top 2 levels (11657.08/1.714, 11657.54/5.4 | 11657.07/10.896,
# 11656.97/0.2 at price scale 2, amount scale 3): each Levels field has two
# scale bytes, then u16 count and (u64 price, u64 amount) pairs, best first. record 2: a thin book, one
# ask and no bids (count 0, scales 0).`,
			[]*Record{
				build(BookSnapshot, 1598918403810979*us, 1598918403696000*us, map[string]Value{
					"symbol": str("BTCUSDT"),
					"asks":   lv(2, 3, Level{Price: 1165708, Size: 1714}, Level{Price: 1165754, Size: 5400}),
					"bids":   lv(2, 3, Level{Price: 1165707, Size: 10896}, Level{Price: 1165697, Size: 200})}),
				build(BookSnapshot, 1598918401000000*us, 1598918400999000*us, map[string]Value{
					"symbol": str("BTCUSDT"), "asks": lv(1, 0, Level{Price: 116382, Size: 7}), "bids": lv(0, 0)}),
			}},
		{DerivativeTicker, `record 1: every field present (bitmap 0xff), funding_rate
# -0.00012345 = -12345 at scale 8 = 0xffffffffffffcfc7 (two's complement),
# predicted 5e-7 = 5 at scale 7. record 2: only symbol present (bitmap
# 0x01), exchange_ts absent, six scale bytes 0, no value bytes.`,
			[]*Record{
				build(DerivativeTicker, 1583020803307160*us, 1583020803145000*us, map[string]Value{
					"symbol": str("XBTUSD"), "funding_timestamp": code(1583020800000000 * us),
					"funding_rate": dec("-0.00012345"), "predicted_funding_rate": dec("5e-7"),
					"open_interest": dec("1000000"), "last_price": dec("9500.5"),
					"index_price": dec("9500"), "mark_price": dec("9500.25")}),
				build(DerivativeTicker, 1583020863307160*us, -1, map[string]Value{"symbol": str("XBTUSD")}),
			}},
		{Liquidation, `same layout as trade under type id 0x2006; record 1 numeric id,
# side buy = 1 (a short liquidated); record 2 empty id, side sell = 2.`,
			[]*Record{
				build(Liquidation, 1714521601000000*us, 1714521600998000*us, map[string]Value{
					"symbol": str("BTCUSDT"), "id": str("9876543210"), "side": code(SideBuy),
					"price": dec("65000.1"), "amount": dec("0.5")}),
				build(Liquidation, 1714521601000500*us, 1714521600998000*us, map[string]Value{
					"symbol": str("BTCUSDT"), "id": str(""), "side": code(SideSell),
					"price": dec("64999"), "amount": dec("0.002")}),
			}},
		{OptionsChain, `deribit_options_chain_2024-01-01_OPTIONS row 1: 21 fields,
# a 3-byte bitmap 0x3f 0xf0 0x1f (fields 6-11: bid_price, bid_amount, bid_iv,
# ask_price, ask_amount, ask_iv absent; bits 21-23 unused and zero), 17 scale bytes
# (one per decimal field; absent ones 0), type put = 2, negative greeks
# (delta -0.94333 = -94333 at scale 5), gamma 0 present (not absent),
# underlying_index after mark_iv, as in the field list.`,
			[]*Record{optionsRow()},
		},
	}
}

// TestGolden encodes goldens() and compares them byte for byte with
// testdata/golden/<type>.hex, annotated dumps whose every field was
// checked by hand against docs/FORMAT.md; it also decodes the golden bytes
// back. Run with -update to regenerate after an intended format change
// (and then check the annotations again by hand); -update also rewrites the
// fuzz seed corpus in testdata/fuzz/FuzzDecode.
func TestGolden(t *testing.T) {
	seen := map[*Type]bool{}
	for _, g := range goldens() {
		seen[g.typ] = true
		var got []byte
		var payloads [][]byte
		for _, r := range g.recs {
			p, err := Append(nil, r)
			if err != nil {
				t.Fatalf("%s: %v", g.typ.Name, err)
			}
			got = append(got, p...)
			payloads = append(payloads, p)
		}
		path := filepath.Join("testdata", "golden", g.typ.Name+".hex")
		if *update {
			writeGolden(t, path, g.typ, g.note, payloads)
		}
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		want := parseHexDump(t, string(text))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("%s differs from %s at offset %d: got %#02x want %#02x", g.typ.Name, path, i, got[i], want[i])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d bytes, %s has %d", g.typ.Name, len(got), path, len(want))
		}
		for i, p := range payloads {
			var r Record
			if err := Decode(g.typ, p, &r); err != nil {
				t.Fatalf("%s record %d: %v", path, i+1, err)
			}
			if diff := sameRecord(g.recs[i], &r); diff != "" {
				t.Fatalf("%s record %d: %s", path, i+1, diff)
			}
		}
	}
	for _, typ := range extensionTypes() {
		if !seen[typ] {
			t.Errorf("no golden record for %s", typ.Name)
		}
	}
}

func writeGolden(t *testing.T, path string, typ *Type, note string, payloads [][]byte) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# Golden %s payloads (type_id %#04x) for record/golden_test.go.\n", typ.Name, typ.ID)
	fmt.Fprintf(&sb, "# Checked by hand against docs/FORMAT.md, \"Record payloads (Chronicle extensions)\":\n# %s\n", note)
	for i, p := range payloads {
		fmt.Fprintf(&sb, "# record %d\n", i+1)
		sb.WriteString(annotate(t, typ, p))
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The fuzz seeds are the golden payloads, in go test's corpus format.
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	os.MkdirAll(dir, 0o755)
	for i, p := range payloads {
		seed := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", typeIndex(typ), p)
		name := filepath.Join(dir, fmt.Sprintf("%s-%d", typ.Name, i+1))
		if err := os.WriteFile(name, []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// annotate dumps one payload of typ field by field, with decoded values.
func annotate(t *testing.T, typ *Type, b []byte) string {
	var r Record
	if err := Decode(typ, b, &r); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	off := 0
	field := func(n int, format string, args ...any) {
		fmt.Fprintf(&sb, "%-40s # @%d %s\n", hex.EncodeToString(b[off:off+n]), off, fmt.Sprintf(format, args...))
		off += n
	}
	sb.WriteString("# RecordHeader\n")
	field(2, "schema_version %d", SchemaVersion)
	if r.StreamSymbol {
		field(2, "flags (bit 0: exchange_ts present) = %v, bit 1: the symbol is the stream's", r.HasExchangeTS)
	} else {
		field(2, "flags (bit 0: exchange_ts present) = %v", r.HasExchangeTS)
	}
	field(4, "record_len %d", len(b))
	field(8, "local_ts_ns %d", r.LocalTS)
	field(8, "exchange_ts_ns %d", r.ExchangeTS)
	var present []string
	for i, f := range typ.Fields {
		if r.Present[i] {
			present = append(present, f.Name)
		}
	}
	if r.StreamSymbol {
		present = append([]string{"(not symbol: the stream's)"}, present...)
	}
	field((len(typ.Fields)+7)/8, "presence bitmap: %s", strings.Join(present, " "))
	for i, f := range typ.Fields {
		absent := ""
		if !r.Present[i] {
			absent = " (absent: 0)"
		}
		switch f.Kind {
		case Decimal:
			field(1, "scale %s%s", f.Name, absent)
		case Levels:
			field(1, "price scale %s%s", f.Name, absent)
			field(1, "amount scale %s%s", f.Name, absent)
		}
	}
	for i, f := range typ.Fields {
		if !r.Present[i] {
			continue
		}
		v := &r.Fields[i]
		switch f.Kind {
		case Time:
			field(8, "%s %d ns", f.Name, v.U)
		case Decimal:
			field(8, "%s i64 %d at scale %d = %s", f.Name, v.I, v.Scale, decimal.AppendSigned(nil, v.I, v.Scale))
		case Side:
			field(1, "%s %d = %s", f.Name, v.U, SideName(v.U))
		case OptionType:
			field(1, "%s %d = %s", f.Name, v.U, OptionTypeName(v.U))
		case String:
			field(2, "%s length %d", f.Name, len(v.B))
			if len(v.B) > 0 {
				field(len(v.B), "%s %q", f.Name, v.B)
			}
		case Levels:
			field(2, "%s count %d", f.Name, len(v.L))
			for j, l := range v.L {
				field(8, "%s[%d].price %d = %s", f.Name, j, l.Price, decimal.String(l.Price, v.Scale))
				field(8, "%s[%d].amount %d = %s", f.Name, j, l.Size, decimal.String(l.Size, v.Scale2))
			}
		}
	}
	return sb.String()
}

// parseHexDump reads "hex  # comment" lines (the format of
// archive/testdata/golden).
func parseHexDump(t *testing.T, s string) []byte {
	var out []byte
	for line := range strings.SplitSeq(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.ReplaceAll(line, " ", "")
		if line == "" {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("golden: %v in %q", err, line)
		}
		out = append(out, b...)
	}
	return out
}
