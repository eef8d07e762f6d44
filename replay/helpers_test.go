package replay_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/protocol"
)

const (
	binanceCSV = "../testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv"
	deribitCSV = "../testdata/deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.nautilus15.csv"
	// toolsDir holds the shared data generator (present in CI, perhaps not
	// for a user of the project).
	toolsDir = "../../shared/tools"
)

// genDir holds generated inputs shared by the tests of one run.
var genDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "chronicle-replay-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	genDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

type importCfg struct {
	compress    bool
	segmentSize int64
	every       int // 0: default; < 0: none
}

func importCSV(t testing.TB, csvPath string, c importCfg) string {
	t.Helper()
	res, err := ingest.Import(context.Background(), ingest.Options{
		Root: t.TempDir(), Input: csvPath,
		Compress: c.compress, SegmentSize: c.segmentSize, CheckpointEvery: max(c.every, 0), NoCheckpoints: c.every < 0,
	})
	if err != nil {
		t.Fatalf("import %s: %v", csvPath, err)
	}
	return res.Dir
}

var tardisgenMu sync.Mutex

// tardisgen writes (once per run) a file from the shared generator, or
// skips the test when the generator is absent.
func tardisgen(t testing.TB, rows, resnap int) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(toolsDir, "tardisgen")); err != nil {
		t.Skipf("skipping: the data generator %s/tardisgen is absent (%v)", toolsDir, err)
	}
	tardisgenMu.Lock()
	defer tardisgenMu.Unlock()
	path := filepath.Join(genDir, fmt.Sprintf("binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.%d.%d.csv", rows, resnap))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./tardisgen", "-rows", fmt.Sprint(rows), "-resnap-every", fmt.Sprint(resnap))
	cmd.Dir = toolsDir
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	f.Close()
	if err != nil {
		t.Fatalf("tardisgen: %v\n%s", err, stderr.String())
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// synthCSV writes a small but nasty incremental_book_L2 file: diffs before
// the first snapshot, exchange timestamps that go backwards (within and
// across messages, some missing), messages mixing diff and snapshot rows,
// snapshot resets, removals of absent levels, a price scale that grows
// mid-file (0.5 then 0.25 ticks), sizes in exponent notation, repeated
// prices within a message, snapshots sent as two messages (bids, then asks
// at a later local_timestamp) and snapshot messages in a row: Tardis reads
// a run of snapshot rows as one reset, whatever their timestamps.
func synthCSV(t testing.TB, seed int64, messages int) string {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	path := filepath.Join(t.TempDir(), "binance_incremental_book_L2_2024-05-01_SYNTH.csv")
	var b strings.Builder
	b.WriteString("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n")
	local := int64(1714521600000000)
	mid := int64(4 * 60000) // in quarter ticks
	quarters := false
	price := func(q int64) string {
		if !quarters {
			q &^= 1 // halves only until the scale grows
		}
		s := fmt.Sprint(q / 4)
		switch q % 4 {
		case 1:
			s += ".25"
		case 2:
			s += ".5"
		case 3:
			s += ".75"
		}
		return s
	}
	lotSize := func() string {
		lots := 1 + r.Intn(5000)
		s := fmt.Sprintf("%d.%03d", lots/1000, lots%1000)
		return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	size := func() string {
		switch x := r.Intn(20); {
		case x < 3:
			return "0"
		case x == 3:
			return fmt.Sprintf("%de-7", 1+r.Intn(9))
		}
		return lotSize()
	}
	row := func(snap bool, side string, p, amount string) {
		ts := local - int64(r.Intn(5000))
		if r.Intn(50) == 0 {
			ts = 0 // no exchange time: local time stands in
		}
		b.WriteString("binance,SYNTH,")
		b.WriteString(strconv.FormatInt(ts, 10))
		b.WriteByte(',')
		b.WriteString(strconv.FormatInt(local, 10))
		b.WriteByte(',')
		b.WriteString(strconv.FormatBool(snap))
		b.WriteByte(',')
		b.WriteString(side)
		b.WriteByte(',')
		b.WriteString(p)
		b.WriteByte(',')
		b.WriteString(amount)
		b.WriteByte('\n')
	}
	snapshot := func(split bool) {
		for i := range 20 + r.Intn(150) {
			row(true, "bid", price(mid-2-2*int64(i)), lotSize())
		}
		if split {
			local += 1 + int64(r.Intn(1000)) // the asks come as the next message
		}
		for i := range 20 + r.Intn(150) {
			row(true, "ask", price(mid+2*int64(i)), lotSize())
		}
	}
	diffs := func(n int) {
		for range n {
			off := int64(r.ExpFloat64() * 20)
			if r.Intn(2) == 0 {
				row(false, "bid", price(mid-1-off), size())
			} else {
				row(false, "ask", price(mid+off), size())
			}
		}
	}
	for m := range messages {
		local += 1 + int64(r.Intn(1000))
		if m == messages*2/5 {
			quarters = true
		}
		mid += int64(r.Intn(5)) - 2
		switch x := r.Intn(100); {
		case m < 5:
			diffs(1 + r.Intn(3)) // ignored: no snapshot yet
		case m == 5, x < 2:
			snapshot(r.Intn(2) == 0)
		case x < 4:
			diffs(1 + r.Intn(3)) // one message: diff, snapshot, diff rows
			snapshot(false)
			diffs(1 + r.Intn(3))
		default:
			diffs(1 + int(r.ExpFloat64()*6))
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// bookTop is the top n of each side of a chronicle book, in the
// reference's notation.
func bookTop(b *book.Book, n int) (bids, asks []string) {
	ps, ss := b.Scales()
	var buf []byte
	text := func(l protocol.Level) string {
		buf = appendFixed(buf[:0], l.Price, ps)
		buf = append(buf, ' ')
		buf = appendFixed(buf, l.Size, ss)
		return string(buf)
	}
	for l := range b.All(book.Bid) {
		if len(bids) == n {
			break
		}
		bids = append(bids, text(l))
	}
	for l := range b.All(book.Ask) {
		if len(asks) == n {
			break
		}
		asks = append(asks, text(l))
	}
	return bids, asks
}

// diffLevels describes the first difference between two level lists.
func diffLevels(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("level %d: got %q, want %q (got %d levels, want %d)", i, g, w, len(got), len(want))
		}
	}
	return ""
}
