package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/tardis"
)

func inputs(n int) []Input {
	ins := make([]Input, n)
	for i := range ins {
		p := fmt.Sprintf("d/binance_trades_2024-05-%02d_BTCUSDT.csv.gz", i+1)
		ins[i] = Input{Path: p, Size: int64(1000 + i), Info: tardis.ParsePath(p)}
	}
	return ins
}

func TestRunConcurrency(t *testing.T) {
	for _, jobs := range []int{1, 3, 4} {
		var cur, peak atomic.Int32
		imp := func(ctx context.Context, in Input, progress func(int64, int64)) (FileResult, error) {
			n := cur.Add(1)
			defer cur.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			// Hold the file until jobs files are in flight at once (or
			// long enough to show they never will be).
			for deadline := time.Now().Add(2 * time.Second); peak.Load() < int32(jobs) && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			progress(in.Size, 10)
			return FileResult{Rows: 10, BytesIn: in.Size}, nil
		}
		s, err := Run(context.Background(), inputs(12), Options{Jobs: jobs, Import: imp})
		if err != nil {
			t.Fatal(err)
		}
		if got := peak.Load(); got != int32(jobs) {
			t.Errorf("jobs=%d: at most %d files in flight", jobs, got)
		}
		if s.Total.Imported != 12 || s.Total.Rows != 120 {
			t.Errorf("jobs=%d: total %+v", jobs, s.Total)
		}
	}
}

func TestRunLargestFirst(t *testing.T) {
	ins := inputs(5)
	var order []string
	imp := func(ctx context.Context, in Input, _ func(int64, int64)) (FileResult, error) {
		order = append(order, in.Info.Date)
		return FileResult{}, nil
	}
	if _, err := Run(context.Background(), ins, Options{Jobs: 1, Import: imp}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"2024-05-05", "2024-05-04", "2024-05-03", "2024-05-02", "2024-05-01"}; !reflect.DeepEqual(order, want) {
		t.Errorf("import order %q, want %q", order, want)
	}
}

func TestRunPartitionsInOrder(t *testing.T) {
	var ins []Input
	for _, sym := range []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"} {
		for part := range 4 {
			p := fmt.Sprintf("exchange=binance/type=trades/date=2024-05-01/symbol=%s/part-%d.csv.gz", sym, part)
			ins = append(ins, Input{Path: p, Size: int64(10 - part), Info: tardis.ParsePath(p)})
		}
	}
	var mu sync.Mutex
	inFlight := map[string]int{}
	started := map[string][]string{}
	var peak atomic.Int32
	var cur atomic.Int32
	imp := func(ctx context.Context, in Input, _ func(int64, int64)) (FileResult, error) {
		mu.Lock()
		inFlight[in.Info.Symbol]++
		if inFlight[in.Info.Symbol] > 1 {
			t.Errorf("two files of %s at once", in.Info.Symbol)
		}
		started[in.Info.Symbol] = append(started[in.Info.Symbol], in.Path[len(in.Path)-13:])
		mu.Unlock()
		if n := cur.Add(1); n > peak.Load() {
			peak.Store(n)
		}
		time.Sleep(5 * time.Millisecond)
		cur.Add(-1)
		mu.Lock()
		inFlight[in.Info.Symbol]--
		mu.Unlock()
		return FileResult{}, nil
	}
	if _, err := Run(context.Background(), ins, Options{Jobs: 8, Import: imp}); err != nil {
		t.Fatal(err)
	}
	for sym, order := range started {
		if want := []string{"part-0.csv.gz", "part-1.csv.gz", "part-2.csv.gz", "part-3.csv.gz"}; !reflect.DeepEqual(order, want) {
			t.Errorf("%s: files in order %q, want %q", sym, order, want)
		}
	}
	if peak.Load() < 2 {
		t.Errorf("partitions were not imported in parallel (peak %d)", peak.Load())
	}
}

func TestRunFailFast(t *testing.T) {
	ins := inputs(6) // imported largest (last) first
	var calls atomic.Int32
	imp := func(ctx context.Context, in Input, _ func(int64, int64)) (FileResult, error) {
		calls.Add(1)
		if strings.Contains(in.Path, "05-05") {
			return FileResult{}, fmt.Errorf("%s:7: field \"price\" \"1e999\": out of range", in.Path)
		}
		return FileResult{Rows: 1}, nil
	}
	s, err := Run(context.Background(), ins, Options{Jobs: 1, FailFast: true, Import: imp})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d imports, want 2 (the 6th file, then the failing 5th)", calls.Load())
	}
	want := []Status{NotStarted, NotStarted, NotStarted, NotStarted, Failed, Imported}
	for i, f := range s.Files {
		if f.Status != want[i] {
			t.Errorf("%s: %v, want %v", f.File, f.Status, want[i])
		}
	}
	if s.Total.NotStarted != 4 || s.Total.Failed != 1 || len(s.Failures) != 1 {
		t.Errorf("total %+v, failures %v", s.Total, s.Failures)
	}

	// With two jobs the other file in flight is cancelled: not started, not failed.
	imp2 := func(ctx context.Context, in Input, _ func(int64, int64)) (FileResult, error) {
		if strings.Contains(in.Path, "05-05") {
			time.Sleep(10 * time.Millisecond)
			return FileResult{}, errors.New("bad")
		}
		<-ctx.Done()
		return FileResult{}, fmt.Errorf("%s: %w", in.Path, ctx.Err())
	}
	s, err = Run(context.Background(), ins, Options{Jobs: 2, FailFast: true, Import: imp2})
	if err != nil {
		t.Fatal(err)
	}
	if s.Total.Failed != 1 || s.Total.NotStarted != 5 {
		t.Errorf("jobs=2: total %+v", s.Total)
	}
	if f := s.Failures; len(f) != 1 || f[0].Error != ins[4].Path+": bad" {
		t.Errorf("failures %+v", f)
	}
}

func TestRunWithoutFailFast(t *testing.T) {
	ins := inputs(9)
	imp := func(ctx context.Context, in Input, _ func(int64, int64)) (FileResult, error) {
		// Small files finish first, so failures complete out of input order.
		time.Sleep(time.Duration(in.Size-1000) * time.Millisecond)
		if in.Size%3 == 0 { // the 3rd, 6th, 9th
			return FileResult{}, fmt.Errorf("%s:2: field \"amount\" \"x\": not a number", in.Path)
		}
		return FileResult{Rows: 5}, nil
	}
	s, err := Run(context.Background(), ins, Options{Jobs: 3, Import: imp})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range s.Failures {
		got = append(got, f.File)
	}
	if want := []string{ins[2].Path, ins[5].Path, ins[8].Path}; !reflect.DeepEqual(got, want) {
		t.Errorf("failures %q, want %q (input order)", got, want)
	}
	if s.Total.Imported != 6 || s.Total.Failed != 3 || s.Total.Rows != 30 {
		t.Errorf("total %+v", s.Total)
	}
}

func TestRunContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	imp := func(ctx context.Context, in Input, _ func(int64, int64)) (FileResult, error) {
		cancel()
		return FileResult{}, ctx.Err()
	}
	s, err := Run(ctx, inputs(4), Options{Jobs: 1, Import: imp})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	if s.Total.NotStarted != 4 || s.Total.Failed != 0 {
		t.Errorf("total %+v", s.Total)
	}
}

// recorder is a Reporter that keeps what it was told.
type recorder struct {
	mu              sync.Mutex
	started, closed bool
	done            []string
	snaps           []Snapshot
	p               *Progress
}

func (r *recorder) Started(p *Progress) { r.started, r.p = true, p }
func (r *recorder) FileDone(in Input, fr FileResult, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = append(r.done, fr.Status.String()+" "+in.Path)
}
func (r *recorder) Finished(*Summary) { r.closed = true }

func TestRunSummary(t *testing.T) {
	ins := []Input{
		{Path: "a/binance_trades_2024-05-01_BTCUSDT.csv.gz", Size: 100},
		{Path: "a/binance_trades_2024-05-02_BTCUSDT.csv.gz", Size: 200},
		{Path: "a/binance_trades_2024-05-03_BTCUSDT.csv.gz", Size: 20},
		{Path: "a/binance_quotes_2024-05-01_BTCUSDT.csv.gz", Size: 300},
		{Path: "a/binance_quotes_2024-05-02_BTCUSDT.csv.gz", Size: 400},
		{Path: "a/mystery.csv", Size: 50},
		{Path: "a/broken.csv", Size: 60},
	}
	for i := range ins {
		ins[i].Info = tardis.ParsePath(ins[i].Path)
	}
	rec := &recorder{}
	var midway Snapshot
	skip := func(in Input) (FileResult, bool) {
		return FileResult{}, strings.Contains(in.Path, "05-02")
	}
	imp := func(ctx context.Context, in Input, progress func(int64, int64)) (FileResult, error) {
		switch {
		case strings.Contains(in.Path, "05-03"):
			return FileResult{Status: NoData, BytesIn: 20}, nil
		case strings.Contains(in.Path, "mystery"):
			return FileResult{DataType: "book_ticker", Status: AlreadyImported, BytesIn: 50}, nil
		case strings.Contains(in.Path, "broken"):
			return FileResult{}, errors.New("open a/broken.csv: permission denied")
		}
		progress(in.Size/2, 3)
		if in.Size == 300 {
			midway = rec.p.Snapshot(nil)
		}
		return FileResult{Rows: 7, BytesIn: in.Size, BytesOnDisk: in.Size / 10, Stream: "s"}, nil
	}
	s, err := Run(context.Background(), ins, Options{Jobs: 1, Import: imp, Skip: skip, Report: rec})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.started || !rec.closed || len(rec.done) != len(ins) {
		t.Errorf("reporter: started %v, finished %v, %d files done", rec.started, rec.closed, len(rec.done))
	}
	// Jobs 1, largest first: 400 (skipped), 300 (in flight here), 200 (skipped) not yet.
	if want := (Snapshot{Files: 7, Done: 1, TotalBytes: 1130, Bytes: 550, WorkBytes: 150, Rows: 3, InFlight: []string{ins[3].Path}}); midway.Elapsed <= 0 ||
		!reflect.DeepEqual(withoutElapsed(midway), want) {
		t.Errorf("snapshot midway\n got %+v\nwant %+v", midway, want)
	}
	want := []TypeSummary{
		{"book_ticker", Counts{AlreadyImported: 1}},
		{"quotes", Counts{Imported: 1, Skipped: 1, Rows: 7, BytesIn: 300, BytesOnDisk: 30}},
		{"trades", Counts{Imported: 1, Skipped: 1, NoData: 1, Rows: 7, BytesIn: 120, BytesOnDisk: 10}},
		{"unknown", Counts{Failed: 1}},
	}
	if !reflect.DeepEqual(s.Types, want) {
		t.Errorf("types\n got %+v\nwant %+v", s.Types, want)
	}
	if wantTotal := (Counts{Imported: 2, AlreadyImported: 1, Skipped: 2, NoData: 1, Failed: 1, Rows: 14, BytesIn: 420, BytesOnDisk: 40}); s.Total != wantTotal {
		t.Errorf("total %+v, want %+v", s.Total, wantTotal)
	}
	if len(s.Failures) != 1 || s.Failures[0].Error != "open a/broken.csv: permission denied" {
		t.Errorf("failures %+v", s.Failures)
	}

	var b bytes.Buffer
	if err := s.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	table := strings.SplitAfter(b.String(), "\n")
	wantTable := []string{
		"data type    files  imported  skipped  no data  failed  not started  rows     in  on disk\n",
		"book_ticker      1         0        1        0       0            0     0    0 B      0 B\n",
		"quotes           2         1        1        0       0            0     7  300 B     30 B\n",
		"trades           3         1        1        1       0            0     7  120 B     10 B\n",
		"unknown          1         0        0        0       1            0     0    0 B      0 B\n",
		"total            7         2        3        1       1            0    14  420 B     40 B\n",
	}
	if !reflect.DeepEqual(table[:len(wantTable)], wantTable) {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), strings.Join(wantTable, ""))
	}
	if rest := strings.Join(table[len(wantTable):], ""); !strings.HasPrefix(rest, "7 files in ") ||
		!strings.HasSuffix(rest, " rows/s\n1 failed:\n  open a/broken.csv: permission denied\n") {
		t.Errorf("table ends %q", rest)
	}

	js, err := s.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Total    map[string]int64 `json:"total"`
		Failures []Failure        `json:"failures"`
		Files    []map[string]any `json:"files"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Total["skipped"] != 2 || back.Total["already_imported"] != 1 || back.Total["rows"] != 14 ||
		len(back.Failures) != 1 || back.Files[2]["status"] != "no data" || back.Files[0]["stream"] != "s" {
		t.Errorf("JSON %s", js)
	}
}

func withoutElapsed(s Snapshot) Snapshot {
	s.Elapsed = 0
	return s
}

func TestRunNeedsImport(t *testing.T) {
	if _, err := Run(context.Background(), nil, Options{}); err == nil {
		t.Error("Run without Import: no error")
	}
}
