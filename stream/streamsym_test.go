package stream

import (
	"io"
	"testing"
)

// A stream-symbol import reads back with its symbols; a meta.json without
// a symbol is damage for both the reader and verify.
func TestStreamSymbolFill(t *testing.T) {
	res := mustImport(t, importOpts(t.TempDir(), "../tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv"))
	rs, err := OpenRecords(nil, res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		r, err := rs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !r.StreamSymbol || !r.Present[0] || string(r.Fields[0].B) != "BTCUSDT" {
			t.Fatalf("record %d: stream symbol %v present %v %q", n, r.StreamSymbol, r.Present[0], r.Fields[0].B)
		}
		n++
	}
	rs.Close()
	if n != 100 {
		t.Fatalf("%d records", n)
	}
}
