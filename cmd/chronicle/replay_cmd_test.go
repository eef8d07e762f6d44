package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const rpSample = "../../testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv"

// rpRun runs the chronicle command line in-process.
func rpRun(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code = run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

// rpImport imports csv into a fresh archive and returns the stream dir.
func rpImport(t *testing.T, csv string, flags ...string) string {
	t.Helper()
	root := t.TempDir()
	args := append([]string{"import", "--archive-root", root}, flags...)
	if code, _, stderr := rpRun(append(args, csv)...); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	metas, err := filepath.Glob(filepath.Join(root, "v1", "*", "*", "*", "*", "meta.json"))
	if err != nil || len(metas) != 1 {
		t.Fatalf("streams after import: %v %v", metas, err)
	}
	return filepath.Dir(metas[0])
}

func rpCSV(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "binance_incremental_book_L2_1970-01-01_XY.csv")
	os.WriteFile(p, []byte("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"+body), 0o644)
	return p
}

func TestReplayCommand(t *testing.T) {
	dir := rpImport(t, rpSample)
	code, out, stderr := rpRun("replay", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"events                   8  (1 snapshots, 7 diffs)",
		"level updates            2050",
		"resets                   1",
		"gaps                     0",
		"crossed events           0",
		"absent removals          3",
		"best bid                 7539.41  (amount 0.226735)",
		"best ask                 7541.27  (amount 0.260806)",
		"wall time", "level updates/s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = rpRun("replay", "--json", dir)
	var rep map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("exit %d, output %q is not one JSON object", code, out)
	}
	for k, want := range map[string]any{
		"events": 8.0, "level_updates": 2050.0, "resets": 1.0, "gaps": 0.0, "first_gap_seq": nil,
		"crossed_events": 0.0, "first_crossed_seq": nil, "skipped_before_snapshot": 0.0,
	} {
		if got, ok := rep[k]; !ok || got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if bb, _ := json.Marshal(rep["best_bid"]); string(bb) != `["7539.41","0.226735"]` {
		t.Errorf("best_bid %s", bb)
	}
	if _, ok := rep["level_updates_per_sec"]; !ok {
		t.Error("no level_updates_per_sec")
	}
}

// The amount-0 removal and the update before the snapshot count; the book
// crosses at seq 3 (bid 102 >= ask 101).
const rpCrossed = `binance,XY,1,1,false,bid,99,1
binance,XY,2,2,true,bid,100,1
binance,XY,2,2,true,ask,101,1
binance,XY,3,3,false,ask,105,0
binance,XY,4,4,false,bid,102,1
binance,XY,5,5,false,bid,102,0
`

func TestReplayStrict(t *testing.T) {
	dir := rpImport(t, rpCSV(t, rpCrossed))
	code, out, _ := rpRun("replay", "--json", dir)
	var rep map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("exit %d: %s", code, out)
	}
	if rep["crossed_events"] != 1.0 || rep["first_crossed_seq"] != 3.0 || rep["absent_removals"] != 1.0 || rep["skipped_before_snapshot"] != 1.0 {
		t.Fatalf("report %v", rep)
	}
	code, out, stderr := rpRun("replay", "--strict", dir)
	if code != exitError {
		t.Fatalf("--strict on a crossed book: exit %d, want %d", code, exitError)
	}
	if out != "" || !strings.Contains(stderr, "crossed book after seq 3") || !strings.Contains(stderr, "1970-01-01T00:00:00.000004Z (4000 ns)") ||
		!strings.Contains(stderr, "best bid 102 >= best ask 101") {
		t.Fatalf("stdout %q stderr %q", out, stderr)
	}
}

func TestReplayDamagedRecord(t *testing.T) {
	dir := rpImport(t, rpSample)
	seg := filepath.Join(dir, "000000000.q")
	b, _ := os.ReadFile(seg)
	b[64+64+1000] ^= 1 // in the first record's payload
	os.WriteFile(seg, b, 0o644)
	for _, args := range [][]string{{"replay", dir}, {"book", dir}} {
		if code, _, stderr := rpRun(args...); code != exitCorrupt || !strings.Contains(stderr, "000000000.q") {
			t.Errorf("%v over a damaged record: exit %d (want %d): %s", args, code, exitCorrupt, stderr)
		}
	}
}

// bookJSON is `chronicle book --json` output.
type bookJSON struct {
	TimeNS uint64      `json:"time_ns"`
	Bids   [][2]string `json:"bids"`
	Asks   [][2]string `json:"asks"`
}

func rpBook(t *testing.T, args ...string) bookJSON {
	t.Helper()
	code, out, stderr := rpRun(append([]string{"book", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("book %v: exit %d: %s", args, code, stderr)
	}
	// Exactly one object with exactly these keys.
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&raw); err != nil || dec.More() {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	if len(raw) != 3 || raw["time_ns"] == nil || raw["bids"] == nil || raw["asks"] == nil {
		t.Fatalf("keys of %s, want time_ns, bids, asks", out)
	}
	var b bookJSON
	d := json.NewDecoder(strings.NewReader(out))
	d.DisallowUnknownFields()
	if err := d.Decode(&b); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return b
}

// checkOrder checks best-first order with exact decimal comparisons.
func checkOrder(t *testing.T, b bookJSON) {
	t.Helper()
	rat := func(s string) *big.Rat {
		r, ok := new(big.Rat).SetString(s)
		if !ok || r.Sign() <= 0 {
			t.Fatalf("%q is not a positive decimal", s)
		}
		return r
	}
	for i := 1; i < len(b.Bids); i++ {
		if rat(b.Bids[i][0]).Cmp(rat(b.Bids[i-1][0])) >= 0 {
			t.Fatalf("bids not best first: %v", b.Bids)
		}
	}
	for i := 1; i < len(b.Asks); i++ {
		if rat(b.Asks[i][0]).Cmp(rat(b.Asks[i-1][0])) <= 0 {
			t.Fatalf("asks not best first: %v", b.Asks)
		}
	}
	for _, l := range append(b.Bids, b.Asks...) {
		rat(l[1])
	}
}

func TestBookCommand(t *testing.T) {
	dir := rpImport(t, rpSample, "--checkpoint-every", "3")
	end := rpBook(t, dir)
	if end.TimeNS != 1575158405716112000 || len(end.Bids) != 10 || len(end.Asks) != 10 {
		t.Fatalf("book at the end: %+v", end)
	}
	// Expected values worked out from the CSV by hand (Python's Decimal).
	if end.Bids[0] != [2]string{"7539.41", "0.226735"} || end.Asks[0] != [2]string{"7541.27", "0.260806"} {
		t.Fatalf("top of book %v / %v", end.Bids[0], end.Asks[0])
	}
	checkOrder(t, end)

	// Just after the snapshot, by RFC 3339 and by ns: the same book.
	a := rpBook(t, dir, "--at", "2019-12-01T00:00:05.1Z", "--depth", "3")
	b := rpBook(t, "--at", "1575158405100000000", "--depth=3", dir)
	if a.TimeNS != 1575158405045139000 || len(a.Bids) != 3 || !equalJSON(a, b) ||
		a.Bids[0] != [2]string{"7539.41", "0.226735"} || a.Asks[0] != [2]string{"7541.38", "0.085806"} {
		t.Fatalf("at 05.1: %+v vs %+v", a, b)
	}
	checkOrder(t, a)
	all := rpBook(t, dir, "--depth", "0", "--at", "2019-12-01T00:00:05.1Z")
	if len(all.Bids)+len(all.Asks) != 2000 {
		t.Fatalf("--depth 0: %d levels, want the snapshot's 2000", len(all.Bids)+len(all.Asks))
	}
	checkOrder(t, all)
	// Before the first event: empty, time 0.
	if e := rpBook(t, dir, "--at", "2019-12-01T00:00:00Z"); e.TimeNS != 0 || len(e.Bids)+len(e.Asks) != 0 {
		t.Fatalf("before the first event: %+v", e)
	}
	// Exchange time: the first diff's exchange time (04.999) is before the
	// snapshot's (05.045139), so at 05.0 on exchange time nothing is in:
	// the snapshot, first in the file, is already later.
	if e := rpBook(t, dir, "--exchange-time", "--at", "2019-12-01T00:00:05.0Z"); e.TimeNS != 0 || len(e.Bids) != 0 {
		t.Fatalf("exchange time 05.0: %+v", e)
	}
	if e := rpBook(t, dir, "--exchange-time", "--at", "2019-12-01T00:00:05.1Z"); e.TimeNS != 1575158405098000000 || len(e.Bids) != 10 {
		t.Fatalf("exchange time 05.1: %+v", e)
	}
	// Same answer without checkpoints (the index command can add them back).
	os.Remove(filepath.Join(dir, "checkpoints.ckpt"))
	if e := rpBook(t, dir); !equalJSON(e, end) {
		t.Fatalf("without checkpoints: %+v, with: %+v", e, end)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestBookTable(t *testing.T) {
	dir := rpImport(t, rpSample)
	code, out, stderr := rpRun("book", dir, "--depth", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "book at 2019-12-01T00:00:05.716112Z, local time; ") {
		t.Fatalf("output:\n%s", out)
	}
	// Columns line up: the separator is at the same place on every line,
	// and decimal points of a column too.
	bar := strings.Index(lines[1], "|")
	for _, l := range lines[1:] {
		if strings.Index(l, "|") != bar {
			t.Fatalf("columns do not line up:\n%s", out)
		}
	}
	if !regexp.MustCompile(`^\s+0\.226735\s+7539\.41  \|\s+7541\.27\s+0\.260806$`).MatchString(lines[2]) {
		t.Fatalf("first row %q", lines[2])
	}
	point := strings.Index(lines[2], "7539.41") + 4
	for _, l := range lines[3:] {
		// A point there, or an integer price ending just before it.
		if c, d := l[point], l[point-1]; c != '.' && (c != ' ' || d < '0' || d > '9') {
			t.Fatalf("bid prices not aligned on the point:\n%s", out)
		}
	}
}

func TestBookUsageErrors(t *testing.T) {
	dir := rpImport(t, rpSample)
	for _, args := range [][]string{
		{"book", dir, "--at", "yesterday"},
		{"book", dir, "--at", "2019-12-01T00:00:05Z", "--at", "2019-12-01T00:00:06Z"},
		{"book", dir, "--json", "--json"},
		{"book", dir, "--at", "-5"},
		{"book", dir, "--depth", "-1"},
		{"book"},
		{"book", dir, dir},
		{"replay"},
		{"replay", dir, "--bogus"},
		{"index", dir, "--every", "0"},
	} {
		code, _, stderr := rpRun(args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
	if code, _, stderr := rpRun("book", filepath.Join(dir, "nope")); code != exitError {
		t.Errorf("missing stream: exit %d: %s", code, stderr)
	}
}

func TestIndexCommand(t *testing.T) {
	dir := rpImport(t, rpSample, "--checkpoint-every", "0")
	if _, err := os.Stat(filepath.Join(dir, "checkpoints.ckpt")); !os.IsNotExist(err) {
		t.Fatalf("--checkpoint-every 0 wrote checkpoints: %v", err)
	}
	want := rpBook(t, dir, "--at", "2019-12-01T00:00:05.4Z")
	code, out, stderr := rpRun("index", dir, "--every", "2")
	if code != 0 || !strings.Contains(out, ": 4 checkpoints (every 2 events") {
		t.Fatalf("index: exit %d: %s%s", code, out, stderr)
	}
	if code, out, _ := rpRun("verify", dir); code != 0 || !strings.Contains(out, "4 checkpoints match a replay") {
		t.Fatalf("verify after index: exit %d:\n%s", code, out)
	}
	if got := rpBook(t, dir, "--at", "2019-12-01T00:00:05.4Z"); !equalJSON(got, want) {
		t.Fatalf("book with checkpoints %+v, without %+v", got, want)
	}
	// On a compressed stream too.
	if code, _, stderr := rpRun("compress", dir); code != 0 {
		t.Fatalf("compress: %s", stderr)
	}
	if code, out, stderr := rpRun("index", dir, "--every", "3"); code != 0 || !strings.Contains(out, ": 3 checkpoints") {
		t.Fatalf("index of a compressed stream: exit %d: %s%s", code, out, stderr)
	}
	if code, out, _ := rpRun("verify", dir); code != 0 {
		t.Fatalf("verify:\n%s", out)
	}
	if got := rpBook(t, dir, "--at", "2019-12-01T00:00:05.4Z"); !equalJSON(got, want) {
		t.Fatalf("compressed: %+v, want %+v", got, want)
	}
}

func TestReplayBookIndexHelp(t *testing.T) {
	for _, name := range []string{"replay", "book", "index"} {
		code, out, _ := rpRun("help", name)
		if code != 0 || !strings.Contains(out, "Usage: chronicle "+name) || !strings.Contains(out, "EXIT STATUS") ||
			!strings.Contains(out, "Examples:") || !strings.Contains(out, "Flags:") {
			t.Errorf("help %s: exit %d:\n%s", name, code, out)
		}
		if code, out2, _ := rpRun(name, "--help"); code != 0 || out2 != out {
			t.Errorf("%s --help differs from help %s", name, name)
		}
	}
}
