package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/snapshots"
)

// snapStream imports the 2050-row Tardis sample once per test.
func snapStream(t *testing.T) string {
	t.Helper()
	res, err := ingest.Import(context.Background(), ingest.Options{
		Root: t.TempDir(), Input: "../../testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv",
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Dir
}

func runSnap(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code = run(context.Background(), e, append([]string{"snapshots"}, args...))
	return code, out.String(), errb.String()
}

func TestSnapshotsCommand(t *testing.T) {
	dir := snapStream(t)
	var want bytes.Buffer
	if _, err := snapshots.Write(context.Background(), dir, snapshots.Options{Depth: 5}, &want); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runSnap(dir, "--depth", "5")
	if code != 0 || out != want.String() {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errs, out, want.String())
	}
	// The first rows, as the report shows them.
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,") ||
		lines[1] != "binance,BTCUSDT,1575158405045139,1575158405045139,7541.38,0.085806,7539.41,0.226735,7541.39,0.013013,7539.21,1.804031,7541.4,4,7539.18,0.332322,7541.44,5.045272,7539,0.013245,7541.45,3.995438,7538.48,0.03" {
		t.Errorf("first lines:\n%s\n%s", lines[0], lines[1])
	}

	tmp := t.TempDir()
	csvPath := filepath.Join(tmp, "snap.csv")
	if code, _, errs := runSnap("--depth=5", dir, "-o", csvPath); code != 0 {
		t.Fatalf("-o csv: exit %d: %s", code, errs)
	}
	if b, err := os.ReadFile(csvPath); err != nil || string(b) != want.String() {
		t.Fatalf("-o csv: %v, content differs", err)
	}
	// -o NAME.parquet picks Parquet; --format parquet to a pipe works too.
	pqPath := filepath.Join(tmp, "snap.parquet")
	if code, _, errs := runSnap(dir, "--depth", "5", "--interval", "100ms", "-o", pqPath); code != 0 {
		t.Fatalf("-o parquet: exit %d: %s", code, errs)
	}
	if b, err := os.ReadFile(pqPath); err != nil || !bytes.HasPrefix(b, []byte("PAR1")) || !bytes.HasSuffix(b, []byte("PAR1")) {
		t.Fatalf("-o x.parquet did not write Parquet (%v)", err)
	}
	if code, out, errs := runSnap(dir, "--depth", "1", "--format", "parquet"); code != 0 || !strings.HasPrefix(out, "PAR1") {
		t.Fatalf("--format parquet to stdout: exit %d: %s", code, errs)
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 2 {
		t.Errorf("output directory holds %d files, want 2 (no .tmp left)", len(entries))
	}

	// --from/--to in both notations select the same rows.
	_, a, _ := runSnap(dir, "--depth", "5", "--from", "2019-12-01T00:00:05.3Z", "--to", "1575158405600000000")
	_, b, _ := runSnap(dir, "--depth", "5", "--from", "1575158405300000000", "--to", "2019-12-01T00:00:05.6Z")
	if a != b || strings.Count(a, "\n") != 3 { // header + rows at 405415810 and 405515803
		t.Errorf("--from/--to:\n%s\nvs\n%s", a, b)
	}
}

func TestSnapshotsCommandErrors(t *testing.T) {
	dir := snapStream(t)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{dir}, 2, "--depth"},
		{[]string{"--depth", "5"}, 2, "needs one stream"},
		{[]string{dir, "--depth", "5", "--interval", "1500ns"}, 2, "microseconds"},
		{[]string{dir, "--depth", "5", "--interval", "soon"}, 2, "interval"},
		{[]string{dir, "--depth", "5", "--format", "json"}, 2, "format"},
		{[]string{dir, "--depth", "5", "--from", "yesterday"}, 2, "RFC 3339"},
		{[]string{dir, "--depth", "5", "--from", "2019-12-02T00:00:00Z", "--to", "2019-12-01T00:00:00Z"}, 2, "before --from"},
		{[]string{dir, "--depth", "5", "--from", "2019-12-02T00:00:00Z", "--to", "2019-12-02T00:00:00Z"}, 2, "after --from"},
		{[]string{dir, "--depth", "5", "--depth", "6"}, 2, "given twice"},
		{[]string{filepath.Join(dir, "missing"), "--depth", "5"}, 1, "no such directory"},
	} {
		code, _, errs := runSnap(c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errs, c.code, c.msg)
		}
	}
	// A failed export leaves no file behind.
	out := filepath.Join(t.TempDir(), "x.csv")
	if code, _, _ := runSnap(filepath.Join(dir, "missing"), "--depth", "5", "-o", out); code != 1 {
		t.Errorf("exit %d", code)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Errorf("left %d files", len(ents))
	}
}

func TestSnapshotsHelp(t *testing.T) {
	var out bytes.Buffer
	e := &env{stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	if code := run(context.Background(), e, []string{"help", "snapshots"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, s := range []string{"Examples:", "EXIT STATUS", "--depth", "--interval", "--exchange-time", "--from", "--limit", "VENUE/SYMBOL/TYPE", "book_snapshot_N"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("help lacks %q", s)
		}
	}
}
