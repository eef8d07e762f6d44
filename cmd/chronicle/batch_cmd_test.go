package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/batch"
	"github.com/chronicle-archive/chronicle/tardis"
)

// Issue 9: chronicle import PATH... over a whole Tardis download.

var genTypes = []string{"incremental_book_L2", "trades", "quotes", "book_ticker", "book_snapshot_25", "derivative_ticker", "liquidations", "options_chain"}

// genFile is one generated file of the tree.
type genFile struct {
	fi    tardis.FileInfo
	empty bool // Tardis's empty gzip of a day without data
}

// name is the file's Tardis download name.
func (g genFile) name() string {
	return fmt.Sprintf("%s_%s_%s_%s.csv.gz", g.fi.Exchange, g.fi.DataType, g.fi.Date, g.fi.Symbol)
}

// hive is the file's path in a hive tree (its name says nothing).
func (g genFile) hive() string {
	return filepath.Join("exchange="+g.fi.Exchange, "type="+g.fi.DataType, "date="+g.fi.Date, "symbol="+g.fi.Symbol, "part-0.csv.gz")
}

var (
	genOnce  sync.Once
	genDir   string
	genFiles []genFile
	genErr   string
)

// generatedTree writes, once per test run, 3 exchanges × 8 data types ×
// 31 days (4 with -short) of 200-row files (options_chain as the grouped OPTIONS file,
// derivative_ticker as PERPETUALS) laid out flat in <dir>/flat and as a
// hive tree in <dir>/hive, with an empty gzip for the last day of
// liquidations and a 0-byte file for the one before. It skips the test
// when the generator (outside this repository) is absent.
func generatedTree(t *testing.T) (string, []genFile) {
	t.Helper()
	genOnce.Do(func() {
		if _, err := os.Stat(sharedTools + "/tardisgen"); err != nil {
			genErr = "generator not found at " + sharedTools + " (it is outside this repository)"
			return
		}
		dir, err := os.MkdirTemp("", "chronicle-batch-test-")
		if err != nil {
			genErr = err.Error()
			return
		}
		genDir = dir
		bin := filepath.Join(dir, "tardisgen")
		build := exec.Command("go", "build", "-o", bin, "./tardisgen")
		build.Dir = sharedTools
		if out, err := build.CombinedOutput(); err != nil {
			genErr = fmt.Sprintf("cannot build the generator: %v\n%s", err, out)
			return
		}
		if err := writeTree(bin, dir); err != nil {
			genErr = err.Error()
		}
	})
	if genErr != "" {
		t.Skip("skipping: " + genErr)
	}
	return genDir, genFiles
}

func writeTree(bin, dir string) error {
	days := 31
	if testing.Short() {
		days = 4
	}
	day0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for ei, ex := range []string{"binance-futures", "bybit", "deribit"} {
		for ti, typ := range genTypes {
			for d := range days {
				day := day0.AddDate(0, 0, d)
				g := genFile{fi: tardis.FileInfo{Exchange: ex, DataType: typ, Date: day.Format(time.DateOnly), Symbol: "BTCUSDT"}}
				args := []string{"-type", typ, "-rows", "200", "-exchange", ex, "-depth", "30",
					"-seed", strconv.Itoa(ei*1000 + ti*100 + d + 1), "-start-us", strconv.FormatInt(day.UnixMicro(), 10)}
				switch typ {
				case "options_chain":
					g.fi.Symbol = "OPTIONS"
					args = append(args, "-symbol", "BTC")
				case "derivative_ticker":
					g.fi.Symbol = "PERPETUALS"
				}
				var data []byte
				g.empty = typ == "liquidations" && d >= days-2
				switch {
				case g.empty && d == days-1:
					var b bytes.Buffer
					zw := gzip.NewWriter(&b)
					zw.Close()
					data = b.Bytes()
				case g.empty:
				default:
					csv, err := exec.Command(bin, args...).Output()
					if err != nil {
						return fmt.Errorf("tardisgen %v: %v", args, err)
					}
					data = gz(csv)
				}
				for _, p := range []string{filepath.Join(dir, "flat", g.name()), filepath.Join(dir, "hive", g.hive())} {
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						return err
					}
					if err := os.WriteFile(p, data, 0o644); err != nil {
						return err
					}
				}
				genFiles = append(genFiles, g)
			}
		}
	}
	return nil
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// batchJSON runs a batch import with --json and decodes its summary.
func batchJSON(t *testing.T, args ...string) (int, *batch.Summary, string) {
	t.Helper()
	code, out, stderr := rpRun(append([]string{"import", "--json"}, args...)...)
	var s batch.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("import %v: exit %d, summary %q: %v\nstderr: %s", args, code, out, err, stderr)
	}
	return code, &s, stderr
}

// statuses counts the files of a summary by status.
func statuses(s *batch.Summary) map[batch.Status]int {
	n := map[batch.Status]int{}
	for _, f := range s.Files {
		n[f.Status]++
	}
	return n
}

// lsStreams lists the streams ls --json shows under root.
func lsStreams(t *testing.T, root string) []string {
	t.Helper()
	code, out, stderr := rpRun("ls", "--json", root)
	if code != 0 {
		t.Fatalf("ls: exit %d: %s", code, stderr)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct {
			Dir string `json:"dir"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.Dir == "" {
			t.Fatalf("ls --json line %q: %v", line, err)
		}
		rel, err := filepath.Rel(root, m.Dir)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rel)
	}
	sort.Strings(got)
	return got
}

// wantStreams is the stream of every non-empty generated file.
func wantStreams(files []genFile) []string {
	var want []string
	for _, g := range files {
		if g.empty {
			continue
		}
		dt, _ := tardis.LookupDataType(g.fi.DataType)
		want = append(want, filepath.Join("v1", g.fi.Exchange, g.fi.Symbol, g.fi.Date, dt.Stream))
	}
	sort.Strings(want)
	return want
}

// TestBatchImportTree imports the generated tree, flat and as a hive tree,
// in one command each; ls lists every stream; a rerun reads no file.
func TestBatchImportTree(t *testing.T) {
	dir, files := generatedTree(t)
	empties := 0
	for _, g := range files {
		if g.empty {
			empties++
		}
	}
	want := wantStreams(files)
	for _, layout := range []string{"flat", "hive"} {
		t.Run(layout, func(t *testing.T) {
			root := t.TempDir()
			start := time.Now()
			code, s, stderr := batchJSON(t, "--archive-root", root, "--jobs", "2", filepath.Join(dir, layout))
			t.Logf("%s: %d files imported in %s", layout, len(files), time.Since(start).Round(time.Millisecond))
			n := statuses(s)
			if code != 0 || n[batch.Imported] != len(files)-empties || n[batch.NoData] != empties || len(s.Files) != len(files) {
				t.Fatalf("exit %d, %v of %d files (%d empty); failures %v\n%s", code, n, len(files), empties, s.Failures, stderr)
			}
			if len(s.Types) != len(genTypes) {
				t.Errorf("summary has %d data types, want %d: %+v", len(s.Types), len(genTypes), s.Types)
			}
			if got := lsStreams(t, root); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("ls lists %d streams, want %d", len(got), len(want))
			}
			// The rerun must not open a file: every file is skipped by
			// the name/size/mtime check against the ledger (an opened
			// file would be "already imported" or "no data").
			start = time.Now()
			code, s, stderr = batchJSON(t, "--archive-root", root, filepath.Join(dir, layout))
			t.Logf("%s rerun: %d files in %s", layout, len(files), time.Since(start).Round(time.Millisecond))
			if n := statuses(s); code != 0 || n[batch.Skipped] != len(files) {
				t.Fatalf("rerun: exit %d, %v, want all %d skipped\n%s", code, n, len(files), stderr)
			}
			if layout != "flat" {
				return
			}
			// --rehash reads every file and finds its hash in the ledger.
			code, s, _ = batchJSON(t, "--archive-root", root, "--rehash", filepath.Join(dir, layout))
			if n := statuses(s); code != 0 || n[batch.AlreadyImported] != len(files)-empties || n[batch.NoData] != empties {
				t.Fatalf("--rehash: exit %d, %v", code, n)
			}
		})
	}
}

// TestBatchImportFailures mixes 3 invalid files into good ones: the others
// are imported, the 3 listed with file:line, exit status 1.
func TestBatchImportFailures(t *testing.T) {
	dir := t.TempDir()
	const head = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
	row := func(i int, price, side string) string {
		ts := 1714521600000000 + int64(i)*1000
		return fmt.Sprintf("binance,BTCUSDT,%d,%d,%d,%s,%s,0.5\n", ts, ts, i, side, price)
	}
	good := func(n int) string {
		var b strings.Builder
		b.WriteString(head)
		for i := range n {
			b.WriteString(row(i, "60000.5", "buy"))
		}
		return b.String()
	}
	bad := func(at int, price, side string) string {
		lines := strings.SplitAfter(good(5), "\n")
		lines[at-1] = row(at-2, price, side)
		return strings.Join(lines, "")
	}
	files := map[string]string{
		"binance_trades_2024-05-01_BTCUSDT.csv": good(10),
		"binance_trades_2024-05-01_ETHUSDT.csv": strings.ReplaceAll(good(10), "BTCUSDT", "ETHUSDT"),
		"binance_trades_2024-05-01_SOLUSDT.csv": strings.ReplaceAll(good(10), "BTCUSDT", "SOLUSDT"),
		"binance_trades_2024-05-01_XRPUSDT.csv": strings.ReplaceAll(good(10), "BTCUSDT", "XRPUSDT"),
		"binance_trades_2024-05-02_BTCUSDT.csv": bad(4, "12.3.4", "buy"),
		"binance_trades_2024-05-03_BTCUSDT.csv": bad(3, "60000.5", "sideways"),
		"binance_trades_2024-05-04_BTCUSDT.csv": bad(6, "1e400", "sell"),
	}
	failing := map[string]string{
		"binance_trades_2024-05-02_BTCUSDT.csv": ":4", "binance_trades_2024-05-03_BTCUSDT.csv": ":3", "binance_trades_2024-05-04_BTCUSDT.csv": ":6",
	}
	for name, body := range files {
		// The bad files' dates must still match their timestamps' day,
		// so only the named field is wrong.
		if d, ok := strings.CutPrefix(name, "binance_trades_"); ok && !strings.HasPrefix(d, "2024-05-01") {
			day, _ := time.Parse(time.DateOnly, d[:10])
			shift := day.Sub(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)).Microseconds()
			body = shiftTS(body, shift)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	code, out, stderr := rpRun("import", "--archive-root", root, "--jobs", "2", dir)
	if code != exitError {
		t.Errorf("exit %d, want %d\n%s\n%s", code, exitError, out, stderr)
	}
	if !strings.Contains(out, "3 failed:") {
		t.Errorf("summary does not say 3 failed:\n%s", out)
	}
	for name, line := range failing {
		if !strings.Contains(out, name+line+":") {
			t.Errorf("summary does not list %s%s:\n%s", name, line, out)
		}
	}
	if got := lsStreams(t, root); len(got) != 4 {
		t.Errorf("ls lists %v, want the 4 good files' streams", got)
	}
	// Piped: one plain line per finished file.
	if n, f := strings.Count(stderr, "\nimported trades ")+strings.Count("\n"+stderr[:min(len(stderr), 9)], "\nimported "), strings.Count(stderr, "failed trades "); n != 4 || f != 3 {
		t.Errorf("stderr has %d imported and %d failed lines, want 4 and 3:\n%s", n, f, stderr)
	}
	// --fail-fast stops at the first failure; exit status 1 still.
	code, s, _ := batchJSON(t, "--archive-root", t.TempDir(), "--jobs", "1", "--fail-fast", dir)
	if n := statuses(s); code != exitError || n[batch.Failed] != 1 || n[batch.NotStarted] == 0 {
		t.Errorf("--fail-fast: exit %d, %v", code, n)
	}
}

// shiftTS moves every timestamp of a generated trades CSV by us.
func shiftTS(body string, us int64) string {
	lines := strings.Split(body, "\n")
	for i := 1; i < len(lines); i++ {
		c := strings.Split(lines[i], ",")
		if len(c) < 4 {
			continue
		}
		for _, j := range []int{2, 3} {
			v, _ := strconv.ParseInt(c[j], 10, 64)
			c[j] = strconv.FormatInt(v+us, 10)
		}
		lines[i] = strings.Join(c, ",")
	}
	return strings.Join(lines, "\n")
}

// TestBatchImportArgs covers the command line: repeated --input, globs,
// and the per-file flags with several files.
func TestBatchImportArgs(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(rpSample) // binance incremental_book_L2 2019-12-01 BTCUSDT
	if err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(dir, "binance_incremental_book_L2_2019-12-01_BTCUSDT.csv")
	b := filepath.Join(dir, "sub", "BTCUSDT-2019-12-01.csv") // gives a date only
	for _, p := range []string{a, b} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string // in stdout or stderr
	}{
		{"two --input", []string{"--jobs", "1", "--input", a, "--input", b, "--stream", "book2", "--type", "incremental_book_L2"}, 0, "total"},
		{"glob", []string{filepath.Join(dir, "*.csv")}, 0, "incremental_book_L2"},
		{"--venue fills in", []string{"--jobs", "1", "--venue", "binance", a, b}, 0, "already imported"}, // b is a, by content
		{"--symbol contradicts", []string{"--symbol", "ETHUSDT", a, b}, exitUsage, `--symbol ETHUSDT contradicts`},
		{"--date contradicts", []string{"--date", "2019-12-02", a, b}, exitUsage, `--date 2019-12-02 contradicts`},
		{"--stream mixed types", []string{"--stream", "x", a, b}, exitUsage, "--stream x with several files"},
		{"stdin with others", []string{"-", a}, exitError, `"-" (standard input) must be the only input`},
		{"--jobs -1", []string{"--jobs", "-1", a, b}, exitUsage, "--jobs -1"},
		{"bad --shard", []string{"--shard", "2/2", a}, exitUsage, "--shard"},
		{"no match", []string{filepath.Join(dir, "*.parquet")}, exitError, "no files match"},
		{"empty dir", []string{t.TempDir()}, exitError, "is a directory with no .csv or .csv.gz files below it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := rpRun(append([]string{"import", "--archive-root", t.TempDir()}, c.args...)...)
			if code != c.code || !strings.Contains(out+stderr, c.want) {
				t.Errorf("exit %d (want %d), want %q in:\n%s%s", code, c.code, c.want, out, stderr)
			}
		})
	}
	// One file keeps the single import's output.
	code, out, _ := rpRun("import", "--archive-root", t.TempDir(), "--input", a)
	if code != 0 || !strings.HasPrefix(out, "imported rows=") {
		t.Errorf("--input FILE: exit %d, %q", code, out)
	}
}

// TestBatchNoDataLedger: an empty gzip is recorded in the ledger as no
// data, without a stream, and skipped by a rerun.
func TestBatchNoDataLedger(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "bybit_liquidations_2024-05-31_BTCUSDT.csv.gz")
	if err := os.WriteFile(name, gz(nil), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "bybit_liquidations_2024-05-30_BTCUSDT.csv.gz"), nil, 0o644)
	root := t.TempDir()
	for i, want := range []batch.Status{batch.NoData, batch.Skipped} {
		code, s, stderr := batchJSON(t, "--archive-root", root, dir)
		if n := statuses(s); code != 0 || n[want] != 2 {
			t.Fatalf("run %d: exit %d, %v, want 2 %s\n%s", i, code, n, want, stderr)
		}
	}
	p := archive.Partition{Venue: "bybit", Symbol: "BTCUSDT", Date: "2024-05-31", Stream: "liquidations"}
	ents, _ := filepath.Glob(filepath.Join(p.LedgerDir(root), "*.liquidations.json"))
	if len(ents) != 1 {
		t.Fatalf("ledger entries %v", ents)
	}
	b, _ := os.ReadFile(ents[0])
	var l archive.Ledger
	if err := json.Unmarshal(b, &l); err != nil || l.Status != archive.LedgerNoData || l.Rows != 0 || l.SourceSize != int64(len(gz(nil))) || l.SourceMtimeNS == 0 {
		t.Errorf("no-data entry %s: %+v %v", b, l, err)
	}
	if _, err := os.Stat(p.Dir(root)); err == nil {
		t.Errorf("a no-data file published %s", p.Dir(root))
	}
	// verify (which needs a stream) is not troubled by no-data entries.
	if code, _, stderr := rpRun("import", "--archive-root", root, rpSample); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	if code, out, stderr := rpRun("verify", root); code != 0 {
		t.Errorf("verify: exit %d\n%s%s", code, out, stderr)
	}
}

// TestBatchRerunChanged: a rerun reads exactly the files whose size or
// mtime no longer match their ledger entries (and finds them imported),
// and --compress reads those whose stream is not compressed.
func TestBatchRerunChanged(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(rpSample)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, d := range []string{"2019-12-01"} {
		for _, sym := range []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"} {
			p := filepath.Join(dir, "binance_incremental_book_L2_"+d+"_"+sym+".csv")
			if err := os.WriteFile(p, bytes.ReplaceAll(src, []byte("BTCUSDT"), []byte(sym)), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
	}
	root := t.TempDir()
	if code, s, _ := batchJSON(t, "--archive-root", root, dir); code != 0 || s.Total.Imported != 3 {
		t.Fatalf("first run: exit %d, %+v", code, s.Total)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(paths[1], later, later); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		flags []string
		want  []batch.Status
	}{
		{"touched", nil, []batch.Status{batch.Skipped, batch.AlreadyImported, batch.Skipped}},
		{"touched again", nil, []batch.Status{batch.Skipped, batch.Skipped, batch.Skipped}}, // the read rewrote nothing: still the old mtime
		{"--rehash", []string{"--rehash"}, []batch.Status{batch.AlreadyImported, batch.AlreadyImported, batch.AlreadyImported}},
		{"--force", []string{"--force"}, []batch.Status{batch.Imported, batch.Imported, batch.Imported}},
		{"after --force", nil, []batch.Status{batch.Skipped, batch.Skipped, batch.Skipped}},
	} {
		code, s, stderr := batchJSON(t, append([]string{"--archive-root", root, "--jobs", "1"}, append(c.flags, dir)...)...)
		var got []batch.Status
		for _, f := range s.Files {
			got = append(got, f.Status)
		}
		if code != 0 || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: exit %d, %v, want %v\n%s", c.name, code, got, c.want, stderr)
		}
	}
}
