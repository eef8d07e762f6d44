package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/chronicle-archive/chronicle/archive"
)

// Issue 8 through the command line: every Tardis data type imported, then
// exported, dumped, listed and verified. The source and the export are
// compared by a reference below that shares nothing with the importer:
// encoding/csv, math/big.Rat for numbers, exact text for the rest.

const (
	sharedTardis = "../../../shared/data/tardis"
	sharedTools  = "../../../shared/tools"
)

// TestMain lets a test run this binary as the chronicle command, for the
// tests that need a real standard input.
func TestMain(m *testing.M) {
	if os.Getenv("CHRONICLE_TEST_AS_CLI") == "1" {
		e := &env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
		os.Exit(run(context.Background(), e, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// refColumns is Tardis's header of each data type, written out here
// independently of package tardis.
func refColumns(typ string) []string {
	cols := []string{"exchange", "symbol", "timestamp", "local_timestamp"}
	quote := []string{"ask_amount", "ask_price", "bid_price", "bid_amount"}
	switch typ {
	case "incremental_book_L2":
		return append(cols, "is_snapshot", "side", "price", "amount")
	case "trades", "liquidations":
		return append(cols, "id", "side", "price", "amount")
	case "quotes", "book_ticker":
		return append(cols, quote...)
	case "derivative_ticker":
		return append(cols, "funding_timestamp", "funding_rate", "predicted_funding_rate", "open_interest", "last_price", "index_price", "mark_price")
	case "options_chain":
		return append(cols, "type", "strike_price", "expiration", "open_interest", "last_price", "bid_price", "bid_amount", "bid_iv",
			"ask_price", "ask_amount", "ask_iv", "mark_price", "mark_iv", "underlying_index", "underlying_price", "delta", "gamma", "vega", "theta", "rho")
	}
	n, err := strconv.Atoi(strings.TrimPrefix(typ, "book_snapshot_"))
	if err != nil {
		panic("refColumns: unknown type " + typ)
	}
	for i := range n {
		for _, c := range []string{"asks[%d].price", "asks[%d].amount", "bids[%d].price", "bids[%d].amount"} {
			cols = append(cols, fmt.Sprintf(c, i))
		}
	}
	return cols
}

// refText lists the columns compared as text; every other one is a number.
var refText = map[string]bool{"exchange": true, "symbol": true, "id": true, "side": true, "type": true, "underlying_index": true, "is_snapshot": true}

type refStats struct{ rows, textDiffs int }

// refCompare checks that exp (an export) holds the rows of src (a Tardis
// file) of type typ: Tardis's header, in order; each column of it found in
// src by name; the same rows in the same order, an empty cell empty, a
// number equal as a rational, any other cell equal as text. In an
// incremental_book_L2 export bids come before asks within the rows of one
// message (one local_timestamp and is_snapshot), so src's rows are put in
// that order first. textDiffs counts numbers spelt differently.
func refCompare(typ string, src, exp io.Reader) (refStats, error) {
	var st refStats
	sr, er := csv.NewReader(src), csv.NewReader(exp)
	sr.ReuseRecord, er.ReuseRecord = true, true
	sh, err := sr.Read()
	if err != nil {
		return st, fmt.Errorf("source header: %w", err)
	}
	eh, err := er.Read()
	if err != nil {
		return st, fmt.Errorf("export header: %w", err)
	}
	want := refColumns(typ)
	if !slices.Equal(eh, want) {
		return st, fmt.Errorf("export header %v, want %v", eh, want)
	}
	idx := make([]int, len(want)) // source column of each export column
	for i, c := range want {
		if idx[i] = slices.Index(sh, c); idx[i] < 0 {
			return st, fmt.Errorf("source lacks column %q", c)
		}
	}
	book := typ == "incremental_book_L2"
	var pending [][]string // book: the source rows of the current message
	var a, b big.Rat
	compare := func(s []string) error {
		e, err := er.Read()
		if err == io.EOF {
			return fmt.Errorf("export ends after %d rows; the source has more", st.rows)
		}
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		st.rows++
		for i, c := range want {
			sv, ev := s[idx[i]], e[i]
			switch {
			case sv == ev:
			case sv == "" || ev == "" || refText[c]:
				return fmt.Errorf("row %d: %s: export %q, source %q", st.rows, c, ev, sv)
			default:
				_, ok1 := a.SetString(sv)
				_, ok2 := b.SetString(ev)
				if !ok1 || !ok2 || a.Cmp(&b) != 0 {
					return fmt.Errorf("row %d: %s: export %q, source %q: not the same number", st.rows, c, ev, sv)
				}
				st.textDiffs++
			}
		}
		return nil
	}
	flush := func() error {
		// Bids first, each side in file order.
		slices.SortStableFunc(pending, func(x, y []string) int {
			return strings.Compare(y[idx[5]], x[idx[5]]) // "bid" > "ask"
		})
		for _, s := range pending {
			if err := compare(s); err != nil {
				return err
			}
		}
		pending = pending[:0]
		return nil
	}
	for {
		s, err := sr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("source: %w", err)
		}
		if !book {
			if err := compare(s); err != nil {
				return st, err
			}
			continue
		}
		if len(pending) > 0 && (pending[0][idx[3]] != s[idx[3]] || pending[0][idx[4]] != s[idx[4]]) {
			if err := flush(); err != nil {
				return st, err
			}
		}
		pending = append(pending, slices.Clone(s))
	}
	if err := flush(); err != nil {
		return st, err
	}
	if e, err := er.Read(); err != io.EOF {
		return st, fmt.Errorf("export has rows past the source's %d: %q (%v)", st.rows, e, err)
	}
	return st, nil
}

// TestRefCompareFails shows the reference can fail.
func TestRefCompareFails(t *testing.T) {
	src := "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nx,Y,1,2,7,buy,1.50,0.1\n"
	for _, tc := range []struct{ exp, err string }{
		{"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nx,Y,1,2,7,buy,1.5,1e-1\n", ""},
		{"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nx,Y,1,2,7,buy,1.51,0.1\n", "not the same number"},
		{"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nx,Y,1,2,07,buy,1.5,0.1\n", "id"},
		{"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nx,Y,,2,7,buy,1.5,0.1\n", "timestamp"},
		{"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n", "export ends"},
		{"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nx,Y,1,2,7,buy,1.5,0.1\nx,Y,1,2,7,buy,1.5,0.1\n", "past the source"},
		{"exchange,symbol,timestamp,local_timestamp,id,side,amount,price\nx,Y,1,2,7,buy,0.1,1.5\n", "header"},
	} {
		_, err := refCompare("trades", strings.NewReader(src), strings.NewReader(tc.exp))
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("export %q: error %v, want %q", tc.exp, err, tc.err)
		}
	}
}

// sample is a Tardis file and the import flags it needs.
type sample struct {
	path, typ string
	flags     []string
}

var typeInName = regexp.MustCompile(`(?:^|_)(incremental_book_L2|trades|quotes|book_ticker|derivative_ticker|liquidations|options_chain|book_snapshot_\d+)(?:_|\.|$)`)

// samples returns the real Tardis samples that ship in tardis/testdata,
// the rule files of every type in tardis/testdata/types, and the samples
// in ../shared that are not copied (when ../shared is there).
func samples(t *testing.T) []sample {
	var out []sample
	seen := map[string]bool{}
	add := func(path string, flags ...string) {
		m := typeInName.FindStringSubmatch(filepath.Base(path))
		if m == nil {
			t.Fatalf("%s: no data type in the name", path)
		}
		seen[filepath.Base(path)] = true
		out = append(out, sample{path: path, typ: m[1], flags: flags})
	}
	real, _ := filepath.Glob("../../tardis/testdata/*.csv")
	for _, p := range real {
		add(p)
	}
	rules, _ := filepath.Glob("../../tardis/testdata/types/*.csv")
	for _, p := range rules {
		// Their names are not Tardis's: --type says the type.
		typ := typeInName.FindStringSubmatch(filepath.Base(p))[1]
		flags := []string{"--type", typ}
		if strings.Contains(p, "grouped") {
			flags = append(flags, "--symbol", "SPOT")
		}
		if typ == "options_chain" {
			flags = append(flags, "--symbol", "OPTIONS")
		}
		add(p, flags...)
	}
	shared, _ := filepath.Glob(sharedTardis + "/*.csv")
	if len(shared) == 0 {
		t.Logf("%s is absent: only the samples in tardis/testdata", sharedTardis)
	}
	for _, p := range shared {
		if !seen[filepath.Base(p)] {
			add(p)
		}
	}
	return out
}

func streamName(typ string) string {
	if typ == "incremental_book_L2" {
		return "book"
	}
	return typ
}

// importOne imports path into root and returns the stream directory.
func importOne(t *testing.T, root, path string, flags ...string) string {
	t.Helper()
	args := append([]string{"import", "--archive-root", root}, flags...)
	code, out, stderr := rpRun(append(args, path)...)
	if code != 0 {
		t.Fatalf("import %s: exit %d: %s", path, code, stderr)
	}
	if !strings.HasPrefix(out, "imported rows=") {
		t.Fatalf("import %s: output %q", path, out)
	}
	metas, _ := filepath.Glob(filepath.Join(root, "v1", "*", "*", "*", "*", "meta.json"))
	if len(metas) != 1 {
		t.Fatalf("streams after import: %v", metas)
	}
	return filepath.Dir(metas[0])
}

// exportCSV exports dir as Tardis CSV into a file and returns its path.
func exportCSV(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "export.csv")
	if code, _, stderr := rpRun("export", dir, "-o", out); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	return out
}

// compareExport exports dir as Tardis CSV and compares it with src.
func compareExport(t *testing.T, typ, src, dir string) refStats {
	t.Helper()
	out := exportCSV(t, dir)
	defer os.Remove(out) // up to a GB for the generated files
	sf, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	ef, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	st, err := refCompare(typ, bufio.NewReaderSize(sf, 1<<20), bufio.NewReaderSize(ef, 1<<20))
	if err != nil {
		t.Fatalf("export of %s differs from the source: %v", src, err)
	}
	return st
}

// lsJSON returns the one stream ls --json lists under root.
func lsJSON(t *testing.T, root string) map[string]any {
	t.Helper()
	code, out, stderr := rpRun("ls", "--json", root)
	var m map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil {
		t.Fatalf("ls --json: exit %d, %q %s", code, out, stderr)
	}
	return m
}

func TestTypesSamplesCLI(t *testing.T) {
	for _, s := range samples(t) {
		for _, compress := range []bool{false, true} {
			name := filepath.Base(s.path)
			if compress {
				name += "/compress"
			}
			t.Run(name, func(t *testing.T) {
				root := t.TempDir()
				flags := s.flags
				if compress {
					flags = append(slices.Clip(flags), "--compress")
				}
				dir := importOne(t, root, s.path, flags...)
				if filepath.Base(dir) != streamName(s.typ) {
					t.Errorf("stream %s, want %s", dir, streamName(s.typ))
				}
				st := compareExport(t, s.typ, s.path, dir)
				if st.textDiffs > 0 {
					t.Logf("%d numbers spelt differently from the source (equal values)", st.textDiffs)
				}
				ls := lsJSON(t, root)
				if ls["data_type"] != s.typ || ls["rows"] != float64(st.rows) {
					t.Errorf("ls --json: data_type %v rows %v, want %s %d", ls["data_type"], ls["rows"], s.typ, st.rows)
				}
				checkLsTable(t, root, s.typ)
				checkDump(t, dir, int(ls["events"].(float64)))
				checkParquet(t, dir, s.typ, st.rows)
				if code, out, stderr := rpRun("verify", dir); code != 0 {
					t.Errorf("verify: exit %d: %s%s", code, out, stderr)
				}
				if s.typ != "incremental_book_L2" {
					checkNeedsBook(t, dir, s.typ)
				}
			})
		}
	}
}

func checkLsTable(t *testing.T, root, typ string) {
	t.Helper()
	code, out, _ := rpRun("ls", root)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[0], "DATA TYPE") || !strings.Contains(lines[1], " "+typ+" ") {
		t.Errorf("ls: exit %d:\n%s", code, out)
	}
}

// checkDump: one valid JSON object per event or record.
func checkDump(t *testing.T, dir string, events int) {
	t.Helper()
	code, out, stderr := rpRun("dump", dir)
	if code != 0 {
		t.Fatalf("dump: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		lines = nil
	}
	if len(lines) != events {
		t.Errorf("dump: %d lines, want %d", len(lines), events)
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("dump line %d %q: %v", i+1, l, err)
		}
	}
}

// checkParquet: parquet-go opens the export, with Tardis's column names
// and a row per source row.
func checkParquet(t *testing.T, dir, typ string, rows int) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "x.parquet")
	if code, _, stderr := rpRun("export", dir, "--format", "parquet", "-o", out); code != 0 {
		t.Fatalf("export --format parquet: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.tmp left behind: %v", out, err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("parquet-go cannot open the export: %v", err)
	}
	var names []string
	for _, fl := range pf.Schema().Fields() {
		names = append(names, fl.Name())
	}
	if want := refColumns(typ); !slices.Equal(names, want) {
		t.Errorf("parquet columns %v, want %v", names, want)
	}
	if pf.NumRows() != int64(rows) {
		t.Errorf("parquet rows %d, want %d", pf.NumRows(), rows)
	}
}

func checkNeedsBook(t *testing.T, dir, typ string) {
	t.Helper()
	want := dir + " holds " + typ + ", not an incremental_book_L2 stream: replay, book and snapshots need a book stream"
	for _, args := range [][]string{{"replay", dir}, {"book", dir}, {"snapshots", dir, "--depth", "5"}} {
		code, _, stderr := rpRun(args...)
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%s on a %s stream: exit %d, stderr %q, want 1 and %q", args[0], typ, code, stderr, want)
		}
	}
}

// TestTypesExportUsage: an unknown format is a usage error; Parquet goes to
// a standard output that is not a terminal.
func TestTypesExportUsage(t *testing.T) {
	dir := importOne(t, t.TempDir(), "../../tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv")
	if code, _, stderr := rpRun("export", dir, "--format", "xml"); code != 2 || !strings.Contains(stderr, "tardis-csv or parquet") {
		t.Errorf("--format xml: exit %d: %s", code, stderr)
	}
	code, out, stderr := rpRun("export", dir, "--format", "parquet")
	if code != 0 || !strings.HasPrefix(out, "PAR1") {
		t.Errorf("parquet to a buffer: exit %d, %d bytes: %s", code, len(out), stderr)
	}
}

// TestTypesGenerated round-trips a generated file of every type through
// the CLI (1M rows; 20k with -short), plain and compressed: the export has
// the source's rows and spells every number as the generator (as Tardis)
// does.
func TestTypesGenerated(t *testing.T) {
	if _, err := os.Stat(sharedTools + "/tardisgen"); err != nil {
		t.Skipf("skipping: generator not found at %s (it is outside this repository)", sharedTools)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "tardisgen")
	build := exec.Command("go", "build", "-o", bin, "./tardisgen")
	build.Dir = sharedTools
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot build the generator: %v\n%s", err, out)
	}
	rows := 1_000_000
	if testing.Short() {
		rows = 20_000
	}
	for i, typ := range []string{"incremental_book_L2", "trades", "quotes", "book_ticker", "derivative_ticker", "liquidations", "options_chain", "book_snapshot_25"} {
		t.Run(typ, func(t *testing.T) {
			src := filepath.Join(tmp, "gen.csv")
			f, err := os.Create(src)
			if err != nil {
				t.Fatal(err)
			}
			gen := exec.Command(bin, "-type", typ, "-rows", strconv.Itoa(rows), "-seed", strconv.Itoa(i+1))
			bw := bufio.NewWriterSize(f, 1<<20)
			gen.Stdout, gen.Stderr = bw, os.Stderr
			if err := gen.Run(); err != nil {
				t.Fatalf("tardisgen: %v", err)
			}
			if err := errors.Join(bw.Flush(), f.Close()); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(src)
			flags := []string{"--type", typ}
			if typ == "options_chain" {
				flags = append(flags, "--symbol", "OPTIONS")
			}
			dir := importOne(t, t.TempDir(), src, flags...)
			st := compareExport(t, typ, src, dir)
			if typ != "incremental_book_L2" && st.rows != rows || st.rows < rows {
				t.Errorf("%d rows, want %d", st.rows, rows)
			}
			if st.textDiffs != 0 {
				t.Errorf("%d numbers spelt otherwise than the source", st.textDiffs)
			}
			// Compressed: the same export, byte for byte (the reference
			// need not read it again).
			zdir := importOne(t, t.TempDir(), src, append(flags, "--compress")...)
			if a, b := fileHash(t, exportCSV(t, dir)), fileHash(t, exportCSV(t, zdir)); a != b {
				t.Errorf("the export of the compressed stream differs from the plain one's")
			}
			for _, d := range []string{dir, zdir} {
				if code, out, stderr := rpRun("verify", d); code != 0 {
					t.Errorf("verify: exit %d: %s%s", code, out, stderr)
				}
			}
		})
	}
}

// fileHash hashes the file at path and removes it.
func fileHash(t *testing.T, path string) string {
	t.Helper()
	defer os.Remove(path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return string(h.Sum(nil))
}

// TestTypesImportStdin: "-" reads standard input, which needs --type.
func TestTypesImportStdin(t *testing.T) {
	src := "../../tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv"
	root := t.TempDir()
	cli := func(stdin string, args ...string) (int, string) {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "CHRONICLE_TEST_AS_CLI=1")
		in, err := os.Open(stdin)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		var out bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &out, &out
		err = cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String()
	}
	if code, out := cli(src, "import", "--archive-root", root, "-"); code != 2 || !strings.Contains(out, "pass --type") {
		t.Errorf("stdin without --type: exit %d: %s", code, out)
	}
	if code, out := cli(src, "import", "--archive-root", root, "--type", "trades", "-"); code != 0 || !strings.Contains(out, "data_type=trades") {
		t.Fatalf("stdin: exit %d: %s", code, out)
	}
	dir := filepath.Join(root, "v1", "binance", "BTCUSDT", "2019-12-01", "trades")
	compareExport(t, "trades", src, dir)
}

// TestTypesImportType: --type names a Tardis type; one Chronicle does not
// know is refused, saying so.
func TestTypesImportType(t *testing.T) {
	src := "../../tardis/testdata/types/liquidations.csv"
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--type", "liquidations"}, 0, "data_type=liquidations"},
		{[]string{"--type", "trades", "--stream", "as_trades"}, 0, "data_type=trades"},
		{[]string{"--type", "book_snapshot_05"}, 1, `"book_snapshot_05", which Chronicle does not know`},
		{[]string{"--type", "instrument"}, 1, `"instrument", which Chronicle does not know`},
		{nil, 1, "pass --type"}, // trades and liquidations have the same columns
	} {
		code, out, stderr := rpRun(append(append([]string{"import", "--archive-root", t.TempDir()}, tc.args...), src)...)
		if code != tc.code || !strings.Contains(out+stderr, tc.want) {
			t.Errorf("%v: exit %d, %s%s; want %d and %q", tc.args, code, out, stderr, tc.code, tc.want)
		}
	}
	// A Tardis file name of a type Chronicle does not know.
	p := filepath.Join(t.TempDir(), "deribit_instruments_2024-01-01_OPTIONS.csv")
	os.WriteFile(p, []byte("exchange,symbol\nderibit,X\n"), 0o644)
	if code, _, stderr := rpRun("import", "--archive-root", t.TempDir(), p); code != 1 || !strings.Contains(stderr, "cannot tell its data type") {
		t.Errorf("unknown type in the name: exit %d: %s", code, stderr)
	}
}

// treeBytes returns every file under root but lock files, with its bytes.
func treeBytes(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".lock") {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTypesBadInput: for each type, bad cells in the last row, a short
// row or a missing column make import exit 1 naming file:line: field
// "value": reason, and with --force over a stream imported before, the
// archive stays byte for byte what it was.
func TestTypesBadInput(t *testing.T) {
	type cell struct{ col, value, reason string }
	types := []struct {
		typ, src string
		flags    []string
		number   string // a decimal column
		side     string // the side-like column, if any
		amount   string // an unsigned decimal column
	}{
		{"incremental_book_L2", "../../tardis/testdata/deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.nautilus15.csv", nil, "price", "side", "amount"},
		{"trades", "../../tardis/testdata/types/trades.csv", nil, "price", "side", "amount"},
		{"liquidations", "../../tardis/testdata/types/liquidations.csv", nil, "price", "side", "amount"},
		{"quotes", "../../tardis/testdata/types/quotes.csv", nil, "bid_price", "", "ask_amount"},
		{"book_ticker", "../../tardis/testdata/types/book_ticker.csv", nil, "ask_price", "", "bid_amount"},
		{"derivative_ticker", "../../tardis/testdata/types/derivative_ticker.csv", nil, "mark_price", "", "open_interest"},
		{"options_chain", "../../tardis/testdata/types/options_chain.csv", []string{"--symbol", "OPTIONS"}, "strike_price", "type", "bid_amount"},
		{"book_snapshot_5", "../../tardis/testdata/types/book_snapshot_5.csv", nil, "asks[1].price", "", "bids[0].amount"},
	}
	for _, tt := range types {
		t.Run(tt.typ, func(t *testing.T) {
			raw, err := os.ReadFile(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n"), "\n")
			header := strings.Split(lines[0], ",")
			last := len(lines) // the last row's 1-based line number
			flags := append([]string{"--type", tt.typ, "--force"}, tt.flags...)
			root := t.TempDir()
			good := filepath.Join(t.TempDir(), filepath.Base(tt.src))
			os.WriteFile(good, raw, 0o644)
			importOne(t, root, good, flags...)
			before := treeBytes(t, root)

			// set returns the file with the last row's col set to v.
			set := func(col, v string) string {
				i := slices.Index(header, col)
				if i < 0 {
					t.Fatalf("no column %s", col)
				}
				out := slices.Clone(lines)
				cells := strings.Split(out[last-1], ",")
				cells[i] = v
				out[last-1] = strings.Join(cells, ",")
				return strings.Join(out, "\n") + "\n"
			}
			q := regexp.QuoteMeta
			cases := []struct{ name, body, want string }{
				{"bad number", set(tt.number, "1.2.3"), fmt.Sprintf(`:%d: %s "1\.2\.3": \S`, last, q(tt.number))},
				{"negative amount", set(tt.amount, "-1"), fmt.Sprintf(`:%d: %s "-1": \S`, last, q(tt.amount))},
				{"wrong column count", strings.Join(lines, "\n") + "\n" + strings.Join(strings.Split(lines[last-1], ",")[1:], ",") + "\n",
					fmt.Sprintf(`:%d: wrong number of fields`, last+1)},
			}
			if tt.side != "" {
				cases = append(cases, struct{ name, body, want string }{"unknown side", set(tt.side, "sideways"), fmt.Sprintf(`:%d: %s "sideways": \S`, last, tt.side)})
			}
			// Missing column: drop the amount column everywhere.
			di := slices.Index(header, tt.amount)
			var dropped []string
			for _, l := range lines {
				c := strings.Split(l, ",")
				dropped = append(dropped, strings.Join(slices.Delete(c, di, di+1), ","))
			}
			cases = append(cases, struct{ name, body, want string }{"missing column", strings.Join(dropped, "\n") + "\n", `:1: missing column "` + q(tt.amount) + `"`})

			for _, c := range cases {
				bad := filepath.Join(t.TempDir(), filepath.Base(tt.src))
				os.WriteFile(bad, []byte(c.body), 0o644)
				code, out, stderr := rpRun(append(append([]string{"import", "--archive-root", root}, flags...), bad)...)
				re := regexp.MustCompile("(?m)^chronicle import: (" + q(bad) + "|" + q(filepath.Base(bad)) + ")" + c.want)
				if code != 1 || !re.MatchString(stderr) || out != "" {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and /%s/", c.name, code, out, stderr, re)
				}
				after := treeBytes(t, root)
				if len(after) != len(before) {
					t.Errorf("%s: %d files before, %d after", c.name, len(before), len(after))
				}
				for p, b := range before {
					if after[p] != b {
						t.Errorf("%s: %s changed", c.name, p)
					}
				}
			}
		})
	}
}

// TestTypesLsAll: one archive with a stream of every data type; ls shows
// each one's type, and a stream from before meta.json had data_type is
// incremental_book_L2.
func TestTypesLsAll(t *testing.T) {
	root := t.TempDir()
	want := map[string]bool{}
	for _, s := range samples(t) {
		if strings.Contains(s.path, "/types/") && want[s.typ] {
			continue // the rule files of a type share a partition
		}
		importOne(t, t.TempDir(), s.path, s.flags...) // checks it imports alone
		if code, _, stderr := rpRun(append(append([]string{"import", "--archive-root", root}, s.flags...), s.path)...); code != 0 {
			t.Fatalf("%s: exit %d: %s", s.path, code, stderr)
		}
		want[s.typ] = true
	}
	code, out, _ := rpRun("ls", "--json", root)
	got := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("ls --json line %q: %v", l, err)
		}
		got[m["data_type"].(string)] = true
	}
	if code != 0 || len(got) != len(want) || len(want) < 9 {
		t.Errorf("ls --json data types %v, want %v", got, want)
	}
	code, table, _ := rpRun("ls", root)
	for typ := range want {
		if code != 0 || !strings.Contains(table, " "+typ+" ") {
			t.Errorf("ls table lacks %s:\n%s", typ, table)
		}
	}
	for _, tc := range []struct{ in, want string }{{"", "incremental_book_L2"}, {"trades", "trades"}, {"book_snapshot_25", "book_snapshot_25"}} {
		if got := dataTypeName(&archive.Meta{DataType: tc.in}); got != tc.want {
			t.Errorf("dataTypeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestTypesReimport: only the options typed are compared with those the
// stream was made with.
func TestTypesReimport(t *testing.T) {
	src := "../../tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv"
	root := t.TempDir()
	importOne(t, root, src, "--segment-size", "100000")
	for _, tc := range []struct {
		flags []string
		code  int
		want  string
	}{
		{nil, 0, "already imported"},
		{[]string{"--segment-size", "100000"}, 0, "already imported"},
		{[]string{"--segment-size", "200000"}, 1, "--segment-size 200000 (imported with 100000)"},
		{[]string{"--venue-id", "77"}, 1, "--venue-id 77"},
		{[]string{"--venue-id", "70000"}, 2, "--venue-id 70000: must be 0..65535"},
		{[]string{"--price-scale", "19"}, 2, "--price-scale 19: must be 0..18"},
		{[]string{"--compress"}, 0, "compressed"},
	} {
		code, out, stderr := rpRun(append(append([]string{"import", "--archive-root", root}, tc.flags...), src)...)
		if code != tc.code || !strings.Contains(out+stderr, tc.want) {
			t.Errorf("%v: exit %d, %s%s; want %d and %q", tc.flags, code, out, stderr, tc.code, tc.want)
		}
	}
}

// TestTypesParquetFailureLeavesNothing: a Parquet export that fails (here:
// meta.json without scales, as from an older Chronicle) leaves neither FILE
// nor FILE.tmp.
func TestTypesParquetFailureLeavesNothing(t *testing.T) {
	dir := importOne(t, t.TempDir(), "../../tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv")
	mp := filepath.Join(dir, "meta.json")
	raw, err := os.ReadFile(mp)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "scales")
	raw, _ = json.Marshal(m)
	if err := os.WriteFile(mp, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "t.parquet")
	code, _, stderr := rpRun("export", dir, "--format", "parquet", "-o", out)
	if code != 1 || !strings.Contains(stderr, `meta.json has no scale for "price"`) {
		t.Errorf("exit %d: %s", code, stderr)
	}
	for _, p := range []string{out, out + ".tmp"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a failed export: %v", p, err)
		}
	}
}
