package termui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/batch"
	"github.com/chronicle-archive/chronicle/tardis"
)

// screen replays what a terminal shows for out, handling \r, \n and
// erase-to-end-of-line; it fails t when a status line (the text before an
// erase) reaches column width, where it would wrap and leave a line that
// \r cannot reach.
func screen(t *testing.T, out string, width int) (lines []string, cur string) {
	t.Helper()
	var line []rune
	col := 0
	for len(out) > 0 {
		switch {
		case strings.HasPrefix(out, "\033[K"):
			if w := displayWidth(string(line[:col])); w >= width {
				t.Fatalf("status line reaches column %d of %d: %q", w, width, string(line[:col]))
			}
			line = line[:col]
			out = out[3:]
			continue
		case out[0] == '\r':
			col = 0
		case out[0] == '\n':
			lines = append(lines, string(line))
			line, col = nil, 0
		default:
			var r rune
			for _, r = range out {
				break
			}
			if col < len(line) {
				line[col] = r
			} else {
				line = append(line, r)
			}
			col++
			out = out[len(string(r)):]
			continue
		}
		out = out[1:]
	}
	return lines, string(line)
}

// displayWidth counts columns independently of runeWidth, for the
// characters these tests use: CJK ideographs take two.
func displayWidth(s string) int {
	w := 0
	for _, r := range s {
		w += testRuneWidth(r)
	}
	return w
}

func testRuneWidth(r rune) int {
	if r >= 0x4e00 && r <= 0x9fff {
		return 2
	}
	return 1
}

func snap(inFlight ...string) batch.Snapshot {
	return batch.Snapshot{Files: 1000, Done: 120, Failed: 2, TotalBytes: 10 << 30, Bytes: 3 << 30, WorkBytes: 2 << 30,
		Rows: 50_000_000, Elapsed: 100 * time.Second, InFlight: inFlight}
}

var names = []string{
	"/data/datasets/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz",
	"données_été_2024-05-01_ÉTHUSDT.csv.gz",
	"数据_trades_2024-05-01_比特币.csv",
}

func TestStatusLine(t *testing.T) {
	const fixed = "3.0 GiB / 10.0 GiB (30%)  files 120/1000 (2 failed)  500.0k rows/s  ETA 5m50s"
	for _, tc := range []struct {
		width int
		want  string
	}{
		{1000, fixed + "  binance-futures_incremental_book_L2_2024-05-01_BTCUSDT, données_été_2024-05-01_ÉTHUSDT, 数据_trades_2024-05-01_比特币"},
		{140, fixed + "  …024-05-01_BTCUSDT, …024-05-01_ÉTHUSDT, …2024-05-01_比特币"},
		{100, fixed + "  …24-05-01_BTCUSDT +2"},
		{84, fixed + "  +3"},
		{82, fixed + "  +3"},
		{81, fixed},
		{79, fixed},
		{60, "3.0 GiB / 10.0 GiB (30%)  files 120/1000 (2 failed)  500.0…"},
		{2, "…"},
		{1, ""},
	} {
		if got := statusLine(snap(names...), tc.width); got != tc.want {
			t.Errorf("width %d:\n got %q\nwant %q", tc.width, got, tc.want)
		}
	}
	for width := 1; width <= 200; width++ {
		got := statusLine(snap(names...), width)
		if w := displayWidth(got); w > width-1 {
			t.Fatalf("width %d: line of %d columns: %q", width, w, got)
		}
		if cut := strings.TrimSuffix(got, "…"); !strings.HasPrefix(got, fixed) && !strings.HasPrefix(fixed, cut) {
			t.Fatalf("width %d: %q does not start with the counts", width, got)
		}
	}
	if got := statusLine(batch.Snapshot{}, 80); got != "0 B / 0 B  files 0/0  0 rows/s" {
		t.Errorf("empty snapshot: %q", got)
	}
}

func TestInFlight(t *testing.T) {
	for _, tc := range []struct {
		cols int
		want string
	}{
		{1, "…"},
		{5, "+3"},
		{13, "+3"},
		{20, "…24-05-01_BTCUSDT +2"},
		{30, "…-01_BTCUSDT, …-01_ÉTHUSDT +1"},
		{40, "…-01_BTCUSDT, …-01_ÉTHUSDT, …5-01_比特币"},
		{41, "…-01_BTCUSDT, …-01_ÉTHUSDT, …5-01_比特币"}, // 比 would need 2 columns
		{60, "…024-05-01_BTCUSDT, …024-05-01_ÉTHUSDT, …2024-05-01_比特币"},
	} {
		got := inFlight(names, tc.cols)
		if got != tc.want {
			t.Errorf("inFlight(%d) = %q, want %q", tc.cols, got, tc.want)
		}
		if w := displayWidth(got); w > tc.cols {
			t.Errorf("inFlight(%d) takes %d columns", tc.cols, w)
		}
	}
	if got := inFlight(names[1:2], 100); got != "données_été_2024-05-01_ÉTHUSDT" {
		t.Errorf("one name: %q", got)
	}
}

func TestTerminalRedraw(t *testing.T) {
	var out bytes.Buffer
	const width = 50
	term := NewTerminal(&out, func() int { return width })
	long := snap("binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz", "b.csv.gz")
	short := batch.Snapshot{Files: 3, Done: 1}
	in := batch.Input{Path: "d/binance_trades_2024-05-01_BTCUSDT.csv.gz", Info: tardis.FileInfo{DataType: "trades"}}

	term.drawSnapshot(long)
	term.drawSnapshot(short)
	if lines, cur := screen(t, out.String(), width); len(lines) != 0 || cur != statusLine(short, width) {
		t.Fatalf("after a shorter redraw: lines %q, status %q", lines, cur)
	}
	term.drawSnapshot(long)
	term.FileDone(in, batch.FileResult{Rows: 9, BytesIn: 2048, BytesOnDisk: 100}, 1500*time.Millisecond)
	term.FileDone(in, batch.FileResult{Status: batch.Failed, Err: errors.New("d/x.csv:3: field \"price\" \"abc\": not a number")}, 0)
	term.drawSnapshot(short)
	term.Finished(nil)
	lines, cur := screen(t, out.String(), width)
	want := []string{
		"imported trades d/binance_trades_2024-05-01_BTCUSDT.csv.gz rows=9 in=2.0 KiB disk=100 B 1.5s",
		"failed trades d/binance_trades_2024-05-01_BTCUSDT.csv.gz: d/x.csv:3: field \"price\" \"abc\": not a number",
	}
	if !reflect.DeepEqual(lines, want) || cur != "" {
		t.Errorf("screen\n got %q, status %q\nwant %q, status \"\"", lines, cur, want)
	}
}

// A real batch through the terminal reporter: the screen ends with one
// line per file and no status line left over.
func TestTerminalRun(t *testing.T) {
	var out bytes.Buffer
	var width atomic.Int32
	width.Store(40)
	term := NewTerminal(&out, func() int { return int(width.Load()) })
	term.interval = time.Millisecond
	var ins []batch.Input
	for i := range 6 {
		p := fmt.Sprintf("数据/binance_trades_2024-05-%02d_BTCUSDT.csv.gz", i+1)
		ins = append(ins, batch.Input{Path: p, Size: 1 << 20, Info: tardis.ParsePath(p)})
	}
	imp := func(ctx context.Context, in batch.Input, progress func(int64, int64)) (batch.FileResult, error) {
		for i := range int64(5) {
			progress(i<<18, i*100)
			time.Sleep(3 * time.Millisecond)
		}
		return batch.FileResult{Rows: 500, BytesIn: in.Size}, nil
	}
	if _, err := batch.Run(context.Background(), ins, batch.Options{Jobs: 3, Import: imp, Report: term}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "files 0/6") {
		t.Errorf("no status line was drawn: %q", out.String())
	}
	lines, cur := screen(t, out.String(), 40)
	if len(lines) != len(ins) || cur != "" {
		t.Fatalf("screen %q, status %q", lines, cur)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "imported trades 数据/binance_trades_2024-05-") || !strings.Contains(l, " rows=500 in=1.0 MiB ") {
			t.Errorf("line %q", l)
		}
	}
}

func TestPlain(t *testing.T) {
	var out bytes.Buffer
	p := NewPlain(&out)
	in := batch.Input{Path: "a/mystery.csv"}
	p.Started(nil)
	p.FileDone(in, batch.FileResult{Status: batch.Skipped, DataType: "quotes"}, 0)
	p.FileDone(in, batch.FileResult{Status: batch.NoData, DataType: "quotes", BytesIn: 20}, 2*time.Millisecond)
	p.FileDone(in, batch.FileResult{Status: batch.NotStarted}, 0)
	p.FileDone(in, batch.FileResult{Status: batch.Failed, Err: errors.New("boom")}, 0)
	p.Finished(nil)
	want := "skipped quotes a/mystery.csv\n" +
		"no data quotes a/mystery.csv rows=0 in=20 B disk=0 B 2ms\n" +
		"not started unknown a/mystery.csv\n" +
		"failed unknown a/mystery.csv: boom\n"
	if out.String() != want {
		t.Errorf("plain output\n got %q\nwant %q", out.String(), want)
	}
}
