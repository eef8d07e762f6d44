package snapshots

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/ingest"
)

const dayUS = 86_400_000_000

// importDays imports each day's hand-written rows (importText's syntax,
// offsets from base + k days) into one archive and returns the day
// directories in order.
func importDays(t testing.TB, days ...[]string) []string {
	t.Helper()
	root, src := t.TempDir(), t.TempDir()
	var dirs []string
	for k, lines := range days {
		b := uint64(base + k*dayUS)
		var sb strings.Builder
		sb.WriteString(header)
		for _, l := range lines {
			f := strings.Fields(l)
			off, err := strconv.ParseUint(f[0], 10, 64)
			if len(f) != 5 || err != nil {
				t.Fatalf("bad test line %q", l)
			}
			ts := strconv.FormatUint(b+off, 10)
			sb.WriteString("binance,TEST," + ts + "," + ts + "," + strconv.FormatBool(f[1] == "snapshot") + "," + f[2] + "," + f[3] + "," + f[4] + "\n")
		}
		date := time.UnixMicro(int64(b)).UTC().Format(time.DateOnly)
		path := filepath.Join(src, "binance_incremental_book_L2_"+date+"_TEST.csv")
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := ingest.Import(context.Background(), ingest.Options{Root: root, Input: path})
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		dirs = append(dirs, res.Dir)
	}
	return dirs
}

// threeDays has a different price and amount scale on each day: 1/0,
// 2/3, 0/1.
func threeDays(t testing.TB) []string {
	return importDays(t,
		[]string{
			"10 snapshot bid 100.5 1", "10 snapshot ask 101.5 2",
			"1500000 diff bid 100.5 3", "2600000 diff ask 101 4", "2600000 diff ask 101.5 0",
		},
		[]string{
			"5 snapshot bid 100.25 1.5", "5 snapshot ask 101.75 0.002",
			"700000 diff bid 100.5 0.001", "3100000 diff ask 101.75 0",
		},
		[]string{
			"20 snapshot bid 99 2.5", "20 snapshot ask 102 1",
			"400000 diff bid 98 7", "1900000 diff ask 103 0.5",
		},
	)
}

func writeDays(t testing.TB, dirs []string, o Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := WriteDays(context.Background(), dirs, o, &buf)
	if err != nil {
		t.Fatalf("WriteDays(%+v): %v", o, err)
	}
	if o.Format == CSV {
		if got := int64(strings.Count(buf.String(), "\n") - 1); got != n {
			t.Fatalf("WriteDays reported %d rows, wrote %d", n, got)
		}
	}
	return buf.Bytes()
}

// Several days make one output whose rows are the days' own, one after
// the other, in both formats, with a range and with a limit.
func TestWriteDays(t *testing.T) {
	dirs := threeDays(t)
	head := strings.Join(Columns(2), ",")
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"changes", Options{Depth: 2}},
		{"interval", Options{Depth: 2, Interval: 500 * time.Millisecond}},
		{"range", Options{Depth: 2, From: ns(1_000_000), To: ns(2*dayUS + 1_000_000)}},
		{"interval range", Options{Depth: 1, Interval: time.Second, From: ns(2_000_000), To: ns(dayUS + 2_000_000)}},
		{"limit", Options{Depth: 2, Limit: 5}},
		{"limit past the end", Options{Depth: 2, Limit: 1000}},
	} {
		var want []string
		for _, dir := range dirs {
			o := c.o
			o.Limit = 0
			want = append(want, snapCSV(t, dir, o)...)
		}
		if c.o.Limit > 0 && int64(len(want)) > c.o.Limit {
			want = want[:c.o.Limit]
		}
		if len(want) < 3 {
			t.Fatalf("%s: only %d rows: the test is too weak", c.name, len(want))
		}
		o := c.o
		o.Format = CSV
		got := strings.Split(strings.TrimSuffix(string(writeDays(t, dirs, o)), "\n"), "\n")
		if got[0] != strings.Join(Columns(o.Depth), ",") {
			t.Fatalf("%s: header %q, want %q", c.name, got[0], head)
		}
		diffLines(t, c.name+" csv", got[1:], want)

		o.Format = Parquet
		lines, ps, ss := parquetLines(t, writeDays(t, dirs, o), o.Depth)
		if ps != 2 || ss != 3 {
			t.Errorf("%s: parquet scales %d/%d, want the largest of the days', 2/3", c.name, ps, ss)
		}
		diffLines(t, c.name+" parquet", lines, want)
	}
}

// One directory is Write, byte for byte.
func TestWriteDaysOne(t *testing.T) {
	dirs := threeDays(t)
	for _, f := range []Format{CSV, Parquet} {
		o := Options{Depth: 2, Format: f}
		var want bytes.Buffer
		if _, err := Write(context.Background(), dirs[1], o, &want); err != nil {
			t.Fatal(err)
		}
		if got := writeDays(t, dirs[1:2], o); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: WriteDays of one day differs from Write", f)
		}
	}
}

// editMeta rewrites a day's meta.json (not in the manifest: verify does
// not mind).
func editMeta(t testing.TB, dir string, edit func(m map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "meta.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A meta.json without scales (older streams) falls back to the data; one
// whose scales are below the data's is an error naming the value and the
// day, never a rounding.
func TestWriteDaysScales(t *testing.T) {
	dirs := threeDays(t)
	o := Options{Depth: 2, Format: Parquet}
	want, _, _ := parquetLines(t, writeDays(t, dirs, o), 2)
	for _, d := range dirs {
		editMeta(t, d, func(m map[string]any) { delete(m, "scales") })
	}
	got, ps, ss := parquetLines(t, writeDays(t, dirs, o), 2)
	if ps != 2 || ss != 3 {
		t.Errorf("scales from the data: %d/%d, want 2/3", ps, ss)
	}
	diffLines(t, "scales from the data", got, want)

	editMeta(t, dirs[1], func(m map[string]any) { m["scales"] = map[string]any{"price": 1, "amount": 3} })
	_, err := WriteDays(context.Background(), dirs, o, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "101.75") || !strings.Contains(err.Error(), dirs[1]) {
		t.Fatalf("err = %v, want one naming 101.75 and %s", err, dirs[1])
	}
	editMeta(t, dirs[1], func(m map[string]any) { m["scales"] = map[string]any{"price": 19, "amount": 3} })
	if _, err := WriteDays(context.Background(), dirs, o, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "at most 18") {
		t.Fatalf("scale 19: err = %v", err)
	}
}

// A day's rows end where the next day's data starts, even when its own
// data goes on past it.
func TestWriteDaysOverlap(t *testing.T) {
	dirs := importDays(t,
		[]string{"10 snapshot bid 100 1", "10 snapshot ask 101 1", "1000 diff bid 100 2", strconv.Itoa(dayUS+500) + " diff bid 100 3"},
		[]string{"100 snapshot bid 100 5", "100 snapshot ask 101 1", "2000 diff bid 100 6"},
	)
	got := strings.Split(strings.TrimSuffix(string(writeDays(t, dirs, Options{Depth: 1, Format: CSV})), "\n"), "\n")[1:]
	want := []string{
		"binance,TEST," + us(10) + "," + us(10) + ",101,1,100,1",
		"binance,TEST," + us(1000) + "," + us(1000) + ",101,1,100,2",
		"binance,TEST," + us(dayUS+100) + "," + us(dayUS+100) + ",101,1,100,5",
		"binance,TEST," + us(dayUS+2000) + "," + us(dayUS+2000) + ",101,1,100,6",
	}
	diffLines(t, "overlapping days", got, want)
}
