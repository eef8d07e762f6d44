package tardis

import (
	"bytes"
	"io"
	"testing"

	"github.com/chronicle-archive/chronicle/export"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
)

// TestWriteBookRows: WriteBookRows writes the file a WriteRow per row of
// AppendBookRows writes, byte for byte, with the same refusals, and
// allocates nothing per event.
func TestWriteBookRows(t *testing.T) {
	var fast, slow bytes.Buffer
	wf, err := export.NewParquetWriter(&fast, BookColumns(2, 6))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := export.NewParquetWriter(&slow, BookColumns(2, 6))
	if err != nil {
		t.Fatal(err)
	}
	emit := func(cells []export.Cell) error { return ws.WriteRow(cells) }
	var bids, asks []protocol.Level
	for i := range 400 {
		bids, asks = bids[:0], asks[:0]
		for k := range i % 23 {
			bids = append(bids, protocol.Level{Price: 754138 - uint64(k), Size: uint64(i*k) % 9000})
		}
		for k := range i % 7 {
			asks = append(asks, protocol.Level{Price: 754139 + uint64(k), Size: uint64(i+k) % 5000})
		}
		ev := &protocol.Event{Type: protocol.Diff, IngestTS: uint64(2000+i) * 1000, ExchangeTS: uint64(1000+i) * 1000,
			PriceScale: uint8(1 + i%2), SizeScale: 6, Bids: bids, Asks: asks}
		if i%50 == 0 {
			ev.Type = protocol.Snapshot
		}
		if i%31 == 0 {
			ev.Type, ev.Bids, ev.Asks = protocol.Heartbeat, nil, nil
		}
		if err := WriteBookRows(wf, "binance", "BTCUSDT", ev); err != nil {
			t.Fatal(err)
		}
		if err := AppendBookRows("binance", "BTCUSDT", ev, emit); err != nil {
			t.Fatal(err)
		}
	}
	bad := &protocol.Event{Type: protocol.Reset, Bids: []protocol.Level{{Price: 1}}}
	if err := WriteBookRows(wf, "binance", "BTCUSDT", bad); err == nil {
		t.Error("a Reset with levels: no error")
	}
	tooFine := &protocol.Event{Type: protocol.Diff, PriceScale: 3, Bids: []protocol.Level{{Price: 10}, {Price: 11}}}
	if err := WriteBookRows(wf, "binance", "BTCUSDT", tooFine); err == nil {
		t.Error("a price at 3 decimals in a 2-decimal column: no error")
	}
	if err := wf.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast.Bytes(), slow.Bytes()) {
		t.Errorf("WriteBookRows's file (%d bytes) differs from AppendBookRows' (%d bytes)", fast.Len(), slow.Len())
	}

	w, err := export.NewParquetWriter(io.Discard, BookColumns(2, 6))
	if err != nil {
		t.Fatal(err)
	}
	ev := &protocol.Event{Type: protocol.Diff, PriceScale: 2, SizeScale: 6, Bids: make([]protocol.Level, 10), Asks: make([]protocol.Level, 3)}
	for range 2000 {
		if err := WriteBookRows(w, "binance", "BTCUSDT", ev); err != nil {
			t.Fatal(err)
		}
	}
	if allocs := testing.AllocsPerRun(1000, func() {
		if err := WriteBookRows(w, "binance", "BTCUSDT", ev); err != nil {
			t.Fatal(err)
		}
	}); allocs >= 0.1 {
		t.Errorf("%v allocations per event", allocs)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkAppendRecordCells(b *testing.B) {
	rec := &record.Record{}
	rec.Reset(record.Trade)
	rec.Fields[0].B = []byte("BTCUSDT")
	for i := range rec.Present {
		rec.Present[i] = true
	}
	rec.Fields[1].B = []byte("123456789")
	var cells []export.Cell
	for b.Loop() {
		cells = AppendRecordCells(cells[:0], "binance-futures", rec, 0)
	}
}
