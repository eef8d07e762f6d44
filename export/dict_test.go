package export

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// TestDecimalDictionaryKeys writes values on both sides of every boundary
// of the dictionary table's slots (a value below keyOther-1 is stored in
// its slot, any other is compared with dkeys) and of the batches' narrow
// form (high 64 bits 0) against wide values (negative, or 2^64 and more
// after rescaling), in batches that have wide values and batches that
// have none, with NULLs and repeats: every value must read back exactly,
// and each chunk's dictionary must hold each distinct value once.
func TestDecimalDictionaryKeys(t *testing.T) {
	defer func(g int) { rowGroupRows = g }(rowGroupRows)
	rowGroupRows = 3000
	const scale = 2
	type val struct {
		neg  bool
		mag  uint64
		from uint8 // the cell's scale: below the column's is rescaled up
	}
	vals := []val{
		{mag: 0, from: scale}, {mag: 1, from: scale},
		{mag: keyOther - 3, from: scale}, {mag: keyOther - 2, from: scale}, // the largest in a slot
		{mag: keyOther - 1, from: scale}, {mag: keyOther, from: scale}, {mag: keyOther + 1, from: scale},
		{mag: 1 << 63, from: scale}, {mag: math.MaxUint64, from: scale},
		{mag: math.MaxUint64, from: 0},                             // ×100: above 2^64, positive
		{mag: 184467440737095517, from: 0}, {mag: 84, from: scale}, // 2^64 + 84 and 84: the same low 64 bits
		{mag: (keyOther - 2) / 100, from: 0}, {mag: 5, from: 1},
		{neg: true, mag: 1, from: scale}, {neg: true, mag: keyOther - 2, from: scale},
		{neg: true, mag: math.MaxUint64, from: scale}, {neg: true, mag: 7, from: 0},
	}
	narrow := func(v val) bool { return !v.neg && (v.from == scale || v.mag <= math.MaxUint64/100) }
	exact := func(v val) string {
		n := new(big.Int).SetUint64(v.mag)
		n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-v.from)), nil))
		if v.neg {
			n.Neg(n)
		}
		return new(big.Rat).SetFrac(n, big.NewInt(100)).FloatString(scale)
	}
	cols := []Column{{Name: "t", Kind: Timestamp}, {Name: "d", Kind: Decimal, Scale: scale, Nullable: true}}
	var buf bytes.Buffer
	w, err := NewParquetWriter(&buf, cols)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var want []string
	distinct := map[int]map[string]bool{} // row group -> values
	const n = 4 * 3000
	for i := range n {
		// Whole batches without a wide value, and batches with some.
		pool := vals
		if i/w.batchCap%2 == 0 {
			pool = nil
			for _, v := range vals {
				if narrow(v) {
					pool = append(pool, v)
				}
			}
		}
		v := pool[rng.IntN(len(pool))]
		if i%3 == 1 { // repeats and A B A patterns
			v = pool[(i/3)%len(pool)]
		}
		c := Cell{Neg: v.neg, Mag: v.mag, Scale: v.from, Null: i%13 == 0}
		if err := w.WriteRow([]Cell{ts(uint64(i) * 1000), c}); err != nil {
			t.Fatal(err)
		}
		s := "NULL"
		if !c.Null {
			s = exact(v)
			g := i / rowGroupRows
			if distinct[g] == nil {
				distinct[g] = map[string]bool{}
			}
			distinct[g][s] = true
		}
		want = append(want, strconv.Itoa(i)+"|"+s)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, groups := readBack(t, buf.Bytes())
	if groups != n/rowGroupRows || len(got) != n {
		t.Fatalf("%d rows in %d row groups, want %d in %d", len(got), groups, n, n/rowGroupRows)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %d: got %s, want %s", i, got[i], want[i])
		}
	}
	for g, k := range dictSizes(t, buf.Bytes(), 1) {
		if k != len(distinct[g]) {
			t.Errorf("row group %d: %d dictionary values, want %d", g, k, len(distinct[g]))
		}
	}
}

// dictSizes returns the number of dictionary values of column col in each
// row group (0 without a dictionary).
func dictSizes(t *testing.T, b []byte, col int) []int {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[len(b)-8-n:len(b)-8], &md); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, rg := range md.RowGroups {
		m := rg.Columns[col].MetaData
		if m.DictionaryPageOffset == 0 {
			sizes = append(sizes, 0)
			continue
		}
		var h format.PageHeader
		d := thrift.NewDecoder(new(thrift.CompactProtocol).NewReader(bytes.NewReader(b[m.DictionaryPageOffset:])))
		if err := d.Decode(&h); err != nil {
			t.Fatal(err)
		}
		dh, _ := h.DictionaryPageHeader.Get()
		sizes = append(sizes, int(dh.NumValues))
	}
	return sizes
}
