package stream

import (
	"compress/gzip"
	"encoding/csv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/timespec"
)

// The scenario of issue 10: 3 days × 2 symbols × (book, trades). Each day's
// data straddles 12:00 UTC (book from 11:59:59.8, trades from 11:59:55), so
// that a range from one noon to the next cuts two days. Both symbols come
// from one seed and so share their timestamps: ties across inputs are the
// rule, not the exception.
var (
	scenarioDays    = []string{"2024-05-01", "2024-05-02", "2024-05-03"}
	scenarioSymbols = []string{"BTCUSDT", "ETHUSDT"}
)

// scenarioInput is one input of the scenario, with its source files by day.
type scenarioInput struct {
	addr Address
	csvs []string
}

// buildScenario generates and imports the scenario under root; the inputs
// come sorted by address, as the CLI gives them.
func buildScenario(t *testing.T, root string) []scenarioInput {
	t.Helper()
	gen := buildTardisgen(t)
	rows := "20000"
	if testing.Short() {
		rows = "4000"
	}
	src := t.TempDir()
	var inputs []scenarioInput
	for _, sym := range scenarioSymbols {
		for _, typ := range []struct{ tardis, stream, start string }{
			{"incremental_book_L2", "book", "T11:59:59.8Z"},
			{"trades", "trades", "T11:59:55Z"},
		} {
			in := scenarioInput{addr: Address{Venue: "binance-futures", Symbol: sym, Type: typ.stream}}
			for _, day := range scenarioDays {
				start, err := timespec.Parse(day + typ.start)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(src, "binance-futures_"+typ.tardis+"_"+day+"_"+sym+".csv.gz")
				generateGz(t, path, gen, "-type", typ.tardis, "-rows", rows, "-symbol", sym,
					"-depth", "20", "-resnap-every", "500", "-start-us", strconv.FormatInt(start/1000, 10))
				o := importOpts(root, path)
				o.CheckpointEvery = 64    // so that a range start seeks
				o.SegmentSize = 256 << 10 // and days have several segments
				mustImport(t, o)
				in.csvs = append(in.csvs, path)
			}
			inputs = append(inputs, in)
		}
	}
	sort.Slice(inputs, func(i, j int) bool { return inputs[i].addr.String() < inputs[j].addr.String() })
	return inputs
}

// buildTardisgen builds ../shared/tools/tardisgen, or skips the test.
func buildTardisgen(t testing.TB) string {
	t.Helper()
	tools, _ := filepath.Abs("../../shared/tools")
	if _, err := os.Stat(filepath.Join(tools, "tardisgen")); err != nil {
		t.Skipf("skipping: %s is absent (it ships beside the repo in CI, not in a clone)", tools)
	}
	gen := filepath.Join(t.TempDir(), "tardisgen")
	build := exec.Command("go", "build", "-o", gen, "./tardisgen")
	build.Dir, build.Stderr = tools, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building tardisgen: %v", err)
	}
	return gen
}

func generateGz(t testing.TB, path, gen string, args ...string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	cmd := exec.Command(gen, args...)
	cmd.Stdout, cmd.Stderr = zw, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tardisgen %v: %v", args, err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// item is what the test compares of a merged record: its input, local
// timestamp (ns) and the source rows it holds.
type item struct {
	input int
	ts    uint64
	rows  int
}

// sourceItems reads an input's CSVs with encoding/csv, on their own: each
// trade row is an item; book rows form an event per run of consecutive
// rows with the same local_timestamp and is_snapshot (Tardis's rule).
func sourceItems(t *testing.T, input int, paths []string) []item {
	t.Helper()
	var out []item
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		cr := csv.NewReader(zr)
		header, err := cr.Read()
		if err != nil {
			t.Fatal(err)
		}
		col := func(name string) int {
			for i, h := range header {
				if h == name {
					return i
				}
			}
			return -1
		}
		tsCol, snapCol := col("local_timestamp"), col("is_snapshot")
		lastSnap := ""
		for {
			row, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			us, err := strconv.ParseUint(row[tsCol], 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			ts := us * 1000
			if snapCol >= 0 {
				if n := len(out); n > 0 && out[n-1].ts == ts && row[snapCol] == lastSnap {
					out[n-1].rows++
					continue
				}
				lastSnap = row[snapCol]
			}
			out = append(out, item{input: input, ts: ts, rows: 1})
		}
		f.Close()
	}
	return out
}

// referenceMerge merges the inputs' items by local timestamp, then input
// index, then source order (a stable sort), keeping those in r.
func referenceMerge(per [][]item, r timespec.Range) []item {
	var all []item
	for _, items := range per {
		for _, it := range items {
			if r.Contains(int64(it.ts)) {
				all = append(all, it)
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].ts != all[j].ts {
			return all[i].ts < all[j].ts
		}
		return all[i].input < all[j].input
	})
	return all
}

// readMerged reads a merged replay to its end as items.
func readMerged(t *testing.T, m *Merged) []item {
	t.Helper()
	var out []item
	for {
		// Next and NextItem in turn: the Item NextItem reuses must not
		// keep anything of the record before.
		var it *Item
		var err error
		if len(out)%2 == 0 {
			var v Item
			v, err = m.Next()
			it = &v
		} else {
			it, err = m.NextItem()
		}
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.Address != m.inputs[it.Input].Address {
			t.Fatalf("item %d of input %d: address %v, want %v", len(out), it.Input, it.Address, m.inputs[it.Input].Address)
		}
		rows := 1
		if it.Event != nil {
			rows = len(it.Event.Bids) + len(it.Event.Asks)
			if it.Record != nil || it.Event.IngestTS != it.LocalTS {
				t.Fatalf("item %d: event ts %d, item ts %d, record %v", len(out), it.Event.IngestTS, it.LocalTS, it.Record)
			}
		} else if it.Record == nil || it.Record.LocalTS != it.LocalTS {
			t.Fatalf("item %d: no record, or its ts differs from %d", len(out), it.LocalTS)
		}
		out = append(out, item{input: it.Input, ts: it.LocalTS, rows: rows})
	}
}

func mustRange(t *testing.T, from, to string) timespec.Range {
	t.Helper()
	r, err := timespec.ParseRange(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sameItems compares a replay with its reference, naming the first
// difference.
func sameItems(t *testing.T, got, want []item) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("item %d is %+v, the reference has %+v (of %d, %d)", i, got[i], want[i], len(got), len(want))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d items, the reference has %d", len(got), len(want))
	}
	for i := 1; i < len(got); i++ {
		if got[i].ts < got[i-1].ts {
			t.Fatalf("item %d at %d is before item %d at %d", i, got[i].ts, i-1, got[i-1].ts)
		}
	}
}

// TestMergedScenario is issue 10's scenario: the merged replay of every
// input, over any range, yields exactly the source records in the window,
// each once, in the reference's order.
func TestMergedScenario(t *testing.T) {
	root := t.TempDir()
	inputs := buildScenario(t, root)
	per := make([][]item, len(inputs))
	totalRows := 0
	for i, in := range inputs {
		per[i] = sourceItems(t, i, in.csvs)
		for _, it := range per[i] {
			totalRows += it.rows
		}
	}

	for _, c := range []struct {
		name, from, to string
		empty          bool // the window holds no record
	}{
		{name: "everything"},
		{name: "noon to noon", from: "2024-05-01T12:00", to: "2024-05-02T12:00"},
		{name: "inside one day", from: "2024-05-02T12:00:00.1", to: "2024-05-02T12:00:00.3"},
		{name: "from only", from: "2024-05-03T12:00:00.25"},
		{name: "to only", from: "", to: "2024-05-01T11:59:59.9"},
		{name: "empty range", from: "2024-05-02T12:00", to: "2024-05-02T12:00", empty: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mustRange(t, c.from, c.to)
			var ins []Input
			for _, in := range slices.Backward(inputs) {
				ins = append(ins, Input{Address: in.addr, Range: r})
			}
			SortInputs(ins) // the order the reference merges in
			for i := range ins {
				if ins[i].Address != inputs[i].addr {
					t.Fatalf("SortInputs: input %d is %s, want %s", i, ins[i].Address, inputs[i].addr)
				}
			}
			m, err := OpenMerged(nil, root, ins)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got := readMerged(t, m)
			want := referenceMerge(per, r)
			sameItems(t, got, want)
			if (len(want) == 0) != c.empty {
				t.Fatalf("the reference has %d items in the window", len(want))
			}
			rows := 0
			for _, it := range got {
				rows += it.rows
			}
			t.Logf("%d items, %d of %d source rows", len(got), rows, totalRows)
		})
	}

	// Each input alone through the range readers: exactly its source rows
	// in the window, noon to noon across two days.
	t.Run("range readers", func(t *testing.T) {
		r := mustRange(t, "2024-05-01T12:00", "2024-05-02T12:00")
		for i, in := range inputs {
			dirs, err := Resolve(nil, root, in.addr.String(), r)
			if err != nil {
				t.Fatal(err)
			}
			if len(dirs) != 2 || !strings.Contains(dirs[0], "2024-05-01") || !strings.Contains(dirs[1], "2024-05-02") {
				t.Fatalf("%s: Resolve gives %v, want the days 05-01 and 05-02", in.addr, dirs)
			}
			var got []item
			if in.addr.Type == "book" {
				evs, err := OpenEventsRange(nil, dirs, r)
				if err != nil {
					t.Fatal(err)
				}
				for {
					ev, err := evs.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, item{i, ev.IngestTS, len(ev.Bids) + len(ev.Asks)})
				}
				evs.Close()
			} else {
				rs, err := OpenRecordsRange(nil, dirs, r)
				if err != nil {
					t.Fatal(err)
				}
				for {
					rec, err := rs.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, item{i, rec.LocalTS, 1})
				}
				rs.Close()
			}
			sameItems(t, got, referenceMerge(per[i:i+1], r))
		}
	})

	t.Run("warning", func(t *testing.T) {
		for _, c := range []struct{ from, to string }{
			{"2024-05-01T13:00", "2024-05-01T14:00"}, // after the day's data
			{"2024-05-01", "2024-05-01T11:00"},       // before it
		} {
			r := mustRange(t, c.from, c.to)
			dirs, err := Resolve(nil, root, "binance-futures/BTCUSDT/book", r)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := OpenEventsRange(nil, dirs, r)
			if err != nil {
				t.Fatal(err)
			}
			if w := evs.Warning(); !strings.Contains(w, "no data in [") || !strings.Contains(w, "holds data from 2024-05-01T11:59:59.8Z") {
				t.Fatalf("[%s, %s): warning %q", c.from, c.to, w)
			}
			if _, err := evs.Next(); err != io.EOF {
				t.Fatalf("[%s, %s): Next: %v, want io.EOF", c.from, c.to, err)
			}
			evs.Close()
		}
		evs, err := OpenEventsRange(nil, []string{filepath.Join(root, "v1/binance-futures/BTCUSDT/2024-05-01/book")}, mustRange(t, "2024-05-01T12:00", ""))
		if err != nil {
			t.Fatal(err)
		}
		defer evs.Close()
		if w := evs.Warning(); w != "" {
			t.Fatalf("warning %q for a range with data", w)
		}
	})

	t.Run("one type per input", func(t *testing.T) {
		day := filepath.Join(root, "v1/binance-futures/BTCUSDT/2024-05-01")
		_, err := OpenRecordsRange(nil, []string{filepath.Join(day, "trades"), filepath.Join(day, "book")}, timespec.Range{})
		if err == nil || !strings.Contains(err.Error(), "use OpenEventsRange") {
			t.Fatalf("trades then book: %v", err)
		}
		_, err = OpenEventsRange(nil, []string{filepath.Join(day, "trades")}, timespec.Range{})
		if err == nil || !strings.Contains(err.Error(), "not an incremental_book_L2 stream") {
			t.Fatalf("trades as book: %v", err)
		}
	})

	t.Run("no allocation per record", func(t *testing.T) {
		// One day only, so that no day is opened while counting.
		r := mustRange(t, "2024-05-02T00:00", "2024-05-02T12:00:01")
		ins := make([]Input, len(inputs))
		for i, in := range inputs {
			ins[i] = Input{Address: in.addr, Range: r}
		}
		// The window's size decides the counts: -short data holds fewer
		// records than the full run's, and reading past the end is EOF.
		// next reads two; AllocsPerRun runs its function once more than
		// asked, to warm up.
		n := len(referenceMerge(per, r))
		const runs = 20
		warm := min(1000, n/8)
		batch := min(100, (n/2-warm)/(runs+1))
		if batch < 10 {
			t.Fatalf("the window holds %d records, too few to count allocations", n)
		}
		m, err := OpenMerged(nil, root, ins)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		next := func() {
			if _, err := m.Next(); err != nil {
				t.Fatal(err)
			}
			if _, err := m.NextItem(); err != nil {
				t.Fatal(err)
			}
		}
		for range warm {
			next() // buffers grow to size
		}
		if a := testing.AllocsPerRun(runs, func() {
			for range batch {
				next()
			}
		}); a != 0 {
			t.Fatalf("%v allocations per %d records", a, 2*batch)
		}
		t.Logf("%d records of %d read, none allocating after the first %d", 2*(warm+(runs+1)*batch), n, 2*warm)
	})

	t.Run("resolve", func(t *testing.T) { testResolve(t, root) })

	// Last, as it damages the archive: an input given as a stream
	// directory, and an error that names its input and file.
	t.Run("damage", func(t *testing.T) {
		dir := filepath.Join(root, "v1/binance-futures/ETHUSDT/2024-05-03/trades")
		dirs, err := Resolve(nil, root, dir, timespec.Range{})
		if err != nil {
			t.Fatal(err)
		}
		seg := filepath.Join(dir, "000000000.q")
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		b[64+64+20] ^= 1 // in the first record's payload
		if err := os.WriteFile(seg, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := OpenMerged(nil, root, []Input{
			{Address: Address{"binance-futures", "BTCUSDT", "book"}},
			{Address: Address{"label", "of", "dir"}, Dirs: dirs},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for {
			_, err := m.Next()
			if err == nil {
				continue
			}
			if !strings.Contains(err.Error(), "label/of/dir: ") || !strings.Contains(err.Error(), seg) {
				t.Fatalf("error %q, want it to name the input and %s", err, seg)
			}
			t.Log(err)
			if _, again := m.Next(); again != err {
				t.Fatalf("error %v, then %v: want it final", err, again)
			}
			break
		}
	})
}

// testResolve checks Resolve on the scenario archive: what resolves, and
// the error for each wrong question.
func testResolve(t *testing.T, root string) {
	v1 := filepath.Join(root, "v1")
	dayDir := filepath.Join(v1, "binance-futures/BTCUSDT/2024-05-02")
	empty := t.TempDir()
	for _, c := range []struct {
		arg, from, to string
		want          []string // day dates, in order
		err           []string // substrings of the error
	}{
		{arg: "binance-futures/BTCUSDT/trades", want: scenarioDays},
		{arg: "binance-futures/btcusdt/book", from: "2024-05-02T12:00:01", want: []string{"2024-05-02", "2024-05-03"}},
		{arg: "binance-futures/ETHUSDT/book", to: "2024-05-02", want: []string{"2024-05-01"}},
		{arg: filepath.Join(dayDir, "book"), want: []string{"2024-05-02"}},
		{arg: root, err: []string{root + " is an archive root, not a stream", "VENUE/SYMBOL/TYPE with --archive-root"}},
		{arg: v1, err: []string{"the v1 directory of an archive (it holds venues binance-futures)"}},
		{arg: filepath.Dir(filepath.Dir(dayDir)), err: []string{"a venue directory (it holds symbols BTCUSDT, ETHUSDT)"}},
		{arg: filepath.Dir(dayDir), err: []string{"a symbol directory (it holds dates 2024-05-01, 2024-05-02, 2024-05-03)"}},
		{arg: dayDir, err: []string{dayDir + " is a date (partition) directory (it holds streams book, trades), not a stream; a stream is <root>/v1/VENUE/SYMBOL/DATE/STREAM"}},
		{arg: empty, err: []string{empty + " is an empty directory, not a stream"}},
		{arg: filepath.Join(dayDir, "book", "meta.json"), err: []string{"is a file, not a stream"}},
		{arg: filepath.Join(root, "nowhere"), err: []string{"nowhere: no such directory"}},
		{arg: "kraken/BTCUSDT/book", err: []string{"has no venue kraken (it has binance-futures)"}},
		{arg: "binance-futures/SOLUSDT/book", err: []string{"has no symbol SOLUSDT on binance-futures (it has BTCUSDT, ETHUSDT)"}},
		{arg: "binance-futures/BTCUSDT/quotes", err: []string{"binance-futures/BTCUSDT has no stream quotes (it has book (2024-05-01..2024-05-03, 3 days), trades (2024-05-01..2024-05-03, 3 days))"}},
		{arg: "binance-futures/BTCUSDT/trades", from: "2024-06-01", err: []string{"binance-futures/BTCUSDT/trades has no day in [2024-06-01T00:00:00Z, +inf): it has 2024-05-01..2024-05-03, 3 days"}},
		{arg: "binance-futures/BTCUSDT", err: []string{`"binance-futures/BTCUSDT" is not VENUE/SYMBOL/TYPE`}},
	} {
		got, err := Resolve(nil, root, c.arg, mustRange(t, c.from, c.to))
		if c.err != nil {
			if err == nil {
				t.Errorf("%s: no error, want %q (got %v)", c.arg, c.err, got)
				continue
			}
			for _, s := range c.err {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%s: error %q, want it to contain %q", c.arg, err, s)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.arg, err)
			continue
		}
		var dates []string
		for _, d := range got {
			dates = append(dates, filepath.Base(filepath.Dir(d)))
		}
		if strings.Join(dates, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s [%s, %s): days %v, want %v", c.arg, c.from, c.to, dates, c.want)
		}
	}
	if _, err := Resolve(nil, "", "binance-futures/BTCUSDT/book", timespec.Range{}); err == nil || !strings.Contains(err.Error(), "needs the archive root") {
		t.Errorf("no root: %v", err)
	}
}

func TestParseAddress(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Address
		err  bool
	}{
		{in: "binance-futures/BTCUSDT/trades", want: Address{"binance-futures", "BTCUSDT", "trades"}},
		{in: "coinbase/BTC/USD/book", want: Address{"coinbase", "BTC-USD", "book"}}, // the exact symbol
		{in: "coinbase/btc-usd/book", want: Address{"coinbase", "BTC-USD", "book"}},
		{in: "deribit/BTC-PERPETUAL/book_snapshot_25", want: Address{"deribit", "BTC-PERPETUAL", "book_snapshot_25"}},
		{in: "binance/BTCUSDT", err: true},
		{in: "binance//trades", err: true},
		{in: "/BTCUSDT/trades", err: true},
		{in: "binance/BTCUSDT/", err: true},
		{in: "binance/BTCUSDT/..", err: true},
	} {
		got, err := ParseAddress(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseAddress(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
		if err == nil && c.in != "coinbase/BTC/USD/book" && c.in != "coinbase/btc-usd/book" && got.String() != c.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), c.in)
		}
	}
}

// TestResolvePastMidnight: a day's data that runs past midnight is found
// by a range that starts on the next date, and read from there.
func TestResolvePastMidnight(t *testing.T) {
	gen := buildTardisgen(t)
	root := t.TempDir()
	path := filepath.Join(t.TempDir(), "binance-futures_trades_2024-05-01_BTCUSDT.csv.gz")
	start, _ := timespec.Parse("2024-05-01T23:59:59Z")
	generateGz(t, path, gen, "-type", "trades", "-rows", "2000", "-start-us", strconv.FormatInt(start/1000, 10))
	mustImport(t, importOpts(root, path))
	src := sourceItems(t, 0, []string{path})

	for _, c := range []struct {
		from string
		days int
	}{
		{"2024-05-02T00:00:01", 1}, // inside the day's data, on the next date
		{"2024-05-03", 0},          // after it
	} {
		r := mustRange(t, c.from, "")
		dirs, err := Resolve(nil, root, "binance-futures/BTCUSDT/trades", r)
		if c.days == 0 {
			if err == nil || !strings.Contains(err.Error(), "has no day in [2024-05-03T00:00:00Z, +inf): it has 2024-05-01") {
				t.Fatalf("from %s: %v, %v", c.from, dirs, err)
			}
			continue
		}
		if err != nil || len(dirs) != c.days {
			t.Fatalf("from %s: %v, %v", c.from, dirs, err)
		}
		rs, err := OpenRecordsRange(nil, dirs, r)
		if err != nil {
			t.Fatal(err)
		}
		var got []item
		for {
			rec, err := rs.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, item{0, rec.LocalTS, 1})
		}
		rs.Close()
		want := referenceMerge([][]item{src}, r)
		if len(want) == 0 || len(want) == len(src) {
			t.Fatalf("the window holds %d of %d rows: not a test of the spill", len(want), len(src))
		}
		sameItems(t, got, want)
	}
}
