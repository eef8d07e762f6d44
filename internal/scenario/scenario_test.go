package scenario

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/replay"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/timespec"
)

// The scenario: 3 days × 2 symbols × (incremental_book_L2, trades) on
// binance-futures. Each day's file holds two bursts, one from midnight and
// one that straddles noon (starting with a fresh snapshot, a reset, for the
// book), so that a window from one noon to the next cuts two days and a
// day has data far from its start. Both symbols come from the same seeds
// and share their timestamps: ties across inputs are the rule. Small row
// counts, small segments: several segments a day, a checkpoint every 100
// events.

const venue = "binance-futures"

var (
	days    = []string{"2024-05-01", "2024-05-02", "2024-05-03"}
	symbols = []struct{ name, mid string }{{"BTCUSDT", "60000"}, {"ETHUSDT", "3000"}}
	kinds   = []struct {
		tardis, stream string
		rows           string
		starts         []string // bursts, as times of the day
		args           []string
	}{
		{"incremental_book_L2", "book", "3000", []string{"T00:00:00Z", "T11:59:59.8Z"}, []string{"-depth", "50", "-resnap-every", "400"}},
		{"trades", "trades", "1000", []string{"T00:00:00Z", "T11:59:58.5Z"}, nil},
	}
)

// input is one stream of the scenario: its address and its source CSV per
// day.
type input struct {
	addr stream.Address
	csvs []string
}

type world struct {
	root   string
	inputs []input // sorted by address, as stream.SortInputs sorts
}

var (
	once   sync.Once
	shared *world
	skip   string
	failed error
	tmp    string // the scenario's files, removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

// scenario generates and imports the scenario once for all tests.
func scenario(t *testing.T) *world {
	t.Helper()
	once.Do(func() { shared, skip, failed = build() })
	if skip != "" {
		t.Skip(skip)
	}
	if failed != nil {
		t.Fatal(failed)
	}
	return shared
}

func build() (*world, string, error) {
	tools, _ := filepath.Abs("../../../shared/tools")
	if _, err := os.Stat(filepath.Join(tools, "tardisgen")); err != nil {
		return nil, fmt.Sprintf("skipping: the generator is absent at %s (it ships beside the repository in CI, not in it)", tools), nil
	}
	var err error
	if tmp, err = os.MkdirTemp("", "chronicle-scenario-"); err != nil {
		return nil, "", err
	}
	gen := filepath.Join(tmp, "tardisgen")
	cmd := exec.Command("go", "build", "-o", gen, "./tardisgen")
	cmd.Dir = tools
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Sprintf("skipping: cannot build the generator: %v\n%s", err, out), nil
	}
	w := &world{root: filepath.Join(tmp, "archive")}
	for _, sym := range symbols {
		for _, k := range kinds {
			in := input{addr: stream.Address{Venue: venue, Symbol: sym.name, Type: k.stream}}
			for di, day := range days {
				var body strings.Builder
				for bi, start := range k.starts {
					ns, err := timespec.Parse(day + start)
					if err != nil {
						return nil, "", err
					}
					args := append([]string{"-type", k.tardis, "-rows", k.rows, "-symbol", sym.name, "-mid", sym.mid,
						"-seed", strconv.Itoa(10*di + bi + 1), "-start-us", strconv.FormatInt(ns/1000, 10)}, k.args...)
					out, err := exec.Command(gen, args...).Output()
					if err != nil {
						return nil, "", fmt.Errorf("tardisgen %v: %v", args, err)
					}
					text := string(out)
					if bi > 0 {
						_, text, _ = strings.Cut(text, "\n") // one header
					}
					body.WriteString(text)
				}
				path := filepath.Join(tmp, venue+"_"+k.tardis+"_"+day+"_"+sym.name+".csv")
				if err := os.WriteFile(path, []byte(body.String()), 0o644); err != nil {
					return nil, "", err
				}
				res, err := ingest.Import(context.Background(), ingest.Options{
					Root: w.root, Input: path, SegmentSize: 32 << 10, CheckpointEvery: 100,
				})
				if err != nil {
					return nil, "", fmt.Errorf("import %s: %v", path, err)
				}
				if res.Segments < 2 {
					return nil, "", fmt.Errorf("%s: %d segment(s), want several", path, res.Segments)
				}
				in.csvs = append(in.csvs, path)
			}
			w.inputs = append(w.inputs, in)
		}
	}
	sort.Slice(w.inputs, func(i, j int) bool { return w.inputs[i].addr.String() < w.inputs[j].addr.String() })
	return w, "", nil
}

// item is one record as the tests compare it: its input, local timestamp
// and content, spelt the same way from the CSV and from the archive
// (numbers as exact rationals).
type item struct {
	input int
	ts    uint64 // ns
	what  string
}

func (it item) String() string {
	return fmt.Sprintf("input %d at %s: %.200s", it.input, timespec.Format(int64(it.ts)), it.what)
}

func rat(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("not a number: " + s)
	}
	return r.RatString()
}

func ratOf(m uint64, scale uint8) string {
	return new(big.Rat).SetFrac(new(big.Int).SetUint64(m), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)).RatString()
}

// csvRows reads a CSV file's rows as maps by column name.
func csvRows(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]string, 0, len(all)-1)
	for _, rec := range all[1:] {
		m := make(map[string]string, len(rec))
		for i, h := range all[0] {
			m[h] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

func localNS(t *testing.T, row map[string]string) uint64 {
	us, err := strconv.ParseUint(row["local_timestamp"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return us * 1000
}

// sourceItems reads one input's CSVs, day by day, on their own: a trade
// row is an item; book rows make one event per run of consecutive rows
// with the same local_timestamp and is_snapshot (Tardis's messages, cut
// where a message switches between snapshot and diff rows, as the
// importer does), each side's levels in row order.
func sourceItems(t *testing.T, idx int, in input) []item {
	var out []item
	for _, path := range in.csvs {
		rows := csvRows(t, path)
		if in.addr.Type == "trades" {
			for _, r := range rows {
				out = append(out, item{idx, localNS(t, r), "trade " + r["id"] + " " + r["side"] + " " + rat(r["price"]) + " " + rat(r["amount"])})
			}
			continue
		}
		for i := 0; i < len(rows); {
			ts, snap := localNS(t, rows[i]), rows[i]["is_snapshot"]
			var bids, asks []string
			j := i
			for ; j < len(rows) && localNS(t, rows[j]) == ts && rows[j]["is_snapshot"] == snap; j++ {
				l := rat(rows[j]["price"]) + "@" + rat(rows[j]["amount"])
				if rows[j]["side"] == "bid" {
					bids = append(bids, l)
				} else {
					asks = append(asks, l)
				}
			}
			kind := "diff"
			if snap == "true" {
				kind = "snapshot"
			}
			out = append(out, item{idx, ts, eventText(kind, bids, asks)})
			i = j
		}
	}
	return out
}

func eventText(kind string, bids, asks []string) string {
	return kind + " bids " + strings.Join(bids, ",") + " asks " + strings.Join(asks, ",")
}

func eventItem(idx int, ev *protocol.Event) item {
	side := func(ls []protocol.Level) []string {
		var s []string
		for _, l := range ls {
			s = append(s, ratOf(l.Price, ev.PriceScale)+"@"+ratOf(l.Size, ev.SizeScale))
		}
		return s
	}
	return item{idx, ev.IngestTS, eventText(ev.Type.String(), side(ev.Bids), side(ev.Asks))}
}

var sideNames = map[uint64]string{record.SideBuy: "buy", record.SideSell: "sell", record.SideUnknown: "unknown"}

func recordItem(idx int, rec *record.Record) item {
	f := func(name string) *record.Value { return &rec.Fields[rec.Type.Field(name)] }
	dec := func(name string) string { v := f(name); return ratOf(uint64(v.I), v.Scale) }
	return item{idx, rec.LocalTS, "trade " + string(f("id").B) + " " + sideNames[f("side").U] + " " + dec("price") + " " + dec("amount")}
}

// referenceMerge merges the inputs' items on its own terms: by local
// timestamp, then input (in address order), then source order.
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

// same compares a read with its reference, naming the first difference.
func same(t *testing.T, what string, got, want []item) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: record %d of %d:\n got %v\nwant %v", what, i, len(want), got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
}

func (w *world) sources(t *testing.T) [][]item {
	per := make([][]item, len(w.inputs))
	for i, in := range w.inputs {
		per[i] = sourceItems(t, i, in)
	}
	return per
}

func (w *world) merged(t *testing.T, r timespec.Range) []item {
	t.Helper()
	ins := make([]stream.Input, len(w.inputs))
	// Given in reverse: SortInputs puts them in the documented order.
	for i, in := range w.inputs {
		ins[len(ins)-1-i] = stream.Input{Address: in.addr, Range: r}
	}
	stream.SortInputs(ins)
	m, err := stream.OpenMerged(nil, w.root, ins)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var out []item
	for {
		it, err := m.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.Address != w.inputs[it.Input].addr {
			t.Fatalf("item of input %d says %v", it.Input, it.Address)
		}
		if it.Event != nil {
			out = append(out, eventItem(it.Input, it.Event))
		} else {
			out = append(out, recordItem(it.Input, it.Record))
		}
		if out[len(out)-1].ts != it.LocalTS {
			t.Fatalf("item at %d holds a record at %d", it.LocalTS, out[len(out)-1].ts)
		}
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

// TestMergedReplay: the merged replay of everything yields every record
// exactly once, in nondecreasing local time, equal in count, order and
// content to the reference merge of the source CSVs.
func TestMergedReplay(t *testing.T) {
	w := scenario(t)
	per := w.sources(t)
	got := w.merged(t, timespec.Range{})
	want := referenceMerge(per, timespec.Range{})
	for i := 1; i < len(got); i++ {
		if got[i].ts < got[i-1].ts {
			t.Fatalf("record %d at %d after one at %d", i, got[i].ts, got[i-1].ts)
		}
	}
	same(t, "merged replay", got, want)
	// The tie-break is exercised: records of different inputs at one time.
	ties, total := 0, 0
	for i := 1; i < len(want); i++ {
		if want[i].ts == want[i-1].ts && want[i].input != want[i-1].input {
			ties++
		}
	}
	for _, items := range per {
		total += len(items)
	}
	if total != len(want) || ties == 0 {
		t.Fatalf("%d records in the sources, %d merged, %d ties across inputs", total, len(want), ties)
	}
	t.Logf("%d records of %d inputs over %d days, %d ties across inputs", len(want), len(w.inputs), len(days), ties)

	// And over a window that cuts two days.
	r := mustRange(t, "2024-05-01T12:00:00Z", "2024-05-02T12:00:00Z")
	same(t, "merged replay of the window", w.merged(t, r), referenceMerge(per, r))
}

// TestWindow: each stream read over [D1T12:00, D2T12:00) by its address
// gives exactly its source rows in that window, from both days; and so
// does a window whose bounds are the timestamps of records (the one at
// From is in, the one at To is out).
func TestWindow(t *testing.T) {
	w := scenario(t)
	per := w.sources(t)
	noon := mustRange(t, "2024-05-01T12:00:00Z", "2024-05-02T12:00:00Z")
	for i, in := range w.inputs {
		t.Run(in.addr.String(), func(t *testing.T) {
			dirs, err := stream.Resolve(nil, w.root, in.addr.String(), noon)
			if err != nil {
				t.Fatal(err)
			}
			if len(dirs) != 2 || !strings.Contains(dirs[0], days[0]) || !strings.Contains(dirs[1], days[1]) {
				t.Fatalf("Resolve: %v, want the days %s and %s", dirs, days[0], days[1])
			}
			want := referenceMerge(per[i:i+1], noon)
			same(t, "noon to noon", readRange(t, w.root, i, in.addr, noon), want)
			// The window holds the end of day 1's noon burst and the
			// beginning of day 2's.
			d1, d2 := 0, 0
			for _, it := range want {
				if it.ts < uint64(noon.From)+12*3600e9 {
					d1++
				} else {
					d2++
				}
			}
			if d1 == 0 || d2 == 0 || len(want) == len(per[i]) {
				t.Fatalf("window of %d of %d records: %d on day 1, %d on day 2", len(want), len(per[i]), d1, d2)
			}

			src := per[i]
			exact := timespec.Range{From: int64(src[len(src)/3].ts), To: int64(src[2*len(src)/3].ts), HasFrom: true, HasTo: true}
			want = referenceMerge(per[i:i+1], exact)
			if want[0].ts != uint64(exact.From) || want[len(want)-1].ts >= uint64(exact.To) {
				t.Fatalf("the reference window is wrong: %v .. %v", want[0], want[len(want)-1])
			}
			same(t, "a window between records", readRange(t, w.root, i, in.addr, exact), want)
		})
	}
}

// readRange reads one stream over r by its address, with the range reader
// of its kind.
func readRange(t *testing.T, root string, idx int, addr stream.Address, r timespec.Range) []item {
	t.Helper()
	dirs, err := stream.Resolve(nil, root, addr.String(), r)
	if err != nil {
		t.Fatal(err)
	}
	var got []item
	if addr.Type == "book" {
		er, err := stream.OpenEventsRange(nil, dirs, r)
		if err != nil {
			t.Fatal(err)
		}
		defer er.Close()
		for {
			ev, err := er.Next()
			if err == io.EOF {
				return got
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, eventItem(idx, ev))
		}
	}
	rr, err := stream.OpenRecordsRange(nil, dirs, r)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	for {
		rec, err := rr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recordItem(idx, rec))
	}
}

// refBook rebuilds a book from CSV rows on its own: Tardis's rules (a run
// of snapshot rows after other rows resets the book, updates before the
// first snapshot are ignored, amount 0 removes), big.Rat maps.
type refBook struct {
	sides     [2]map[string]*big.Rat // bid, ask: price -> amount
	prices    [2]map[string]*big.Rat
	seen      bool
	prevSnap  bool
	lastLocal uint64
}

func newRefBook() *refBook {
	return &refBook{sides: [2]map[string]*big.Rat{{}, {}}, prices: [2]map[string]*big.Rat{{}, {}}}
}

func (b *refBook) apply(t *testing.T, row map[string]string) {
	snap := row["is_snapshot"] == "true"
	if snap && !b.prevSnap {
		for i := range b.sides {
			clear(b.sides[i])
			clear(b.prices[i])
		}
		b.seen = true
	}
	b.prevSnap = snap
	b.lastLocal = localNS(t, row)
	if !b.seen {
		return
	}
	s := 1
	if row["side"] == "bid" {
		s = 0
	}
	p, _ := new(big.Rat).SetString(row["price"])
	a, _ := new(big.Rat).SetString(row["amount"])
	k := p.RatString()
	if a.Sign() == 0 {
		delete(b.sides[s], k)
		delete(b.prices[s], k)
		return
	}
	b.sides[s][k], b.prices[s][k] = a, p
}

// levels lists a side best first, as "price@amount".
func (b *refBook) levels(s int) []string {
	keys := make([]string, 0, len(b.prices[s]))
	for k := range b.prices[s] {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		c := b.prices[s][keys[i]].Cmp(b.prices[s][keys[j]])
		if s == 0 {
			return c > 0
		}
		return c < 0
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "@" + b.sides[s][k].RatString()
	}
	return out
}

func bookLevels(b *book.Book, s book.Side) []string {
	ps, ss := b.Scales()
	var out []string
	for l := range b.All(s) {
		out = append(out, ratOf(l.Price, ps)+"@"+ratOf(l.Size, ss))
	}
	return out
}

// TestBookAcrossDays: the book at a moment T of day 2, from the library
// (replay.BookAt on the day T falls in, with and without checkpoints, and
// a book.Replayer over stream.OpenEventsRange of days 1-2 up to T), equals
// the book a replay of the source rows of days 1-2 up to T gives.
func TestBookAcrossDays(t *testing.T) {
	w := scenario(t)
	for _, at := range []string{
		"2024-05-02T00:00:00.123456Z", // in the midnight burst
		"2024-05-02T06:00:00Z",        // between bursts: the end of the first
		"2024-05-02T12:00:00.1Z",      // in the noon burst, after its reset
	} {
		for i, in := range w.inputs {
			if in.addr.Type != "book" {
				continue
			}
			t.Run(in.addr.String()+"@"+at, func(t *testing.T) {
				T, err := timespec.Parse(at)
				if err != nil {
					t.Fatal(err)
				}
				ref := newRefBook()
				rows := 0
				for _, path := range w.inputs[i].csvs[:2] {
					for _, row := range csvRows(t, path) {
						if localNS(t, row) > uint64(T) {
							break
						}
						ref.apply(t, row)
						rows++
					}
				}
				want := [2][]string{ref.levels(0), ref.levels(1)}
				if len(want[0]) == 0 || len(want[1]) == 0 {
					t.Fatalf("the reference book at %s is empty on a side", at)
				}
				check := func(how string, b *book.Book) {
					t.Helper()
					for s, side := range []book.Side{book.Bid, book.Ask} {
						if got := bookLevels(b, side); !slices.Equal(got, want[s]) {
							t.Fatalf("%s: %v side: %d levels %.300v\nwant %d levels %.300v", how, side, len(got), got, len(want[s]), want[s])
						}
					}
				}

				// The range reader over days 1-2 up to T (To is exclusive).
				r := timespec.Range{HasTo: true, To: T + 1}
				dirs, err := stream.Resolve(nil, w.root, in.addr.String(), r)
				if err != nil {
					t.Fatal(err)
				}
				if len(dirs) != 2 {
					t.Fatalf("Resolve up to %s: %v", at, dirs)
				}
				er, err := stream.OpenEventsRange(nil, dirs, r)
				if err != nil {
					t.Fatal(err)
				}
				defer er.Close()
				rep := book.NewReplayer(book.Options{})
				var last uint64
				for {
					ev, err := er.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if err := rep.Apply(ev); err != nil {
						t.Fatal(err)
					}
					last = ev.IngestTS
				}
				if last != ref.lastLocal {
					t.Fatalf("range replay ends at %d, the rows at %d", last, ref.lastLocal)
				}
				check("range replay of days 1-2", rep.Book())

				// The day T falls in, from its nearest checkpoint, and
				// from its start: each day's file starts with a snapshot.
				for _, o := range []replay.Options{{}, {NoCheckpoints: true}} {
					b, ts, err := replay.BookAt(dirs[1], uint64(T), o)
					if err != nil {
						t.Fatal(err)
					}
					if ts != ref.lastLocal {
						t.Fatalf("BookAt(%+v): last event at %d, the rows' at %d", o, ts, ref.lastLocal)
					}
					check(fmt.Sprintf("BookAt(%+v)", o), b)
				}
				t.Logf("%d rows up to %s: %d bids, %d asks", rows, at, len(want[0]), len(want[1]))
			})
		}
	}
}
