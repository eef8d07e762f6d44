package quotes

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/timespec"
)

// scanned is one quote as the Scanner tests compare it: its CSV row and
// local timestamp.
type scanned struct {
	ts  uint64
	row string
}

func scan(t *testing.T, dirs []string, r timespec.Range) []scanned {
	t.Helper()
	s, err := Open(nil, dirs, r)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b bytes.Buffer
	w := NewCSVWriter(&b, s.Exchange())
	var ts []uint64
	for {
		q, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(q); err != nil {
			t.Fatal(err)
		}
		ts = append(ts, q.LocalTS)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")[1:]
	if len(rows) != len(ts) {
		t.Fatalf("%d rows for %d quotes", len(rows), len(ts))
	}
	out := make([]scanned, len(ts))
	for i := range ts {
		out[i] = scanned{ts[i], rows[i]}
	}
	return out
}

// filter is the whole stream's quotes in r.
func filter(all []scanned, r timespec.Range) []scanned {
	var out []scanned
	for _, q := range all {
		if r.Contains(int64(q.ts)) {
			out = append(out, q)
		}
	}
	return out
}

func sameScans(t *testing.T, what string, got, want []scanned) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: quote %d: %s, want %s", what, i+1, got[i].row, want[i].row)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d quotes, want %d", what, len(got), len(want))
	}
}

// checkRanges: the Scanner over ranges whose bounds fall on, just after
// and between quotes, within a day and across days, gives the whole
// stream's quotes in each range.
func checkRanges(t *testing.T, dirs []string, all []scanned) {
	t.Helper()
	n := len(all)
	pick := func(i int) int64 { return int64(all[i].ts) }
	ranges := []timespec.Range{
		{From: pick(0), HasFrom: true},
		{From: pick(1), HasFrom: true},
		{From: pick(n / 3), To: pick(2 * n / 3), HasFrom: true, HasTo: true},
		{From: pick(n/3) + 1, To: pick(2*n/3) + 1, HasFrom: true, HasTo: true},
		{From: pick(n/2) - 1, HasFrom: true},
		{To: pick(n / 2), HasTo: true},
		{From: pick(n - 1), HasFrom: true},
		{From: pick(n-1) + 1, HasFrom: true}, // after the last quote: none
		{From: pick(n / 4), To: pick(n / 4), HasFrom: true, HasTo: true},
	}
	// Ranges that start just after a checkpoint: the first message is
	// added right after the restore, with the restored top as reference.
	for _, dir := range dirs {
		evs, err := stream.OpenEvents(nil, dir)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := evs.Checkpoints()
		if err != nil || cf == nil || cf.Len() < 4 {
			t.Fatalf("%s: checkpoints %v, %v", dir, cf, err)
		}
		for _, i := range []int{1, cf.Len() / 2, cf.Len() - 1} {
			ranges = append(ranges, timespec.Range{From: int64(cf.Info(i).MaxIngestTS) + 1, HasFrom: true})
		}
		evs.Close()
	}
	for _, r := range ranges {
		sameScans(t, "range "+strconv.FormatInt(r.From, 10)+".."+strconv.FormatInt(r.To, 10), scan(t, dirs, r), filter(all, r))
	}
}

// TestScannerOneDay runs everywhere, on the repository's book sample.
func TestScannerOneDay(t *testing.T) {
	res, err := ingest.Import(context.Background(), ingest.Options{Root: t.TempDir(),
		Input: "../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz", CheckpointEvery: 100, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{res.Dir}
	all := scan(t, dirs, timespec.Range{})
	// The whole stream through the Scanner is what the Deriver makes of
	// its events.
	want := strings.Split(strings.TrimSuffix(deriveCSV(t, res.Dir, 0), "\n"), "\n")[1:]
	if len(all) != len(want) || len(all) < 100 {
		t.Fatalf("%d quotes, the Deriver %d", len(all), len(want))
	}
	for i := range want {
		if all[i].row != want[i] {
			t.Fatalf("quote %d: %s, want %s", i+1, all[i].row, want[i])
		}
	}
	checkRanges(t, dirs, all)

	trades, err := ingest.Import(context.Background(), ingest.Options{Root: t.TempDir(),
		Input: "../tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(nil, []string{trades.Dir}, timespec.Range{}); err == nil || !strings.Contains(err.Error(), "not an incremental_book_L2 stream") {
		t.Errorf("Open of a trades stream: %v", err)
	}
}

// TestScannerDays: three generated days, each with a burst from midnight
// and one across noon (each opening with a snapshot). The whole replay
// equals the oracle's quotes over the three files as one stream, and
// ranges within and across days are the whole's quotes in them.
func TestScannerDays(t *testing.T) {
	if _, err := os.Stat(sharedTools + "/tardisgen"); err != nil {
		t.Skipf("skipping: generator not found at %s (it ships beside the repository, not in it)", sharedTools)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "tardisgen")
	cmd := exec.Command("go", "build", "-o", bin, "./tardisgen")
	cmd.Dir = sharedTools
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot build the generator: %v\n%s", err, out)
	}
	root := filepath.Join(tmp, "archive")
	var dirs []string
	var whole strings.Builder
	for di, day := range []string{"2024-05-01", "2024-05-02", "2024-05-03"} {
		var body strings.Builder
		for bi, at := range []string{"T00:00:00Z", "T11:59:59.5Z"} {
			ns, err := timespec.Parse(day + at)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-rows", "4000", "-depth", "5", "-resnap-every", "300",
				"-seed", strconv.Itoa(10*di+bi+1), "-start-us", strconv.FormatInt(ns/1000, 10)).Output()
			if err != nil {
				t.Fatal(err)
			}
			text := string(out)
			if bi > 0 {
				_, text, _ = strings.Cut(text, "\n")
			}
			body.WriteString(text)
		}
		text := body.String()
		if di > 0 {
			_, text, _ = strings.Cut(text, "\n")
		}
		whole.WriteString(text)
		path := filepath.Join(tmp, "binance-futures_incremental_book_L2_"+day+"_BTCUSDT.csv")
		if err := os.WriteFile(path, []byte(body.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := ingest.Import(context.Background(), ingest.Options{Root: root, Input: path, CheckpointEvery: 50, SegmentSize: 32 << 10})
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, res.Dir)
	}
	wholePath := filepath.Join(tmp, "whole.csv")
	if err := os.WriteFile(wholePath, []byte(whole.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, want := oracleQuotes(t, wholePath)
	all := scan(t, dirs, timespec.Range{})
	if len(all) != len(want) {
		t.Fatalf("%d quotes over three days, the oracle %d", len(all), len(want))
	}
	for i := range want {
		cells := strings.Split(all[i].row, ",")
		var got [4]string
		copy(got[:], cells[4:])
		if all[i].ts != want[i].local*1000 || !sameCells(got, want[i].cells) {
			t.Fatalf("quote %d: %s, want %d %v", i+1, all[i].row, want[i].local, want[i].cells)
		}
	}
	checkRanges(t, dirs, all)
	// A range from one noon to the next, and one starting at a day's first
	// message (the day before it is not read).
	for _, r := range [][2]string{{"2024-05-01T12:00:00Z", "2024-05-02T12:00:00Z"}, {"2024-05-02", "2024-05-03T11:59:59.9Z"}} {
		rg, err := timespec.ParseRange(r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		sameScans(t, r[0]+".."+r[1], scan(t, dirs, rg), filter(all, rg))
	}
	s, err := Open(nil, dirs, timespec.Range{From: 1, To: 2, HasFrom: true, HasTo: true})
	if err != nil {
		t.Fatal(err)
	}
	if q, err := s.Next(); err != io.EOF || s.Warning() == "" {
		t.Errorf("a range in 1970: %v, %v, warning %q", q, err, s.Warning())
	}
	s.Close()
}
