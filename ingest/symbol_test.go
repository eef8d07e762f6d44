package ingest

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/stream"
)

// streamRecords decodes every payload of the stream in dir as its type,
// filling in meta.json's symbol where a record takes it from the stream,
// and returns each record's JSON, whether it took the symbol from the
// stream, and the bytes its segments hold.
func streamRecords(t *testing.T, dir string) (recs []string, streamSym []bool, size int64) {
	t.Helper()
	s, err := archive.OpenStream(nil, dir, archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := s.Meta()
	typ, ok := record.ByName(m.RecordType)
	if !ok {
		t.Fatalf("record type %q", m.RecordType)
	}
	var r record.Record
	for {
		rec, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := record.Decode(typ, rec.Payload, &r); err != nil {
			t.Fatal(err)
		}
		if again, err := record.Append(nil, &r); err != nil || !bytes.Equal(again, rec.Payload) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
		streamSym = append(streamSym, r.StreamSymbol)
		if r.StreamSymbol {
			r.SetSymbol(m.Symbol)
		}
		recs = append(recs, string(record.AppendJSON(nil, &r)))
	}
	for _, f := range m.Files {
		size += f.Size
	}
	return recs, streamSym, size
}

// TestStreamSymbol: with streamSymbols, a one-symbol file's records take
// their symbol from the stream (they read back the same once it is filled
// in from meta.json, in fewer bytes) and a grouped file's keep their own.
func TestStreamSymbol(t *testing.T) {
	defer func(v bool) { streamSymbols = v }(streamSymbols)
	for _, c := range []struct {
		file    string
		elided  bool
		smaller bool // fewer segment bytes: a quote's 70-byte payload becomes 61
	}{
		{"tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv", true, false},
		{"huobi-dm-swap_quotes_2020-05-01_BTC-USD.nautilus10.csv", true, true},
		{"binance-futures_book_snapshot_5_2020-09-01_BTCUSDT.nautilus10.csv", true, false},
		{"bitmex_derivative_ticker_2020-03-01_XBTUSD.nautilus2.csv", true, false},
		{"deribit_options_chain_2024-01-01_OPTIONS.issue3.csv", false, false},
	} {
		t.Run(c.file, func(t *testing.T) {
			in := filepath.Join("..", "tardis", "testdata", c.file)
			streamSymbols = false
			full := mustImport(t, importOpts(t.TempDir(), in))
			streamSymbols = true
			elided := mustImport(t, importOpts(t.TempDir(), in))
			want, wsym, wsize := streamRecords(t, full.Dir)
			got, gsym, gsize := streamRecords(t, elided.Dir)
			if len(got) != len(want) || len(got) == 0 {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i := range got {
				if wsym[i] || gsym[i] != c.elided {
					t.Fatalf("record %d: stream symbol %v (full import %v), want %v", i, gsym[i], wsym[i], c.elided)
				}
				if got[i] != want[i] {
					t.Fatalf("record %d:\n got %s\nwant %s", i, got[i], want[i])
				}
			}
			if c.smaller != (gsize < wsize) || gsize > wsize {
				t.Errorf("segments %d bytes, with their own symbols %d", gsize, wsize)
			}
			if rep, err := stream.Verify(nil, elided.Dir); err != nil || !rep.OK() {
				t.Fatalf("verify: %v %v", err, rep.Problems)
			}
		})
	}
}
