package snapshots

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/ingest"
)

const (
	sample2050  = "../testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv"
	sample2024  = "../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz"
	tardisSnap5 = "../testdata/binance-futures_book_snapshot_5_2020-09-01_BTCUSDT.nautilus10.csv"
)

// importFile imports a Tardis incremental_book_L2 file into a new archive
// and returns the stream directory. every is ingest.Options.CheckpointEvery.
func importFile(t testing.TB, path string, every int) string {
	t.Helper()
	res, err := ingest.Import(context.Background(), ingest.Options{
		Root: t.TempDir(), Input: path, CheckpointEvery: every,
	})
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return res.Dir
}

// base is 2023-11-14T22:13:20Z in µs, a whole second, for hand-written
// streams.
const base = 1_700_000_000_000_000

const header = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"

// importText imports hand-written rows. Each line is
// "local_offset_µs[/exchange_offset_µs] snapshot|diff side price amount",
// offsets from base; the exchange offset defaults to the local one.
func importText(t testing.TB, lines ...string) (dir string, csvText []byte) {
	t.Helper()
	var b strings.Builder
	b.WriteString(header)
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 5 {
			t.Fatalf("bad test line %q", l)
		}
		local, exch, _ := strings.Cut(f[0], "/")
		if exch == "" {
			exch = local
		}
		lo, err1 := strconv.ParseUint(local, 10, 64)
		ex, err2 := strconv.ParseUint(exch, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad test line %q", l)
		}
		snap := strconv.FormatBool(f[1] == "snapshot")
		b.WriteString("binance,TEST," + strconv.FormatUint(base+ex, 10) + "," + strconv.FormatUint(base+lo, 10) + "," + snap + "," + f[2] + "," + f[3] + "," + f[4] + "\n")
	}
	path := filepath.Join(t.TempDir(), "binance_incremental_book_L2_2023-11-14_TEST.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return importFile(t, path, 0), []byte(b.String())
}

func readInput(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// snapCSV runs Write in CSV and returns the data lines (the header is
// checked against Columns).
func snapCSV(t testing.TB, dir string, o Options) []string {
	t.Helper()
	o.Format = CSV
	var buf bytes.Buffer
	n, err := Write(context.Background(), dir, o, &buf)
	if err != nil {
		t.Fatalf("Write(%+v): %v", o, err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if lines[0] != strings.Join(Columns(o.Depth), ",") {
		t.Fatalf("header %q", lines[0])
	}
	lines = lines[1:]
	if int64(len(lines)) != n {
		t.Fatalf("Write reported %d rows, wrote %d", n, len(lines))
	}
	return lines
}

func diffLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("%s: %d rows, want %d; first difference at row %d:\n got  %q\n want %q", what, len(got), len(want), i, g, w)
		}
	}
}

// us returns the base + offset µs as a CSV timestamp field.
func us(off uint64) string { return strconv.FormatUint(base+off, 10) }

// ns returns base + offset µs in ns, for Options.From/To.
func ns(off uint64) uint64 { return (base + off) * 1000 }

func TestHeaderMatchesTardis(t *testing.T) {
	for _, c := range []struct {
		path  string
		depth int
	}{
		{tardisSnap5, 5},
		{"../../shared/data/tardis/binance-futures_book_snapshot_25_2020-09-01_BTCUSDT.nautilus10.csv", 25},
	} {
		f, err := os.Open(c.path)
		if errors.Is(err, os.ErrNotExist) && strings.Contains(c.path, "shared") {
			t.Logf("skipping %s: absent (it ships beside the repo in CI)", c.path)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		first, err := bufio.NewReader(f).ReadString('\n')
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(Columns(c.depth), ","), strings.TrimSuffix(first, "\n"); got != want {
			t.Errorf("depth %d header\n got  %s\n want %s", c.depth, got, want)
		}
	}
}

// The real 2050-row Tardis sample: first rows checked by hand, everything
// against the oracle.
func TestRealSample(t *testing.T) {
	dir := importFile(t, sample2050, 0)
	input := readInput(t, sample2050)
	got := snapCSV(t, dir, Options{Depth: 5})
	want := []string{
		"binance,BTCUSDT,1575158405045139,1575158405045139,7541.38,0.085806,7539.41,0.226735,7541.39,0.013013,7539.21,1.804031,7541.4,4,7539.18,0.332322,7541.44,5.045272,7539,0.013245,7541.45,3.995438,7538.48,0.03",
		"binance,BTCUSDT,1575158405298000,1575158405415810,7541.36,0.045141,7539.41,0.226735,7541.38,0.085806,7539.21,1.804031,7541.39,0.013013,7539.18,0.332322,7541.4,4,7539,0.013245,7541.44,5.045272,7538.48,0.03",
	}
	diffLines(t, "first rows", got[:2], want)
	for _, depth := range []int{1, 5, 25} {
		diffLines(t, "depth "+strconv.Itoa(depth), snapCSV(t, dir, Options{Depth: depth}), oracleChanges(t, input, depth))
	}
	for _, iv := range []time.Duration{time.Millisecond, 100 * time.Millisecond, time.Second} {
		diffLines(t, "interval "+iv.String(), snapCSV(t, dir, Options{Depth: 5, Interval: iv}), oracleInterval(t, input, 5, uint64(iv/time.Microsecond)))
	}
}

// A larger generated day with re-snapshots (3 snapshot messages, 7485
// messages in all).
func TestAgainstOracle(t *testing.T) {
	dir := importFile(t, sample2024, 0)
	input := readInput(t, sample2024)
	for _, depth := range []int{1, 10} {
		diffLines(t, "depth "+strconv.Itoa(depth), snapCSV(t, dir, Options{Depth: depth}), oracleChanges(t, input, depth))
	}
	diffLines(t, "interval 250ms", snapCSV(t, dir, Options{Depth: 3, Interval: 250 * time.Millisecond}),
		oracleInterval(t, input, 3, 250_000))
}

func TestRowOnlyOnTopNChange(t *testing.T) {
	dir, _ := importText(t,
		"5 diff bid 99 1", // before any snapshot: ignored
		"10 snapshot bid 100 1",
		"10 snapshot bid 99 2",
		"10 snapshot bid 98 3",
		"10 snapshot ask 101 1",
		"10 snapshot ask 102 2",
		"10 snapshot ask 103 3",
		"20 diff bid 98 5",    // level 2: beyond depth 2, no row
		"30 diff ask 101 2",   // top amount changes: row
		"40 diff ask 101 2",   // same amount again: no row
		"50 diff ask 101.5 7", // a new level 1 (pushes 102 out of view): row
		"60 diff ask 103 0",   // removes level 3: no row
		"70 diff bid 100 0",   // removes the best bid: 98 comes into view: row
		"80 diff bid 100 1",   // and back within one message, together with
		"80 diff bid 100 0",   // its removal: nothing changed, no row
	)
	want := []string{
		"binance,TEST," + us(10) + "," + us(10) + ",101,1,100,1,102,2,99,2",
		"binance,TEST," + us(30) + "," + us(30) + ",101,2,100,1,102,2,99,2",
		"binance,TEST," + us(50) + "," + us(50) + ",101,2,100,1,101.5,7,99,2",
		"binance,TEST," + us(70) + "," + us(70) + ",101,2,99,2,101.5,7,98,5",
	}
	diffLines(t, "changes", snapCSV(t, dir, Options{Depth: 2}), want)
}

func TestMissingLevelsAreEmpty(t *testing.T) {
	dir, _ := importText(t,
		"10 snapshot bid 100 1",
		"10 snapshot ask 101 1",
		"10 snapshot ask 102 2",
		"20 diff bid 100 0", // no bids at all
	)
	want := []string{
		"binance,TEST," + us(10) + "," + us(10) + ",101,1,100,1,102,2,,,,,,",
		"binance,TEST," + us(20) + "," + us(20) + ",101,1,,,102,2,,,,,,",
	}
	diffLines(t, "missing", snapCSV(t, dir, Options{Depth: 3}), want)
}

// A message the importer splits into several events (snapshot rows then
// diff rows at one local_timestamp) gives one row, after its last event.
func TestMultiEventMessage(t *testing.T) {
	dir, _ := importText(t,
		"10 snapshot bid 100 1",
		"10 snapshot ask 101 1",
		"10/12 diff ask 101 3", // same message, later exchange time
		"20 snapshot bid 90 1", // a re-snapshot, split the same way
		"20 snapshot ask 95 1",
		"20 diff ask 95 0",
		"20 diff ask 96 4",
	)
	want := []string{
		"binance,TEST," + us(12) + "," + us(10) + ",101,3,100,1",
		"binance,TEST," + us(20) + "," + us(20) + ",96,4,90,1",
	}
	diffLines(t, "split messages", snapCSV(t, dir, Options{Depth: 1}), want)
}

// A diff with more decimals raises the book's scale mid-stream: values are
// compared and printed exactly, and the rescale alone is not a change.
func TestScaleChange(t *testing.T) {
	dir, _ := importText(t,
		"10 snapshot bid 100.5 1",
		"10 snapshot bid 100 2",
		"10 snapshot ask 101 1",
		"20 diff bid 99.125 0.001", // beyond depth 1; raises both scales
		"30 diff ask 100.75 0.5",
		"40 diff ask 100.75 0.500", // same value, more digits in the text
	)
	want := []string{
		"binance,TEST," + us(10) + "," + us(10) + ",101,1,100.5,1",
		"binance,TEST," + us(30) + "," + us(30) + ",100.75,0.5,100.5,1",
	}
	diffLines(t, "scale change", snapCSV(t, dir, Options{Depth: 1}), want)
	// Intervals over the same stream: the book at every 10 µs boundary.
	wantIv := []string{
		"binance,TEST," + us(20) + "," + us(20) + ",101,1,100.5,1,,,100,2",
		"binance,TEST," + us(30) + "," + us(30) + ",101,1,100.5,1,,,100,2",
		"binance,TEST," + us(40) + "," + us(40) + ",100.75,0.5,100.5,1,101,1,100,2",
		"binance,TEST," + us(50) + "," + us(50) + ",100.75,0.5,100.5,1,101,1,100,2",
	}
	diffLines(t, "scale change, interval", snapCSV(t, dir, Options{Depth: 2, Interval: 10 * time.Microsecond}), wantIv)
}

func TestIntervalBoundaries(t *testing.T) {
	dir, _ := importText(t,
		"500 diff bid 1 1", // before the snapshot: ignored, no rows
		"1500 snapshot bid 100 1",
		"1500 snapshot ask 101 1",
		"2000 diff ask 101 2", // exactly at a boundary: counts for the next one
		"2999 diff ask 101 3",
		"6100 diff ask 101 4", // after a gap: rows repeat the book
	)
	row := func(b uint64, ask string) string {
		return "binance,TEST," + us(b) + "," + us(b) + ",101," + ask + ",100,1"
	}
	ms := time.Millisecond
	diffLines(t, "1ms", snapCSV(t, dir, Options{Depth: 1, Interval: ms}), []string{
		row(2000, "1"), row(3000, "3"), row(4000, "3"), row(5000, "3"), row(6000, "3"), row(7000, "4"),
	})
	// (From, To]: the first boundary after From, To itself included.
	diffLines(t, "from/to", snapCSV(t, dir, Options{Depth: 1, Interval: ms, From: ns(2000), To: ns(5000)}), []string{
		row(3000, "3"), row(4000, "3"), row(5000, "3"),
	})
	// An unaligned From and a To beyond the end: up to the first boundary
	// after the last event.
	diffLines(t, "unaligned", snapCSV(t, dir, Options{Depth: 1, Interval: ms, From: ns(4500), To: ns(1e9)}), []string{
		row(5000, "3"), row(6000, "3"), row(7000, "4"),
	})
	// A range with no event inside still shows the book.
	diffLines(t, "quiet range", snapCSV(t, dir, Options{Depth: 1, Interval: ms, From: ns(3100), To: ns(4000)}), []string{
		row(4000, "3"),
	})
	// A From long before the stream costs nothing: boundaries without a
	// book are skipped arithmetically, not one by one.
	start := time.Now()
	diffLines(t, "early from", snapCSV(t, dir, Options{Depth: 1, Interval: time.Microsecond, From: 1, To: ns(1502)}), []string{
		row(1501, "1"), row(1502, "1"),
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("early From took %v", d)
	}
}

func TestFromToChanges(t *testing.T) {
	dir, _ := importText(t,
		"10 snapshot bid 100 1",
		"10 snapshot ask 101 1",
		"20 diff ask 101 2",
		"30 diff ask 101 3",
		"40 diff bid 100 3",
	)
	row := func(off uint64, ask, bid string) string {
		return "binance,TEST," + us(off) + "," + us(off) + ",101," + ask + ",100," + bid
	}
	diffLines(t, "[20,40)", snapCSV(t, dir, Options{Depth: 1, From: ns(20), To: ns(40)}), []string{
		row(20, "2", "1"), row(30, "3", "1"),
	})
	// From inside a run of unchanged messages writes no extra first row.
	diffLines(t, "[31,50)", snapCSV(t, dir, Options{Depth: 1, From: ns(31), To: ns(50)}), []string{
		row(40, "3", "3"),
	})
}

// The rows of a range are the rows of the whole stream in that range, with
// and without checkpoints, on both timelines, in both modes.
func TestRangeIsFilterOfWhole(t *testing.T) {
	dir := importFile(t, sample2024, 500) // a checkpoint every 500 events
	for _, exch := range []bool{false, true} {
		for _, iv := range []time.Duration{0, 10 * time.Millisecond} {
			whole := snapCSV(t, dir, Options{Depth: 3, Interval: iv, ExchangeTime: exch, NoCheckpoints: true})
			tsCol := 3
			if exch {
				tsCol = 2
			}
			// Bounds from the rows themselves, and one between rows.
			var times []uint64
			for _, l := range whole {
				v, _ := strconv.ParseUint(strings.Split(l, ",")[tsCol], 10, 64)
				times = append(times, v*1000)
			}
			n := len(times)
			if n < 100 {
				t.Fatalf("only %d rows", n)
			}
			for _, r := range [][2]uint64{
				{times[n/3], times[2*n/3]},
				{times[n/2] + 1, 0},
				{0, times[n/4] - 1},
				{times[n-1], times[n-1] + 1},
			} {
				var want []string
				for i, l := range whole {
					in := times[i] >= r[0] && (r[1] == 0 || times[i] < r[1])
					if iv > 0 {
						in = times[i] > r[0] && (r[1] == 0 || times[i] <= r[1])
					}
					if in {
						want = append(want, l)
					}
				}
				for _, nock := range []bool{false, true} {
					got := snapCSV(t, dir, Options{Depth: 3, Interval: iv, ExchangeTime: exch, From: r[0], To: r[1], NoCheckpoints: nock})
					diffLines(t, "range "+strconv.FormatUint(r[0], 10)+".."+strconv.FormatUint(r[1], 10), got, want)
				}
			}
		}
	}
}

// On exchange time, bounds and boundaries follow exchange timestamps, taken
// as their running maximum when they go backwards.
func TestExchangeTime(t *testing.T) {
	dir, _ := importText(t,
		"100/10 snapshot bid 100 1",
		"100/10 snapshot ask 101 1",
		"200/30 diff ask 101 2",
		"300/25 diff ask 101 3", // exchange time goes back: still after 30
		"400/41 diff ask 101 4",
	)
	row := func(exch, local uint64, ask string) string {
		return "binance,TEST," + us(exch) + "," + us(local) + ",101," + ask + ",100,1"
	}
	diffLines(t, "from exchange 20", snapCSV(t, dir, Options{Depth: 1, ExchangeTime: true, From: ns(20), To: ns(41)}), []string{
		row(30, 200, "2"), row(25, 300, "3"),
	})
	diffLines(t, "interval", snapCSV(t, dir, Options{Depth: 1, ExchangeTime: true, Interval: 10 * time.Microsecond}), []string{
		row(20, 20, "1"), row(30, 30, "1"), row(40, 40, "3"), row(50, 50, "4"),
	})
}

func TestOptionErrors(t *testing.T) {
	dir, _ := importText(t, "10 snapshot bid 100 1")
	for _, o := range []Options{
		{Depth: 0},
		{Depth: MaxDepth + 1},
		{Depth: 1, Interval: 1500 * time.Nanosecond},
		{Depth: 1, Interval: -time.Second},
		{Depth: 1, From: 10, To: 10},
		{Depth: 1, Format: "json"},
	} {
		if _, err := Write(context.Background(), dir, o, io.Discard); err == nil {
			t.Errorf("Write(%+v): no error", o)
		}
	}
	if _, err := Write(context.Background(), filepath.Join(dir, "nope"), Options{Depth: 1}, io.Discard); err == nil {
		t.Error("missing stream: no error")
	}
}

// The Scanner's memory does not grow with the stream and a row costs no
// allocation.
func TestNoAllocPerRow(t *testing.T) {
	dir := importFile(t, sample2024, 0)
	for _, iv := range []time.Duration{0, time.Millisecond} {
		s, err := Open(context.Background(), dir, Options{Depth: 10, Interval: iv})
		if err != nil {
			t.Fatal(err)
		}
		w := newCSVWriter(io.Discard, s.Exchange(), s.Symbol(), 10)
		rows := 0
		allocs := testing.AllocsPerRun(1, func() {
			for {
				r, err := s.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := w.write(r); err != nil {
					t.Fatal(err)
				}
				rows++
			}
		})
		s.Close()
		if rows < 1000 || allocs > float64(rows)/10 {
			t.Errorf("interval %v: %v allocations for %d rows", iv, allocs, rows)
		}
	}
}
