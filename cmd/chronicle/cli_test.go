package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// The command line of issue 10: cobra's conventions, addressing by
// VENUE/SYMBOL/TYPE across days, --from/--to/--limit, wrong questions.

const (
	tradesSample = "../../tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv"
	dayUS        = int64(86_400_000_000)
)

// runIn runs the command line with $CHRONICLE_ARCHIVE set to root.
func runIn(root string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "CHRONICLE_ARCHIVE" {
			return root
		}
		return ""
	}}
	code = run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

// threeDays imports the trades and book samples as 2019-12-01..03 (each
// day's rows shifted by whole days) and returns the archive root and the
// source files, trades first, by day.
func threeDays(t *testing.T) (root string, trades, books []string) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "archive")
	src := t.TempDir()
	for d := range 3 {
		date := "2019-12-0" + strconv.Itoa(d+1)
		for _, f := range []struct {
			from, name string
			to         *[]string
		}{
			{tradesSample, "binance_trades_" + date + "_BTCUSDT.csv", &trades},
			{rpSample, "binance_incremental_book_L2_" + date + "_BTCUSDT.csv", &books},
		} {
			b, err := os.ReadFile(f.from)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(src, f.name)
			if err := os.WriteFile(p, []byte(shiftTS(string(b), int64(d)*dayUS)), 0o644); err != nil {
				t.Fatal(err)
			}
			if code, _, stderr := runIn(root, "import", p); code != 0 {
				t.Fatalf("import %s: exit %d: %s", p, code, stderr)
			}
			*f.to = append(*f.to, p)
		}
	}
	return root, trades, books
}

func TestCLIConventions(t *testing.T) {
	names := []string{"book", "compress", "decompress", "dump", "export", "import", "index", "ls", "replay", "snapshots", "verify", "bars", "quotes", "completion"}
	for _, name := range names {
		code, out, stderr := rpRun("help", name)
		if code != 0 {
			t.Errorf("help %s: exit %d: %s", name, code, stderr)
			continue
		}
		for _, want := range []string{"Usage: chronicle " + name, "Examples:", "EXIT STATUS", "--archive-root", "--help"} {
			if !strings.Contains(out, want) {
				t.Errorf("help %s lacks %q:\n%s", name, want, out)
			}
		}
		if name == "completion" {
			continue
		}
		if code, out2, _ := rpRun(name, "--help"); code != 0 || out2 != out {
			t.Errorf("%s --help: exit %d, differs from help %s", name, code, name)
		}
	}
	for _, c := range []struct {
		args []string
		code int
		out  string // in stdout, or for a failure in stderr
	}{
		{[]string{"help"}, 0, "\treplay "}, // internal/reliability looks for this
		{[]string{"--help"}, 0, "Commands:"},
		{[]string{}, 2, "Commands:"},
		{[]string{"help", "unknown"}, 2, `unknown help topic "unknown"`},
		{[]string{"unknown"}, 2, `unknown command "unknown"`},
		{[]string{"ls", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"ls", "-json"}, 2, "chronicle ls"}, // one dash is shorthand, not Go's flag package
		{[]string{"--version"}, 0, "chronicle "},
		{[]string{"completion", "bash"}, 0, "bash completion"},
		{[]string{"completion", "zsh"}, 0, "zsh completion"},
	} {
		code, out, stderr := rpRun(c.args...)
		got := out
		if c.code != 0 {
			got = stderr + out
		}
		if code != c.code || !strings.Contains(got, c.out) {
			t.Errorf("%q: exit %d, want %d with %q:\n%s%s", c.args, code, c.code, c.out, out, stderr)
		}
	}
}

// TestRepeatedFlags: a scalar flag given twice is a usage error on every
// command, never last-wins; --input is repeatable.
func TestRepeatedFlags(t *testing.T) {
	for _, args := range [][]string{
		{"book", "x", "--at", "2024-05-01", "--at", "2024-05-02"},
		{"book", "x", "--depth", "1", "--depth=2"},
		{"book", "x", "--json", "--json"},
		{"dump", "x", "--limit", "1", "--limit", "2"},
		{"dump", "x", "--from", "2024-05-01", "--from", "2024-05-02"},
		{"export", "x", "--format", "parquet", "--format", "tardis-csv"},
		{"export", "x", "-o", "a", "--output", "b"},
		{"replay", "x", "--to", "2024-05-01", "--to", "2024-05-02"},
		{"snapshots", "x", "--depth", "5", "--depth", "6"},
		{"import", "x", "--type", "trades", "--type", "quotes"},
		{"import", "x", "--jobs", "1", "--jobs", "2"},
		{"ls", "--json", "--json"},
		{"verify", "--archive-root", "a", "--archive-root", "b"},
		{"--archive-root", "a", "ls", "--archive-root", "b"},
		{"index", "x", "--every", "1", "--every", "2"},
		{"compress", "x", "--codec", "zstd", "--codec", "columnar"},
		{"bars", "x", "--interval", "1s", "--interval", "2s"},
		{"quotes", "x", "--format", "csv", "--format", "parquet"},
	} {
		code, _, stderr := rpRun(args...)
		if code != exitUsage || !strings.Contains(stderr, "given twice") {
			t.Errorf("%q: exit %d, want %d naming the flag given twice: %s", args, code, exitUsage, stderr)
		}
	}
	// --input twice is two inputs: the import runs (and fails on them).
	code, _, stderr := rpRun("import", "--archive-root", t.TempDir(), "--input", "missing1.csv", "--input", "missing2.csv")
	if code != exitError || strings.Contains(stderr, "given twice") {
		t.Errorf("--input twice: exit %d: %s", code, stderr)
	}
}

// TestWrongQuestions: a path that is not a stream is an error naming what
// it is and what a stream is, for every reading command; nothing on stdout.
func TestWrongQuestions(t *testing.T) {
	dir := rpImport(t, rpSample)
	partition := filepath.Dir(dir)
	root := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(partition))))
	empty := t.TempDir()
	file := filepath.Join(dir, "meta.json")
	cases := []struct {
		name, arg, want string
	}{
		{"partition", partition, "date (partition) directory"},
		{"symbol", filepath.Dir(partition), "symbol directory"},
		{"v1", filepath.Join(root, "v1"), "v1 directory"},
		{"root", root, "an archive root"},
		{"empty", empty, "an empty directory"},
		{"file", file, "is a file"},
		{"missing", filepath.Join(root, "nope"), "no such directory"},
		{"address", "binance/BTCUSDT/trades", "has no stream trades (it has book"},
		{"venue", "kraken/BTCUSDT/book", "has no venue kraken"},
		{"not an address", "BTCUSDT", "not VENUE/SYMBOL/TYPE"},
	}
	commands := [][]string{
		{"dump"}, {"export"}, {"export", "--format", "parquet"}, {"replay"},
		{"snapshots", "--depth", "5"}, {"book"}, {"book", "--at", "2019-12-01T00:00:05Z"},
		{"bars", "--count", "10"}, {"quotes"}, {"index"}, {"compress"},
	}
	for _, c := range cases {
		for _, cmd := range commands {
			args := append(append([]string{cmd[0], c.arg}, cmd[1:]...), "--archive-root", root)
			code, out, stderr := rpRun(args...)
			if (code != exitError && code != exitUsage) || !strings.Contains(stderr, c.want) || out != "" {
				t.Errorf("%s %s: exit %d, stdout %d bytes, stderr %q; want exit 1 or 2 and %q", cmd[0], c.name, code, len(out), stderr, c.want)
			}
			if c.name != "not an address" && c.name != "venue" && c.name != "address" && !strings.Contains(stderr, "a stream is") {
				t.Errorf("%s %s: stderr %q does not say what a stream is", cmd[0], c.name, stderr)
			}
		}
	}
	// verify walks directories, so the root and a partition are fine; an
	// empty directory, a file and a stream that does not exist are not.
	for _, c := range []struct {
		arg, want string
		code      int
	}{
		{root, "verified 1 streams", 0},
		{partition, "verified 1 streams", 0},
		{"binance/BTCUSDT/book", "verified 1 streams", 0},
		{empty, "no streams under", 1},
		{file, "is a file", 1},
		{"binance/BTCUSDT/trades", "has no stream trades", 1},
	} {
		code, out, stderr := rpRun("verify", "--archive-root", root, c.arg)
		if code != c.code || !strings.Contains(out+stderr, c.want) {
			t.Errorf("verify %s: exit %d, want %d and %q:\n%s%s", c.arg, code, c.code, c.want, out, stderr)
		}
	}
}

// srcRows are the data lines of the CSV files whose local_timestamp (µs)
// is in [from, to), read with encoding/csv: the reference an export is
// compared with.
func srcRows(t *testing.T, files []string, from, to int64) []string {
	t.Helper()
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		for _, l := range lines[1:] {
			rec, err := csv.NewReader(strings.NewReader(l)).Read()
			if err != nil {
				t.Fatal(err)
			}
			ts, err := strconv.ParseInt(rec[3], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if ts >= from && ts < to {
				out = append(out, l)
			}
		}
	}
	return out
}

func TestAddressAcrossDays(t *testing.T) {
	root, trades, books := threeDays(t)
	const day1 = int64(1575158400000000) // 2019-12-01 in µs

	// ls prints names that paste into the other commands as printed.
	code, out, stderr := runIn(root, "ls")
	if code != 0 {
		t.Fatalf("ls: exit %d: %s", code, stderr)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		names = append(names, strings.Fields(l)[0])
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if !slices.Equal(names, []string{"binance/BTCUSDT/book", "binance/BTCUSDT/trades"}) {
		t.Fatalf("ls names %q:\n%s", names, out)
	}
	for _, n := range names {
		if code, _, stderr := runIn(root, "dump", n, "--limit", "1"); code != 0 {
			t.Errorf("dump %s (as ls prints it): exit %d: %s", n, code, stderr)
		}
	}
	code, out, _ = runIn(root, "ls", "--json")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct{ Address, Dir string }
		if json.Unmarshal([]byte(l), &m) != nil || m.Address == "" {
			t.Fatalf("ls --json: %q", l)
		}
		if code, _, stderr := runIn(root, "dump", m.Dir, "--limit", "1"); code != 0 {
			t.Errorf("dump %s (ls --json dir): exit %d: %s", m.Dir, code, stderr)
		}
	}

	// export --from/--to across a day boundary: exactly the source rows in
	// the window, in order.
	for _, c := range []struct {
		from, to string
		f, tt    int64 // µs
		limit    int
	}{
		{"2019-12-01T00:00:20Z", "2019-12-02T00:00:20Z", day1 + 20e6, day1 + dayUS + 20e6, 0},
		{"2019-12-01", "2019-12-04", day1, day1 + 3*dayUS, 0},
		{"1575158420000000", "1575244820000000000", day1 + 20e6, day1 + dayUS + 20e6, 0}, // µs and ns
		{"1575158420000000us", "2019-12-03T00:00:10Z", day1 + 20e6, day1 + 2*dayUS + 10e6, 7},
	} {
		args := []string{"export", "binance/BTCUSDT/trades", "--from", c.from, "--to", c.to}
		if c.limit > 0 {
			args = append(args, "--limit", strconv.Itoa(c.limit))
		}
		code, out, stderr := runIn(root, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		got := strings.Split(strings.TrimSpace(out), "\n")[1:]
		want := srcRows(t, trades, c.f, c.tt)
		if c.limit > 0 {
			want = want[:c.limit]
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%q: %d rows, want %d (the source rows in the window)", args, len(got), len(want))
		}
	}
	// The book stream too, both formats (bids come before asks within an
	// event, so the rows are compared as sets).
	code, out, stderr = runIn(root, "export", "binance/BTCUSDT/book", "--from", "2019-12-02", "--to", "2019-12-03")
	got, want := strings.Split(strings.TrimSpace(out), "\n")[1:], srcRows(t, books, day1+dayUS, day1+2*dayUS)
	slices.Sort(got)
	slices.Sort(want)
	if code != 0 || len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("export book day 2: exit %d, %d rows, want %d: %s", code, len(got), len(want), stderr)
	}
	pq := filepath.Join(t.TempDir(), "b.parquet")
	if code, _, stderr := runIn(root, "export", "binance/BTCUSDT/book", "--format", "parquet", "-o", pq); code != 0 {
		t.Errorf("export parquet over 3 days: exit %d: %s", code, stderr)
	}

	// dump --limit and a range outside the data: a warning, no rows.
	code, out, _ = runIn(root, "dump", "binance/BTCUSDT/trades", "--limit", "3")
	if n := strings.Count(out, "\n"); code != 0 || n != 3 {
		t.Errorf("dump --limit 3: exit %d, %d lines", code, n)
	}
	code, out, _ = runIn(root, "dump", "binance/BTCUSDT/trades")
	if n := strings.Count(out, "\n"); code != 0 || n != 300 {
		t.Errorf("dump over 3 days: exit %d, %d lines, want 300", code, n)
	}
	code, out, stderr = runIn(root, "dump", "binance/BTCUSDT/trades", "--from", "2019-12-01T01:00", "--to", "2019-12-01T02:00")
	if code != 0 || out != "" || !strings.Contains(stderr, "warning: no data in") {
		t.Errorf("dump outside the data: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, _, stderr = runIn(root, "dump", "binance/BTCUSDT/trades", "--from", "2020-01-01")
	if code != 1 || !strings.Contains(stderr, "has no day in") {
		t.Errorf("dump past every day: exit %d, stderr %q", code, stderr)
	}

	// book --at on day 2, by address, in µs or RFC 3339, equals the book of
	// day 2's directory (which starts with a snapshot).
	day2 := filepath.Join(root, "v1", "binance", "BTCUSDT", "2019-12-02", "book")
	wantBook := rpBookIn(t, root, day2, "--at", "2019-12-02T00:00:05.4Z")
	for _, at := range []string{"2019-12-02T00:00:05.4Z", "1575244805400000", "1575244805400000us", "1575244805400000000"} {
		if got := rpBookIn(t, root, "binance/BTCUSDT/book", "--at", at); !equalJSON(got, wantBook) {
			t.Errorf("book --at %s by address: %+v, want %+v", at, got, wantBook)
		}
	}
	if len(wantBook.Bids) == 0 {
		t.Fatal("empty book on day 2")
	}
	code, _, stderr = runIn(root, "book", "binance/BTCUSDT/book", "--at", "2019-11-30")
	if code != 0 || !strings.Contains(stderr, "before the stream's first event") {
		t.Errorf("book before the data: exit %d: %s", code, stderr)
	}
	code, _, stderr = runIn(root, "book", "binance/BTCUSDT/book", "--at", "2020-01-01")
	if code != 0 || !strings.Contains(stderr, "after the stream's last event") {
		t.Errorf("book after the data: exit %d: %s", code, stderr)
	}

	// replay over the days: one stream, seqs joined, no gaps.
	code, out, stderr = runIn(root, "replay", "binance/BTCUSDT/book", "--json")
	var rep map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep["events"] != 24.0 || rep["gaps"] != 0.0 || rep["resets"] != 3.0 {
		t.Errorf("replay 3 days: exit %d: %s%s", code, out, stderr)
	}
	code, out, stderr = runIn(root, "replay", "binance/BTCUSDT/book", "--json", "--from", "2019-12-02", "--to", "2019-12-03")
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep["events"] != 8.0 || rep["level_updates"] != 2050.0 {
		t.Errorf("replay day 2: exit %d: %s%s", code, out, stderr)
	}

	// snapshots over the days, CSV, equal to the three days' own.
	code, all, stderr := runIn(root, "snapshots", "binance/BTCUSDT/book", "--depth", "3")
	if code != 0 {
		t.Fatalf("snapshots: exit %d: %s", code, stderr)
	}
	var each []string
	for d := range 3 {
		dir := filepath.Join(root, "v1", "binance", "BTCUSDT", "2019-12-0"+strconv.Itoa(d+1), "book")
		_, o, _ := runIn(root, "snapshots", dir, "--depth", "3")
		ls := strings.Split(strings.TrimSpace(o), "\n")
		if d > 0 {
			ls = ls[1:]
		}
		each = append(each, ls...)
	}
	if got := strings.Split(strings.TrimSpace(all), "\n"); !slices.Equal(got, each) {
		t.Errorf("snapshots over 3 days: %d lines, want %d", len(got), len(each))
	}
	code, out, _ = runIn(root, "snapshots", "binance/BTCUSDT/book", "--depth", "3", "--limit", "4")
	if n := strings.Count(out, "\n"); code != 0 || n != 5 {
		t.Errorf("snapshots --limit 4: exit %d, %d lines, want header + 4", code, n)
	}
}

func rpBookIn(t *testing.T, root string, args ...string) bookJSON {
	t.Helper()
	code, out, stderr := runIn(root, append([]string{"book", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("book %q: exit %d: %s", args, code, stderr)
	}
	var b bookJSON
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("book %q: %v: %s", args, err, out)
	}
	return b
}

// TestReplayMerged: several streams replayed in one time order, a book per
// book stream, a report per stream.
func TestReplayMerged(t *testing.T) {
	root, _, _ := threeDays(t)
	code, out, stderr := runIn(root, "replay", "binance/BTCUSDT/trades", "binance/BTCUSDT/book", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one report per stream:\n%s", out)
	}
	var b, tr map[string]any
	json.Unmarshal([]byte(lines[0]), &b)
	json.Unmarshal([]byte(lines[1]), &tr)
	// Sorted by address: book before trades.
	if b["stream"] != "binance/BTCUSDT/book" || b["events"] != 24.0 || tr["stream"] != "binance/BTCUSDT/trades" || tr["records"] != 300.0 {
		t.Errorf("reports:\n%s", out)
	}
	code, out, _ = runIn(root, "replay", "binance/BTCUSDT/book", "binance/BTCUSDT/trades")
	if code != 0 || !strings.Contains(out, "binance/BTCUSDT/book\nevents ") || !strings.Contains(out, "binance/BTCUSDT/trades\nrecords  300") {
		t.Errorf("table reports:\n%s", out)
	}
	// --limit counts over all the streams.
	code, out, _ = runIn(root, "replay", "binance/BTCUSDT/book", "binance/BTCUSDT/trades", "--json", "--limit", "10")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	json.Unmarshal([]byte(lines[0]), &b)
	json.Unmarshal([]byte(lines[1]), &tr)
	if code != 0 || b["events"].(float64)+tr["records"].(float64) != 10 {
		t.Errorf("--limit 10: %s", out)
	}
}

// refBook rebuilds a book from incremental_book_L2 CSV files up to and
// including local_timestamp atUS, by Tardis's rules, with math/big: the
// reference for book --at across days.
func refBook(t *testing.T, files []string, atUS int64) (bids, asks map[string]*big.Rat) {
	t.Helper()
	bids, asks = map[string]*big.Rat{}, map[string]*big.Rat{}
	prevSnap, seen := false, false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
			c := strings.Split(l, ",")
			ts, _ := strconv.ParseInt(c[3], 10, 64)
			if ts > atUS {
				return bids, asks
			}
			snap := c[4] == "true"
			if snap && !prevSnap {
				clear(bids)
				clear(asks)
				seen = true
			}
			prevSnap = snap
			if !seen {
				continue
			}
			side := bids
			if c[5] == "ask" {
				side = asks
			}
			p, _ := new(big.Rat).SetString(c[6])
			a, _ := new(big.Rat).SetString(c[7])
			if a.Sign() == 0 {
				delete(side, p.RatString())
			} else {
				side[p.RatString()] = a
			}
		}
	}
	return bids, asks
}

// TestBookAtAcrossDays: on a day that does not start with a snapshot the
// book continues the day before; book --at by address equals a rebuild of
// days 1-2 up to TIME.
func TestBookAtAcrossDays(t *testing.T) {
	root := filepath.Join(t.TempDir(), "archive")
	src, err := os.ReadFile(rpSample)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for d := range 2 {
		body := shiftTS(string(src), int64(d)*dayUS)
		if d == 1 { // day 2 without its snapshot: diffs on day 1's book
			var keep []string
			for _, l := range strings.Split(body, "\n") {
				if !strings.Contains(l, ",true,") {
					keep = append(keep, l)
				}
			}
			body = strings.Join(keep, "\n")
		}
		p := filepath.Join(t.TempDir(), "binance_incremental_book_L2_2019-12-0"+strconv.Itoa(d+1)+"_BTCUSDT.csv")
		os.WriteFile(p, []byte(body), 0o644)
		if code, _, stderr := runIn(root, "import", p); code != 0 {
			t.Fatalf("import: %s", stderr)
		}
		files = append(files, p)
	}
	for _, atUS := range []int64{1575244805400000, 1575244806000000, 1575158405400000, 1575244800000000} {
		got := rpBookIn(t, root, "binance/BTCUSDT/book", "--at", strconv.FormatInt(atUS, 10), "--depth", "0")
		wb, wa := refBook(t, files, atUS)
		for _, s := range []struct {
			got  [][2]string
			want map[string]*big.Rat
		}{{got.Bids, wb}, {got.Asks, wa}} {
			if len(s.got) != len(s.want) {
				t.Errorf("--at %d: %d levels, want %d", atUS, len(s.got), len(s.want))
				continue
			}
			for _, lv := range s.got {
				p, _ := new(big.Rat).SetString(lv[0])
				a, _ := new(big.Rat).SetString(lv[1])
				if w, ok := s.want[p.RatString()]; !ok || w.Cmp(a) != 0 {
					t.Errorf("--at %d: level %v, want %v", atUS, lv, w)
				}
			}
		}
		if len(wb) == 0 {
			t.Errorf("--at %d: empty reference book", atUS)
		}
	}
}

// TestBarsCommand: bars over three days of trades equal bars computed here
// from the source CSV with math/big (open, high, low, close, volume,
// buy/sell volume, trades), by count and by time.
func TestBarsCommand(t *testing.T) {
	root, trades, _ := threeDays(t)
	type trade struct {
		us           int64
		side         string
		price, amoun *big.Rat
	}
	var all []trade
	for _, f := range trades {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
			c := strings.Split(l, ",")
			us, _ := strconv.ParseInt(c[3], 10, 64)
			p, _ := new(big.Rat).SetString(c[6])
			a, _ := new(big.Rat).SetString(c[7])
			all = append(all, trade{us, c[5], p, a})
		}
	}
	ref := func(key func(i int, tr trade) int64) [][]string {
		var out [][]string
		var cur []trade
		flush := func() {
			if len(cur) == 0 {
				return
			}
			hi, lo := cur[0].price, cur[0].price
			vol, buy, sell := new(big.Rat), new(big.Rat), new(big.Rat)
			for _, tr := range cur {
				if tr.price.Cmp(hi) > 0 {
					hi = tr.price
				}
				if tr.price.Cmp(lo) < 0 {
					lo = tr.price
				}
				vol.Add(vol, tr.amoun)
				switch tr.side {
				case "buy":
					buy.Add(buy, tr.amoun)
				case "sell":
					sell.Add(sell, tr.amoun)
				}
			}
			out = append(out, []string{cur[0].price.RatString(), hi.RatString(), lo.RatString(), cur[len(cur)-1].price.RatString(),
				vol.RatString(), buy.RatString(), sell.RatString(), strconv.Itoa(len(cur))})
			cur = nil
		}
		for i, tr := range all {
			if len(cur) > 0 && key(i, tr) != key(i-1, all[i-1]) {
				flush()
			}
			cur = append(cur, tr)
		}
		flush()
		return out
	}
	for _, c := range []struct {
		args []string
		want [][]string
	}{
		{[]string{"--count", "7"}, ref(func(i int, _ trade) int64 { return int64(i / 7) })},
		{[]string{"--interval", "10s"}, ref(func(_ int, tr trade) int64 { return tr.us / 10e6 })},
	} {
		code, out, stderr := runIn(root, append([]string{"bars", "binance/BTCUSDT/trades"}, c.args...)...)
		if code != 0 {
			t.Fatalf("bars %v: exit %d: %s", c.args, code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if lines[0] != strings.Join([]string{"start", "end", "open", "high", "low", "close", "volume", "buy_volume", "sell_volume", "vwap", "trades", "open_timestamp", "close_timestamp"}, ",") {
			t.Fatalf("header %q", lines[0])
		}
		if len(lines)-1 != len(c.want) {
			t.Fatalf("bars %v: %d bars, want %d", c.args, len(lines)-1, len(c.want))
		}
		for i, l := range lines[1:] {
			f := strings.Split(l, ",")
			var got []string
			for _, j := range []int{2, 3, 4, 5, 6, 7, 8} {
				r, ok := new(big.Rat).SetString(f[j])
				if !ok {
					t.Fatalf("bar %d column %d: %q", i, j, f[j])
				}
				got = append(got, r.RatString())
			}
			got = append(got, f[10])
			if !slices.Equal(got, c.want[i]) {
				t.Errorf("bars %v: bar %d = %v, want %v", c.args, i, got, c.want[i])
			}
		}
	}
	pq := filepath.Join(t.TempDir(), "bars.parquet")
	if code, _, stderr := runIn(root, "bars", "binance/BTCUSDT/trades", "--count", "10", "-o", pq); code != 0 {
		t.Fatalf("bars parquet: exit %d: %s", code, stderr)
	}
	if b, err := os.ReadFile(pq); err != nil || !bytes.HasPrefix(b, []byte("PAR1")) {
		t.Errorf("-o bars.parquet is not Parquet: %v", err)
	}
	for _, args := range [][]string{
		{"bars", "binance/BTCUSDT/trades"},
		{"bars", "binance/BTCUSDT/trades", "--count", "5", "--interval", "1s"},
		{"bars", "binance/BTCUSDT/trades", "--volume", "-1"},
		{"bars", "binance/BTCUSDT/trades", "--interval", "1500ns"},
	} {
		if code, _, _ := runIn(root, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := runIn(root, "bars", "binance/BTCUSDT/book", "--count", "5"); code != 1 || !strings.Contains(stderr, "not trades") {
		t.Errorf("bars on a book stream: exit %d: %s", code, stderr)
	}
	code, out, _ := runIn(root, "bars", "binance/BTCUSDT/trades", "--count", "7", "--limit", "3")
	if n := strings.Count(out, "\n"); code != 0 || n != 4 {
		t.Errorf("--limit 3: exit %d, %d lines", code, n)
	}
}

// TestProgressFitsWidth: the single-file import's status line never
// reaches the terminal's last column, whatever its width.
func TestProgressFitsWidth(t *testing.T) {
	for _, width := range []int{1, 2, 10, 40, 80, 200} {
		var b bytes.Buffer
		p := newProgress(&env{stderr: &b, isTerminal: true, width: func() int { return width }}, "importing")
		p.start = p.start.Add(-5e9)
		p.update(1<<30, 5<<30, 123456789)
		line := strings.TrimPrefix(b.String(), "\r\033[K")
		if n := len([]rune(line)); n > max(width-1, 0) || b.Len() == 0 {
			t.Errorf("width %d: %d columns: %q", width, n, line)
		}
		if width == 200 && !strings.Contains(line, "ETA") {
			t.Errorf("width 200 cut the line: %q", line)
		}
	}
}

// TestQuotesCommand: quotes from a book stream across days equal the top
// of an independent rebuild (refBook) after every message that changed it.
func TestQuotesCommand(t *testing.T) {
	root, _, books := threeDays(t)
	top := func(m map[string]*big.Rat, best int) (string, string) {
		var bp *big.Rat
		for p := range m {
			r, _ := new(big.Rat).SetString(p)
			if bp == nil || r.Cmp(bp) == best {
				bp = r
			}
		}
		if bp == nil {
			return "", ""
		}
		return bp.RatString(), m[bp.RatString()].RatString()
	}
	// The messages: distinct local timestamps, in order.
	var msgs []int64
	for _, f := range books {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
			us, _ := strconv.ParseInt(strings.Split(l, ",")[3], 10, 64)
			if len(msgs) == 0 || msgs[len(msgs)-1] != us {
				msgs = append(msgs, us)
			}
		}
	}
	var want []string
	last := ""
	for _, us := range msgs {
		bids, asks := refBook(t, books, us)
		bp, ba := top(bids, 1)
		ap, aa := top(asks, -1)
		q := strings.Join([]string{strconv.FormatInt(us, 10), aa, ap, bp, ba}, ",")
		if cur := strings.Join([]string{aa, ap, bp, ba}, ","); cur != last {
			want = append(want, q)
			last = cur
		}
	}
	code, out, stderr := runIn(root, "quotes", "binance/BTCUSDT/book")
	if code != 0 {
		t.Fatalf("quotes: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount" {
		t.Fatalf("header %q", lines[0])
	}
	var got []string
	for _, l := range lines[1:] {
		c := strings.Split(l, ",")
		row := []string{c[3]}
		for _, v := range c[4:] {
			r, _ := new(big.Rat).SetString(v)
			row = append(row, r.RatString())
		}
		got = append(got, strings.Join(row, ","))
	}
	if len(want) < 3 || !slices.Equal(got, want) {
		t.Errorf("quotes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A window is the whole stream's quotes in it; --limit; Parquet.
	code, out, _ = runIn(root, "quotes", "binance/BTCUSDT/book", "--from", "2019-12-02", "--to", "2019-12-03")
	n := 0
	for _, q := range want {
		us, _ := strconv.ParseInt(strings.Split(q, ",")[0], 10, 64)
		if us >= 1575158400000000+dayUS && us < 1575158400000000+2*dayUS {
			n++
		}
	}
	if c := strings.Count(out, "\n") - 1; code != 0 || c != n || n == 0 {
		t.Errorf("quotes of day 2: exit %d, %d quotes, want %d", code, c, n)
	}
	code, out, _ = runIn(root, "quotes", "binance/BTCUSDT/book", "--limit", "2")
	if c := strings.Count(out, "\n"); code != 0 || c != 3 {
		t.Errorf("--limit 2: exit %d, %d lines", code, c)
	}
	pq := filepath.Join(t.TempDir(), "q.parquet")
	if code, _, stderr := runIn(root, "quotes", "binance/BTCUSDT/book", "-o", pq); code != 0 {
		t.Errorf("quotes parquet: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runIn(root, "quotes", "binance/BTCUSDT/trades"); code != 1 || !strings.Contains(stderr, "not an incremental_book_L2") {
		t.Errorf("quotes of trades: exit %d: %s", code, stderr)
	}
}

// parquetRows opens a Parquet file with parquet-go and returns its column
// names and row count.
func parquetRows(t *testing.T, path string) ([]string, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("%s: parquet-go cannot open it: %v", path, err)
	}
	var names []string
	for _, fl := range pf.Schema().Fields() {
		names = append(names, fl.Name())
	}
	return names, pf.NumRows()
}

// TestParquetOutputs: the Parquet files of bars, quotes and a multi-day
// export open with parquet-go, with the CSV's columns and rows.
func TestParquetOutputs(t *testing.T) {
	root, _, _ := threeDays(t)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
	}{
		{[]string{"bars", "binance/BTCUSDT/trades", "--count", "10"}},
		{[]string{"quotes", "binance/BTCUSDT/book"}},
		{[]string{"export", "binance/BTCUSDT/book", "--from", "2019-12-01T12:00", "--to", "2019-12-03T12:00"}},
		{[]string{"export", "binance/BTCUSDT/trades"}},
	} {
		code, csvOut, stderr := runIn(root, c.args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", c.args, code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(csvOut), "\n")
		pq := filepath.Join(dir, c.args[0]+".parquet")
		if code, _, stderr := runIn(root, append(c.args, "--format", "parquet", "-o", pq)...); code != 0 {
			t.Fatalf("%q parquet: exit %d: %s", c.args, code, stderr)
		}
		names, rows := parquetRows(t, pq)
		if strings.Join(names, ",") != lines[0] || rows != int64(len(lines)-1) || rows == 0 {
			t.Errorf("%q: parquet columns %v, %d rows; CSV %s, %d rows", c.args, names, rows, lines[0], len(lines)-1)
		}
	}
}
