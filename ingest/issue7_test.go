package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/tardis"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Tests for issue 7 (items 2, 3, 4, 7, 8): each failed before its fix.

const csvHeader = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"

func writeInput(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(csvHeader+body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustExist(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("%s was removed: %v", path, err)
	}
}

// Item 2: nothing is deleted through a symlink or because it does not parse.
func TestSymlinkedStreamDirIsRefusedAndNothingDeleted(t *testing.T) {
	root := t.TempDir()
	p := archive.Partition{Venue: "binance", Symbol: "BTCUSDT", Date: "2019-12-01", Stream: "book"}
	elsewhere := t.TempDir()
	victim := filepath.Join(elsewhere, "precious.tmp")
	os.WriteFile(victim, []byte("not Chronicle's"), 0o644)
	os.MkdirAll(filepath.Dir(p.Dir(root)), 0o755)
	if err := os.Symlink(elsewhere, p.Dir(root)); err != nil {
		t.Fatal(err)
	}
	_, err := Import(context.Background(), importOpts(root, sample))
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("got %v, want a refusal naming the symbolic link", err)
	}
	mustExist(t, victim)
	// --force does not follow it either.
	o := importOpts(root, sample)
	o.Force = true
	if _, err := Import(context.Background(), o); err == nil {
		t.Fatal("--force imported through a symlinked stream directory")
	}
	mustExist(t, victim)
}

func TestSymlinkedLedgerDirIsRefused(t *testing.T) {
	root := t.TempDir()
	p := archive.Partition{Venue: "binance", Symbol: "BTCUSDT", Date: "2019-12-01", Stream: "book"}
	elsewhere := t.TempDir()
	victim := filepath.Join(elsewhere, "config.json")
	os.WriteFile(victim, []byte(`{"not": "a ledger entry"}`), 0o644)
	os.MkdirAll(filepath.Dir(p.LedgerDir(root)), 0o755)
	if err := os.Symlink(elsewhere, p.LedgerDir(root)); err != nil {
		t.Fatal(err)
	}
	_, err := Import(context.Background(), importOpts(root, sample))
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("got %v, want a refusal naming the symbolic link", err)
	}
	mustExist(t, victim)
	if _, err := os.Stat(p.Dir(root)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the stream was published though its ledger could not be written: %v", err)
	}
}

func TestUnparsableLedgerFileIsKept(t *testing.T) {
	root := t.TempDir()
	res := mustImport(t, importOpts(root, sample))
	dir := res.Partition.LedgerDir(root)
	keep := []string{
		filepath.Join(dir, "notes.json"),
		filepath.Join(dir, strings.Repeat("a", 64)+".json"),              // a name of no stream
		filepath.Join(dir, strings.Repeat("b", 64)+".other-stream.json"), // another stream's
	}
	for _, k := range keep {
		os.WriteFile(k, []byte("{broken"), 0o644)
	}
	o := importOpts(root, sample)
	o.Force = true
	mustImport(t, o)
	for _, k := range keep {
		mustExist(t, k)
	}
	// A replaced entry of this very stream is Chronicle's and goes.
	stale := res.Partition.LedgerPath(root, strings.Repeat("c", 64))
	os.WriteFile(stale, []byte("{broken"), 0o644)
	mustImport(t, o)
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale entry of the stream kept: %v", err)
	}
}

// Item 3: symbols with characters Tardis replaces in file names.
func TestSymbolsWithSlashAndColon(t *testing.T) {
	const ts = "1609459200000000" // 2021-01-01
	for _, tc := range []struct {
		exact, file, flag string
	}{
		{"BTC/USD", "BTC-USD", ""},
		{"BTC/USD", "BTC-USD", "BTC-USD"},
		{"BTC/USD", "BTC-USD", "BTC/USD"},
		{"BTC:USD", "BTC-USD", ""},
		{"BTC:USD", "BTC-USD", "BTC-USD"},
		{"BTC:USD", "BTC-USD", "BTC:USD"},
		{"ETH-PERP", "ETH-PERP", ""},
	} {
		t.Run(tc.exact+"/"+tc.flag, func(t *testing.T) {
			in := writeInput(t, "ftx_incremental_book_L2_2021-01-01_"+tc.file+".csv",
				"ftx,"+tc.exact+","+ts+","+ts+",true,bid,1,1\n")
			root := t.TempDir()
			o := importOpts(root, in)
			o.Symbol = tc.flag
			res := mustImport(t, o)
			if res.Partition.Symbol != tc.file {
				t.Fatalf("stored under %q, want %q", res.Partition.Symbol, tc.file)
			}
			m, err := archive.ReadMeta(nil, res.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if m.Symbol != tc.exact || m.SymbolCode != tc.file || m.MarketID != protocol.MarketID(tc.exact) {
				t.Fatalf("meta symbol %q code %q market_id %d, want %q %q %d", m.Symbol, m.SymbolCode, m.MarketID, tc.exact, tc.file, protocol.MarketID(tc.exact))
			}
			if rep, err := stream.Verify(nil, res.Dir); err != nil || !rep.OK() {
				t.Fatalf("verify: %v %v", err, rep.Problems)
			}
		})
	}
	// Another symbol than the column's is still refused.
	in := writeInput(t, "ftx_incremental_book_L2_2021-01-01_BTC-USD.csv", "ftx,BTC/USD,"+ts+","+ts+",true,bid,1,1\n")
	o := importOpts(t.TempDir(), in)
	o.Symbol = "ETH/USD"
	if _, err := Import(context.Background(), o); err == nil {
		t.Fatal("--symbol ETH/USD accepted for a BTC/USD file")
	}
}

func TestControlCharactersInNamesAreRefused(t *testing.T) {
	for _, tc := range []struct{ name string }{{"symbol"}, {"stream"}, {"venue"}} {
		for _, bad := range []string{"A\x00B", "A\nB", "A\x7fB"} {
			o := importOpts(t.TempDir(), sample)
			switch tc.name {
			case "symbol":
				o.Symbol = bad
			case "stream":
				o.Stream = bad
			case "venue":
				o.Venue = bad
			}
			_, err := Import(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), "control character") {
				t.Errorf("%s %q: got %v, want a refusal naming the control character", tc.name, bad, err)
			}
		}
	}
}

// Item 4: a timestamp past 2262 is refused, never filed under a wrapped date.
func TestTimestampPast2262IsNeverWrapped(t *testing.T) {
	const ts = "10000000000000000" // µs: 2286-11-20
	for _, name := range []string{"binance_incremental_book_L2_2286-11-20_BTCUSDT.csv", "binance_BTCUSDT_2286.csv"} {
		in := writeInput(t, name, "binance,BTCUSDT,"+ts+","+ts+",true,bid,1,1\n")
		root := t.TempDir()
		res, err := Import(context.Background(), importOpts(root, in))
		if err == nil {
			t.Fatalf("%s: imported into %s; want a refusal (ns past 2^63)", name, res.Partition)
		}
		if !strings.Contains(err.Error(), "line 2") && !strings.Contains(err.Error(), name+":2:") {
			t.Errorf("%s: error %q does not name line 2", name, err)
		}
		if _, serr := os.Stat(filepath.Join(root, "v1", "binance", "BTCUSDT", "1702-05-02")); serr == nil {
			t.Fatalf("%s: filed under 1702", name)
		}
	}
	if _, err := archive.NSTime(1 << 63); err == nil {
		t.Fatal("archive.NSTime(2^63) did not fail")
	}
}

// Item 7: the same file with other options.
func TestSameFileWithOtherOptions(t *testing.T) {
	root := t.TempDir()
	res := mustImport(t, importOpts(root, sample))
	before := snapshotTree(t, root)
	for _, tc := range []struct {
		flag string
		set  func(*Options)
	}{
		{"--venue-id", func(o *Options) { o.VenueID = ptr[uint16](77) }},
		{"--market-id", func(o *Options) { o.MarketID = ptr[uint32](5) }},
		{"--price-scale", func(o *Options) { o.PriceScale = tardis.FixedScale(9) }},
		{"--size-scale", func(o *Options) { o.SizeScale = tardis.FixedScale(9) }},
		{"--segment-size", func(o *Options) { o.SegmentSize = 1 << 16 }},
		{"--checkpoint-every", func(o *Options) { o.CheckpointEvery = 7 }},
	} {
		o := importOpts(root, sample)
		tc.set(&o)
		r, err := Import(context.Background(), o)
		if err == nil {
			t.Errorf("%s: got %+v, want an error", tc.flag, r)
			continue
		}
		if !strings.Contains(err.Error(), tc.flag) || !strings.Contains(err.Error(), "--force") {
			t.Errorf("%s: error %q does not name the option and --force", tc.flag, err)
		}
		sameTree(t, before, snapshotTree(t, root))
	}
	// The options it was imported with, given explicitly, change nothing.
	o := importOpts(root, sample)
	o.VenueID, o.SegmentSize, o.CheckpointEvery = ptr[uint16](1), DefaultSegmentSize, book.DefaultEvery
	if r := mustImport(t, o); !r.AlreadyImported || r.Compressed {
		t.Fatalf("same options: %+v, want already imported", r)
	}
	sameTree(t, before, snapshotTree(t, root))

	// --compress compresses the plain stream, and says so.
	o = importOpts(root, sample)
	o.Compress = true
	r := mustImport(t, o)
	if r.AlreadyImported || !r.Compressed {
		t.Fatalf("--compress on a plain stream: %+v, want Compressed", r)
	}
	m, err := archive.ReadMeta(nil, res.Dir)
	if err != nil || !m.Compressed {
		t.Fatalf("meta after --compress: %+v %v", m, err)
	}
	if ids, _ := filepath.Glob(filepath.Join(res.Dir, "*.q")); len(ids) != 0 {
		t.Fatalf("plain segments left: %v", ids)
	}
	if rep, err := stream.Verify(nil, res.Dir); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
	// Again: nothing to do.
	if r := mustImport(t, o); !r.AlreadyImported {
		t.Fatalf("--compress on a compressed stream: %+v, want already imported", r)
	}
}

// Item 8: a pipe is read once.
func TestImportFromPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "input")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no fifo here: %v", err)
	}
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(data)
		f.Close()
	}()
	root := t.TempDir()
	o := importOpts(root, fifo)
	// Telling the type from the header would consume the pipe: it must be
	// given, and is checked before anything is read.
	if _, err := Import(context.Background(), o); err == nil || !strings.Contains(err.Error(), "pass --type") {
		t.Fatalf("pipe without a type: %v, want an error asking for --type", err)
	}
	o.Type = "incremental_book_L2"
	o.Date = "2019-12-01" // venue and symbol from the columns
	res := mustImport(t, o)
	want, _, _ := archive.HashFile(nil, sample)
	if res.Rows != 2050 || res.FileHash != want {
		t.Fatalf("rows %d hash %s, want 2050 and the file's %s", res.Rows, res.FileHash, want)
	}
	// The same bytes from the file are the same input.
	if r := mustImport(t, importOpts(root, sample)); !r.AlreadyImported {
		t.Fatalf("file after pipe: %+v, want already imported", r)
	}
}

func TestTwoStreamsOfOneFileKeepTheirLedgers(t *testing.T) {
	root := t.TempDir()
	oa, ob := importOpts(root, sample), importOpts(root, sample)
	oa.Stream, ob.Stream = "a", "b"
	ra, rb := mustImport(t, oa), mustImport(t, ob)
	for _, r := range []*Result{ra, rb} {
		l, err := archive.ReadLedger(nil, root, r.Partition, r.FileHash)
		if err != nil {
			t.Fatalf("stream %s: %v", r.Partition.Stream, err)
		}
		if l.Stream != r.Partition.Stream {
			t.Fatalf("entry of %s says stream %s", r.Partition.Stream, l.Stream)
		}
		if rep, err := stream.Verify(nil, r.Dir); err != nil || !rep.OK() || len(rep.Notes) > 0 {
			t.Fatalf("verify %s: %v %v %v", r.Dir, err, rep.Problems, rep.Notes)
		}
	}
	// --force on a keeps b's entry.
	oa.Force = true
	mustImport(t, oa)
	if _, err := archive.ReadLedger(nil, root, rb.Partition, rb.FileHash); err != nil {
		t.Fatalf("b's entry lost by a --force import of a: %v", err)
	}
}

func TestDateMustMatchTheData(t *testing.T) {
	// sample's first local_timestamp is 2019-12-01.
	o := importOpts(t.TempDir(), sample)
	o.Date = "2019-12-02"
	_, err := Import(context.Background(), o)
	if err == nil {
		t.Fatal("--date 2019-12-02 accepted for a 2019-12-01 file")
	}
	for _, want := range []string{filepath.Base(sample), ":2: local_timestamp", "2019-12-01", "2019-12-02"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	in := writeInput(t, "binance_incremental_book_L2_2019-12-02_BTCUSDT.csv", "binance,BTCUSDT,1575158400000000,1575158400000000,true,bid,1,1\n")
	if _, err := Import(context.Background(), importOpts(t.TempDir(), in)); err == nil || !strings.Contains(err.Error(), "file name") {
		t.Fatalf("a file named for 2019-12-02 holding 2019-12-01: %v", err)
	}
}

// editMeta rewrites one field of dir/meta.json.
func editMeta(t testing.TB, dir string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, archive.MetaName)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyMetaEdits(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(map[string]any)
		want  string
	}{
		{"compressed", func(m map[string]any) { m["compressed"] = true }, "compressed"},
		{"source_hash", func(m map[string]any) { m["source_hash"] = strings.Repeat("0", 64) }, "source_hash"},
	} {
		root := t.TempDir()
		res := mustImport(t, importOpts(root, sample))
		editMeta(t, res.Dir, tc.edit)
		rep, err := stream.Verify(nil, res.Dir)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range rep.Problems {
			found = found || strings.Contains(p.Error(), tc.want)
		}
		if !found {
			t.Errorf("edit of %s: problems %v notes %v, want one naming %s", tc.field, rep.Problems, rep.Notes, tc.want)
		}
	}
}

const futures = "../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz"

func TestVerifySummarisesRepeatedProblems(t *testing.T) {
	root := t.TempDir()
	res := mustImport(t, importOpts(root, futures))
	editMeta(t, res.Dir, func(m map[string]any) { m["venue_id"] = 9 })
	rep, err := stream.Verify(nil, res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var venue *archive.ProblemKind
	for _, k := range rep.Summary() {
		if strings.Contains(k.First[0].Error(), "venue_id") {
			venue = &k
		}
	}
	if venue == nil || venue.Count != int(res.Events) || len(venue.First) != archive.MaxPlaces {
		t.Fatalf("summary %+v, want one venue_id kind with %d problems and %d places", rep.Summary(), res.Events, archive.MaxPlaces)
	}
	if len(rep.Summary()) != 1 {
		t.Fatalf("%d kinds for one edited field: %+v", len(rep.Summary()), rep.Summary())
	}
}

// quotaFS fails writes with ENOSPC once the files under root would take
// more than quota bytes (hard links counted once).
type quotaFS struct {
	vfs.FS
	root  string
	quota int64
}

type quotaFile struct {
	vfs.File
	q *quotaFS
}

func (q *quotaFS) used() int64 {
	seen := map[uint64]bool{}
	var n int64
	filepath.WalkDir(q.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok && !seen[st.Ino] {
				seen[st.Ino] = true
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func (q *quotaFS) Create(name string) (vfs.File, error) {
	f, err := q.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &quotaFile{f, q}, nil
}

func (f *quotaFile) Write(p []byte) (int, error) {
	if f.q.used()+int64(len(p)) > f.q.quota {
		return 0, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

func (f *quotaFile) WriteAt(p []byte, off int64) (int, error) {
	if f.q.used()+int64(len(p)) > f.q.quota {
		return 0, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

// Item 8: compress needs room for one compressed segment, not all of them.
func TestCompressNeedsRoomForOneSegment(t *testing.T) {
	o := importOpts(t.TempDir(), futures)
	o.SegmentSize, o.NoCheckpoints = 256<<10, true
	ref := mustImport(t, o)
	if ref.Segments < 5 {
		t.Fatalf("%d segments; the test needs several", ref.Segments)
	}
	root := t.TempDir()
	o.Root = root
	res := mustImport(t, o)
	q := &quotaFS{FS: vfs.Default, root: root}
	base := q.used()
	// Sizes of each compressed segment, from an unconstrained run.
	if err := archive.Compress(context.Background(), nil, ref.Dir); err != nil {
		t.Fatal(err)
	}
	var largest, all int64
	ents, _ := os.ReadDir(ref.Dir)
	sizes := map[uint32]int64{}
	for _, e := range ents {
		if id, kind, ok := segment.ParseName(e.Name()); ok && kind != segment.KindSegment {
			info, _ := e.Info()
			sizes[id] += info.Size()
			all += info.Size()
		}
	}
	for _, s := range sizes {
		largest = max(largest, s)
	}
	meta, _ := os.Stat(filepath.Join(ref.Dir, archive.MetaName))
	q.quota = base + largest + 2*meta.Size() + 4096
	if base+all <= q.quota {
		t.Fatalf("compressed segments (%d bytes) fit in the slack: the test proves nothing", all)
	}
	if err := archive.Compress(context.Background(), q, res.Dir); err != nil {
		t.Fatalf("compress with room for one segment (%d bytes free): %v", q.quota-base, err)
	}
	rep, err := stream.Verify(nil, res.Dir)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
	if m, _ := archive.ReadMeta(nil, res.Dir); !m.Compressed {
		t.Fatal("meta.json not compressed")
	}
}

// A --force import killed after publishing leaves the replaced data's
// ledger entry: the ledger lags (a note), source_hash is not wrong.
func TestVerifyStaleLedgerEntryIsANote(t *testing.T) {
	root := t.TempDir()
	old := mustImport(t, importOpts(root, sample))
	stale, err := os.ReadFile(old.Partition.LedgerPath(root, old.FileHash))
	if err != nil {
		t.Fatal(err)
	}
	in := writeInput(t, "binance_incremental_book_L2_2019-12-01_BTCUSDT.csv", "binance,BTCUSDT,1575158400000000,1575158400000000,true,bid,1,1\n")
	o := importOpts(root, in)
	o.Force = true
	res := mustImport(t, o)
	os.Remove(res.Partition.LedgerPath(root, res.FileHash))
	os.WriteFile(old.Partition.LedgerPath(root, old.FileHash), stale, 0o644)
	rep, err := stream.Verify(nil, res.Dir)
	if err != nil || !rep.OK() || len(rep.Notes) != 1 {
		t.Fatalf("verify: %v problems %v notes %v, want one note", err, rep.Problems, rep.Notes)
	}
}
