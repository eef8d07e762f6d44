package stream

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/ingest"
)

const (
	// sample has 2050 rows in 8 events.
	sample = "../testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv"
	// futuresSample has 7484 events, enough for several checkpoints and,
	// with a small segment size, several segments.
	futuresSample = "../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz"
	// tradesSample is a real Tardis trades file (testdata/, from
	// ../shared/data/tardis).
	tradesSample = "testdata/bitmex_trades_2020-03-01_XBTUSD.nautilus10.csv"
)

func importOpts(root, input string) ingest.Options {
	return ingest.Options{Root: root, Input: input}
}

func mustImport(t testing.TB, o ingest.Options) *ingest.Result {
	t.Helper()
	res, err := ingest.Import(context.Background(), o)
	if err != nil {
		t.Fatalf("import %s: %v", o.Input, err)
	}
	return res
}

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
		t.Fatalf("tree changed:\n%s", strings.Join(diffs, "\n"))
	}
}

// editMeta rewrites dir's meta.json through fn.
func editMeta(t *testing.T, dir string, fn func(m *archive.Meta)) {
	t.Helper()
	m, err := archive.ReadMeta(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, archive.MetaName), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteManifest makes meta.json describe the files as they are, so that
// only the checks beyond the manifest can notice what changed.
func rewriteManifest(t *testing.T, dir string) {
	t.Helper()
	editMeta(t, dir, func(m *archive.Meta) {
		for i := range m.Files {
			f := &m.Files[i]
			sum, size, err := archive.HashFile(nil, filepath.Join(dir, f.Name))
			if err != nil {
				t.Fatal(err)
			}
			f.Blake3, f.Size = sum, size
		}
	})
}

func mustVerify(t *testing.T, dir string) *archive.StreamReport {
	t.Helper()
	rep, err := Verify(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
	return rep
}

func checkedLine(rep *archive.StreamReport, substr string) bool {
	for _, c := range rep.Checked {
		if strings.Contains(c, substr) {
			return true
		}
	}
	return false
}

func problemsText(rep *archive.StreamReport) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString(p.Error() + "\n")
	}
	return b.String()
}
