package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/chronicle-archive/chronicle/decimal"
)

// snapDays writes three small book days of binance/TEST, 2024-05-01..03,
// each opening with a snapshot, with different decimal scales (prices 1,
// 2, 0 decimals; amounts 0, 3, 1), and imports them under root.
func snapDays(t *testing.T, root string) {
	t.Helper()
	days := [][]string{
		{"0 true bid 100.5 1", "0 true ask 101.5 2", "1000000 false bid 100.5 3", "2000000 false ask 101 4", "3000000 false bid 100 5"},
		{"0 true bid 100.25 1.5", "0 true ask 101.75 0.002", "1000000 false bid 100.5 0.001", "2500000 false ask 101.75 0"},
		{"0 true bid 99 2.5", "0 true ask 102 1", "500000 false bid 98 7", "1500000 false ask 103 0.5"},
	}
	src := t.TempDir()
	const may1 = 1714521600000000 // 2024-05-01T00:00:00Z in µs
	for k, rows := range days {
		var b strings.Builder
		b.WriteString("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n")
		for _, r := range rows {
			f := strings.Fields(r)
			off, _ := strconv.ParseInt(f[0], 10, 64)
			ts := strconv.FormatInt(may1+int64(k)*86_400_000_000+1000+off, 10)
			b.WriteString("binance,TEST," + ts + "," + ts + "," + f[1] + "," + f[2] + "," + f[3] + "," + f[4] + "\n")
		}
		path := filepath.Join(src, "binance_incremental_book_L2_2024-05-0"+strconv.Itoa(k+1)+"_TEST.csv")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runIn(root, "import", path); code != 0 {
			t.Fatalf("import %s: exit %d: %s", path, code, stderr)
		}
	}
}

// pqSnapLines reads a snapshot Parquet file as the CSV lines it must equal
// (decimals at their column's scale, printed as Tardis prints them) and
// returns the price and amount scales.
func pqSnapLines(t *testing.T, path string) (lines []string, ps, ss int32) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var scales []int32
	for _, el := range f.Metadata().Schema[1:] {
		var s int32
		if d, ok := el.LogicalType.Value.(*format.DecimalType); ok {
			s = d.Scale
		}
		scales = append(scales, s)
	}
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 16)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				var sb strings.Builder
				for _, v := range row {
					c := v.Column()
					if c > 0 {
						sb.WriteByte(',')
					}
					switch {
					case v.IsNull():
					case c < 2:
						sb.Write(v.ByteArray())
					case c < 4:
						sb.WriteString(strconv.FormatInt(v.Int64(), 10))
					default:
						b := v.ByteArray()
						sb.Write(decimal.Append(nil, binary.BigEndian.Uint64(b[8:]), uint8(scales[c])))
					}
				}
				lines = append(lines, sb.String())
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
	}
	return lines, scales[4], scales[5]
}

// snapshots VENUE/SYMBOL/book over several days, CSV and Parquet, with
// --from/--to and --limit: the rows of the days' own outputs, one after
// the other.
func TestSnapshotsSeveralDays(t *testing.T) {
	root := t.TempDir()
	snapDays(t, root)
	const s = "binance/TEST/book"
	rng := []string{"--from", "2024-05-01T00:00:01.5Z", "--to", "2024-05-03T00:00:01Z"}

	// The days one by one, bounded the same way.
	var want []string
	for d := 1; d <= 3; d++ {
		dir := filepath.Join(root, "v1", "binance", "TEST", "2024-05-0"+strconv.Itoa(d), "book")
		code, out, stderr := runIn(root, append([]string{"snapshots", dir, "--depth", "2"}, rng...)...)
		if code != 0 {
			t.Fatalf("day %d: exit %d: %s", d, code, stderr)
		}
		want = append(want, strings.Split(strings.TrimSuffix(out, "\n"), "\n")[1:]...)
	}
	if len(want) < 5 {
		t.Fatalf("only %d rows: the test is too weak", len(want))
	}

	code, out, stderr := runIn(root, append([]string{"snapshots", s, "--depth", "2"}, rng...)...)
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || !strings.HasPrefix(got[0], "exchange,symbol,") || !slices.Equal(got[1:], want) {
		t.Fatalf("csv: exit %d: %s\n%s\nwant rows:\n%s", code, stderr, out, strings.Join(want, "\n"))
	}

	pq := filepath.Join(t.TempDir(), "days.parquet")
	code, _, stderr = runIn(root, append([]string{"snapshots", s, "--depth", "2", "--format", "parquet", "-o", pq}, rng...)...)
	if code != 0 {
		t.Fatalf("parquet: exit %d: %s", code, stderr)
	}
	lines, ps, ss := pqSnapLines(t, pq)
	if ps != 2 || ss != 3 {
		t.Errorf("parquet scales %d/%d, want 2/3, the largest of the days'", ps, ss)
	}
	if !slices.Equal(lines, want) {
		t.Errorf("parquet rows:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// --limit, both formats, counts the rows of all the days.
	const limit = 4
	code, out, stderr = runIn(root, append([]string{"snapshots", s, "--depth", "2", "--limit", strconv.Itoa(limit)}, rng...)...)
	if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); code != 0 || !slices.Equal(got[1:], want[:limit]) {
		t.Errorf("csv --limit %d: exit %d: %s\n%s", limit, code, stderr, out)
	}
	code, _, stderr = runIn(root, append([]string{"snapshots", s, "--depth", "2", "--limit", strconv.Itoa(limit), "-o", pq}, rng...)...)
	if code != 0 {
		t.Fatalf("parquet --limit: exit %d: %s", code, stderr)
	}
	if lines, _, _ := pqSnapLines(t, pq); !slices.Equal(lines, want[:limit]) {
		t.Errorf("parquet --limit %d:\n%s", limit, strings.Join(lines, "\n"))
	}
}
