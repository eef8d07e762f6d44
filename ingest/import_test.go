package ingest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/stream"
)

const sample = "../testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv"

// snapshotTree returns every file under root (except lock files) with its
// bytes, to check that a failed operation changed nothing.
func snapshotTree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".lock") {
			return nil
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[rel] = string(b)
		return nil
	})
	return out
}

func sameTree(t testing.TB, before, after map[string]string) {
	t.Helper()
	var diffs []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			diffs = append(diffs, "removed "+k)
		} else if w != v && !strings.HasPrefix(filepath.Base(k), "meta.json") {
			diffs = append(diffs, "changed "+k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "added "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("archive changed: %v", diffs)
	}
}

func segmentBytes(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".q") || strings.Contains(e.Name(), ".q.zst") {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			out[e.Name()] = string(b)
		}
	}
	return out
}

func TestImportLayoutAndLedger(t *testing.T) {
	root := t.TempDir()
	res := mustImport(t, importOpts(root, sample))
	want := archive.Partition{Venue: "binance", Symbol: "BTCUSDT", Date: "2019-12-01", Stream: "book"}
	if res.Partition != want {
		t.Fatalf("partition %+v, want %+v (from the file's columns and name)", res.Partition, want)
	}
	if res.Rows != 2050 || res.Events == 0 || res.Segments != 1 {
		t.Fatalf("result %+v", res)
	}
	m, err := archive.ReadMeta(nil, res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Provider != "tardis" || m.Source != filepath.Base(sample) || m.Rows != 2050 || m.Completeness != "sealed" || m.VenueID != 1 || m.MarketID != 3467451262 {
		t.Fatalf("meta %+v", m)
	}
	l, err := archive.ReadLedger(nil, root, want, res.FileHash)
	if err != nil {
		t.Fatal(err)
	}
	if l.Rows != 2050 || l.FileHash != res.FileHash || l.Stream != "book" {
		t.Fatalf("ledger %+v", l)
	}
}

func TestImportIdempotentAndDeterministic(t *testing.T) {
	root := t.TempDir()
	res := mustImport(t, importOpts(root, sample))
	before := segmentBytes(t, res.Dir)
	again := mustImport(t, importOpts(root, sample))
	if !again.AlreadyImported {
		t.Fatal("second import of the same file did not report already imported")
	}
	// --force rewrites; the bytes must be identical (deterministic).
	o := importOpts(root, sample)
	o.Force = true
	mustImport(t, o)
	after := segmentBytes(t, res.Dir)
	if len(before) == 0 || len(before) != len(after) {
		t.Fatalf("segments before %d after %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("%s differs after --force re-import", k)
		}
	}
	// A crash after publishing but before the ledger: rerun completes it.
	os.RemoveAll(archive.Partition{Venue: "binance", Symbol: "BTCUSDT", Date: "2019-12-01", Stream: "book"}.LedgerDir(root))
	if res := mustImport(t, importOpts(root, sample)); !res.AlreadyImported {
		t.Fatal("rerun after a lost ledger re-imported instead of finishing")
	}
	if _, err := archive.ReadLedger(nil, root, res.Partition, res.FileHash); err != nil {
		t.Fatalf("ledger not restored: %v", err)
	}
}

func TestImportRefusesOtherFileWithoutForce(t *testing.T) {
	root := t.TempDir()
	mustImport(t, importOpts(root, sample))
	other := filepath.Join(t.TempDir(), "binance_incremental_book_L2_2019-12-01_BTCUSDT.csv")
	os.WriteFile(other, []byte("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\nbinance,BTCUSDT,1575158400000000,1575158400000000,true,bid,1,1\n"), 0o644)
	before := snapshotTree(t, root)
	_, err := Import(context.Background(), importOpts(root, other))
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("got %v, want a refusal mentioning --force", err)
	}
	sameTree(t, before, snapshotTree(t, root))
	o := importOpts(root, other)
	o.Force = true
	res := mustImport(t, o)
	if res.Rows != 1 {
		t.Fatalf("forced import: %+v", res)
	}
	// The replaced file's ledger entry is gone, so only one remains.
	ents, _ := os.ReadDir(res.Partition.LedgerDir(root))
	if len(ents) != 1 {
		t.Fatalf("%d ledger entries after --force, want 1", len(ents))
	}
}

func TestBadInputPublishesNothing(t *testing.T) {
	root := t.TempDir()
	mustImport(t, importOpts(root, sample))
	before := snapshotTree(t, root)
	bad := filepath.Join(t.TempDir(), "binance_incremental_book_L2_2019-12-01_BTCUSDT.csv")
	var b bytes.Buffer
	b.WriteString("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n")
	for i := 0; i < 3000; i++ {
		b.WriteString("binance,BTCUSDT,1,1,true,bid,1,1\n")
	}
	b.WriteString("binance,BTCUSDT,2,2,false,bid,abc,1\n")
	os.WriteFile(bad, b.Bytes(), 0o644)
	o := importOpts(root, bad)
	o.Force = true
	_, err := Import(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), `:3002: price "abc"`) {
		t.Fatalf("got %v, want file:3002: price \"abc\"", err)
	}
	sameTree(t, before, snapshotTree(t, root))
}

func TestLockedPartitionFailsFast(t *testing.T) {
	root := t.TempDir()
	p := archive.Partition{Venue: "binance", Symbol: "BTCUSDT", Date: "2019-12-01", Stream: "book"}
	held, err := archive.Begin(nil, root, p) // holds the partition's lock
	if err != nil {
		t.Fatal(err)
	}
	defer held.Abort()
	_, err = Import(context.Background(), importOpts(root, sample))
	if !errors.Is(err, archive.ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
}

func TestCompressCommandMatchesImportCompress(t *testing.T) {
	rootA, rootB := t.TempDir(), t.TempDir()
	a := mustImport(t, importOpts(rootA, sample))
	if err := archive.Compress(context.Background(), nil, a.Dir); err != nil {
		t.Fatal(err)
	}
	o := importOpts(rootB, sample)
	o.Compress, o.Codec = true, "zstd"
	b := mustImport(t, o)
	sa, sb := segmentBytes(t, a.Dir), segmentBytes(t, b.Dir)
	if len(sa) == 0 || len(sa) != len(sb) {
		t.Fatalf("files %d vs %d", len(sa), len(sb))
	}
	for k, v := range sa {
		if !strings.Contains(k, ".zst") {
			t.Fatalf("%s left after compress", k)
		}
		if sb[k] != v {
			t.Fatalf("%s differs between compress and import --compress", k)
		}
	}
	rep, err := stream.Verify(nil, a.Dir)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after compress: %v %v", err, rep.Problems)
	}
}

func TestFlagContradictingColumnsIsAnError(t *testing.T) {
	o := importOpts(t.TempDir(), sample)
	o.Symbol = "ETHUSDT"
	_, err := Import(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), `symbol column says "BTCUSDT"`) {
		t.Fatalf("got %v", err)
	}
	o = importOpts(t.TempDir(), sample)
	o.Venue = "kraken-unknown"
	if _, err := Import(context.Background(), o); err == nil {
		t.Fatal("contradicting --venue accepted")
	}
}

func TestUnknownVenueNeedsVenueID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.csv")
	os.WriteFile(p, []byte("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\nnewex,ABC,1,1,true,bid,1,1\n"), 0o644)
	_, err := Import(context.Background(), importOpts(t.TempDir(), p))
	if err == nil || !strings.Contains(err.Error(), "--venue-id") {
		t.Fatalf("got %v", err)
	}
	o := importOpts(t.TempDir(), p)
	o.VenueID = ptr[uint16](999)
	if res := mustImport(t, o); res.Partition.Date != "1970-01-01" {
		t.Fatalf("date from the first timestamp: %+v", res.Partition)
	}
}

// TestListCountsSegmentsOnce: a segment present as .q and .q.zst at once
// (a reference compressor stopped before removing the .q) is one segment.
func TestListCountsSegmentsOnce(t *testing.T) {
	root := t.TempDir()
	res := mustImport(t, importOpts(root, sample))
	zst := filepath.Join(res.Dir, "000000000.q.zst")
	if err := os.WriteFile(zst, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	streams, err := archive.List(nil, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != 1 || streams[0].Segments != 1 {
		t.Fatalf("archive.List: %+v, want one stream with 1 segment", streams)
	}
}

func ptr[T any](v T) *T { return &v }
