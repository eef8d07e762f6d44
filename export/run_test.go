package export

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// runCols are book-like columns with every kind, nullable ones among the
// constant cells, and two varying decimals.
var runCols = []Column{
	{Name: "exchange", Kind: String},
	{Name: "symbol", Kind: String, Nullable: true},
	{Name: "timestamp", Kind: Timestamp},
	{Name: "local_timestamp", Kind: Timestamp, Nullable: true},
	{Name: "is_snapshot", Kind: Bool},
	{Name: "side", Kind: String},
	{Name: "price", Kind: Decimal, Scale: 3},
	{Name: "amount", Kind: Decimal, Scale: 6, Nullable: true},
	{Name: "rate", Kind: Decimal, Scale: 2, Nullable: true},
}

var runVary = []int{6, 7}

// TestWriteRunSameBytes: runs of every length (empty, one row, across
// batches and row groups), with NULL and negative constant cells and
// values rescaled up and down, give the file a WriteRow per row gives,
// byte for byte; a refused run writes nothing and the writer goes on.
func TestWriteRunSameBytes(t *testing.T) {
	defer func(g int) { rowGroupRows = g }(rowGroupRows)
	rowGroupRows = 10000 // several groups, and batches of 8192 rows
	rng := rand.New(rand.NewPCG(3, 4))
	var byRun, byRow bytes.Buffer
	wRun, err := NewParquetWriter(&byRun, runCols)
	if err != nil {
		t.Fatal(err)
	}
	wRow, err := NewParquetWriter(&byRow, runCols)
	if err != nil {
		t.Fatal(err)
	}
	cells := make([]Cell, len(runCols))
	row := make([]Cell, len(runCols))
	var mags []uint64
	total := 0
	for ev := range 2000 {
		n := []int{0, 1, 2, 7, 40}[rng.IntN(5)]
		if ev%97 == 50 {
			n = 9000 // across batches and row groups
		}
		cells[0] = str("binance-futures")
		cells[1] = Cell{B: []byte("BTCUSDT"), Null: ev%5 == 0}
		cells[2] = ts(uint64(1_700_000_000_000_000+ev*7) * 1000)
		cells[3] = Cell{Mag: uint64(1_700_000_000_000_000+ev*9) * 1000, Null: ev%3 == 0}
		cells[4] = Cell{Bool: ev%4 == 0}
		cells[5] = str([]string{"bid", "ask"}[ev%2])
		cells[6] = Cell{Scale: uint8(1 + ev%3)} // 1..3: rescaled up, or not
		cells[7] = Cell{Scale: 6, Neg: ev%6 == 1}
		if ev%17 == 0 {
			cells[7].Scale = 8 // down: only multiples of 100 fit
		}
		cells[8] = Cell{Mag: uint64(ev), Neg: ev%2 == 0, Scale: 2, Null: ev%7 == 0}
		mags = mags[:0]
		for range n {
			m := uint64(rng.IntN(1000))
			if cells[7].Scale == 8 {
				m *= 100
			}
			mags = append(mags, 60_000+uint64(rng.IntN(50)), m)
		}
		bad := ev%97 == 5 && n > 1
		if bad {
			mags[len(mags)-1] = 12345 // not a multiple of 100: refused
			cells[7].Scale = 8
		}
		err := wRun.WriteRun(cells, runVary, mags)
		if bad {
			if !errors.Is(err, ErrValue) {
				t.Fatalf("event %d: a value at too many decimals: %v", ev, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("event %d: %v", ev, err)
		}
		for r := range n {
			copy(row, cells)
			row[6].Mag, row[7].Mag = mags[2*r], mags[2*r+1]
			if err := wRow.WriteRow(row); err != nil {
				t.Fatalf("event %d row %d: %v", ev, r, err)
			}
		}
		total += n
	}
	if err := wRun.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wRow.Close(); err != nil {
		t.Fatal(err)
	}
	if total < 3*rowGroupRows {
		t.Fatalf("only %d rows", total)
	}
	if !bytes.Equal(byRun.Bytes(), byRow.Bytes()) {
		t.Fatalf("WriteRun's file (%d bytes) differs from WriteRow's (%d bytes)", byRun.Len(), byRow.Len())
	}
	rows, groups := readBack(t, byRun.Bytes())
	if len(rows) != total || groups < 3 {
		t.Errorf("read back %d rows in %d groups, want %d rows", len(rows), groups, total)
	}
}

func TestWriteRunRefusals(t *testing.T) {
	w, err := NewParquetWriter(io.Discard, runCols)
	if err != nil {
		t.Fatal(err)
	}
	cells := []Cell{str("x"), str("y"), ts(1000), ts(2000), {}, str("bid"), dec(0, 3), dec(0, 6), null}
	for name, c := range map[string]struct {
		cells []Cell
		vary  []int
		mags  []uint64
	}{
		"cells":           {cells[:3], runVary, []uint64{1, 2}},
		"odd magnitudes":  {cells, runVary, []uint64{1, 2, 3}},
		"no vary":         {cells, nil, []uint64{1, 2}},
		"vary a string":   {cells, []int{5}, []uint64{1}},
		"vary a NULL":     {cells, []int{8}, []uint64{1}},
		"vary out of row": {cells, []int{9}, []uint64{1}},
		"timestamp":       {append([]Cell{str("x"), str("y"), ts(1001)}, cells[3:]...), runVary, []uint64{1, 2}},
	} {
		if err := w.WriteRun(c.cells, c.vary, c.mags); !errors.Is(err, ErrValue) {
			t.Errorf("%s: %v, want ErrValue", name, err)
		}
	}
	if err := w.WriteRun(cells, runVary, []uint64{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteRunNoAllocs(t *testing.T) {
	w, err := NewParquetWriter(io.Discard, runCols)
	if err != nil {
		t.Fatal(err)
	}
	cells := []Cell{str("x"), str("y"), ts(1000), ts(2000), {}, str("bid"), dec(0, 3), dec(0, 6), null}
	mags := make([]uint64, 2*10)
	for range 3 * batchRows { // grow the buffers
		if err := w.WriteRun(cells, runVary, mags); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		for range batchRows / 10 {
			if err := w.WriteRun(cells, runVary, mags); err != nil {
				t.Fatal(err)
			}
		}
	}) / batchRows
	if allocs >= 0.1 {
		t.Errorf("%.2f allocations per row, want about none", allocs)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTwoValueStrings: a string column of two values has its indices
// packed one bit each (padding the last group of 8), NULLs among them.
func TestTwoValueStrings(t *testing.T) {
	cols := []Column{{Name: "side", Kind: String, Nullable: true}, {Name: "one", Kind: String}}
	var buf bytes.Buffer
	w, err := NewParquetWriter(&buf, cols)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var want []string
	for i := range 20_003 { // two pages, the last group of 8 not full
		side := []string{"bid", "ask"}[rng.IntN(2)]
		c := Cell{B: []byte(side), Null: i%9 == 4}
		if c.Null {
			side = "NULL"
		}
		if err := w.WriteRow([]Cell{c, str("x")}); err != nil {
			t.Fatal(err)
		}
		want = append(want, side+"|x")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := readBack(t, buf.Bytes())
	if len(got) != len(want) {
		t.Fatalf("%d rows read back, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %d: %s, want %s", i, got[i], want[i])
		}
	}
}
