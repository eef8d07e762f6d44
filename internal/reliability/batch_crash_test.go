package reliability

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// batchTree writes a small Tardis download (2 exchanges × 4 data types ×
// 3 days of 20k rows, and two empty gzips) for the batch kill test.
func batchTree(t *testing.T) string {
	t.Helper()
	tools := filepath.Join(modRoot, "..", "shared", "tools")
	if _, err := os.Stat(filepath.Join(tools, "tardisgen")); err != nil {
		t.Skipf("skipping: the data generator %s is absent (it ships beside the repository in CI, not in a clone)", tools)
	}
	gen := filepath.Join(work, "tardisgen")
	build := exec.Command("go", "build", "-o", gen, "./tardisgen")
	build.Dir = tools
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build tardisgen: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "datasets")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	day0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for ei, ex := range []string{"binance-futures", "bybit"} {
		for ti, typ := range []string{"incremental_book_L2", "trades", "quotes", "book_snapshot_25"} {
			for d := range 3 {
				day := day0.AddDate(0, 0, d)
				out, err := exec.Command(gen, "-type", typ, "-rows", "20000", "-exchange", ex, "-depth", "50",
					"-seed", strconv.Itoa(ei*100+ti*10+d+1), "-start-us", strconv.FormatInt(day.UnixMicro(), 10)).Output()
				if err != nil {
					t.Fatalf("tardisgen: %v", err)
				}
				name := fmt.Sprintf("%s_%s_%s_BTCUSDT.csv.gz", ex, typ, day.Format(time.DateOnly))
				writeFile(t, filepath.Join(dir, name), gzipped(out))
			}
		}
		writeFile(t, filepath.Join(dir, ex+"_liquidations_2024-05-01_BTCUSDT.csv.gz"), gzipped(nil))
	}
	return dir
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// archiveState is every stream (files, meta.json without ingest_time_ns)
// and every ledger directory (entries without imported_at_ns) under root.
func archiveState(t *testing.T, root string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, top := range []string{"v1", "imports"} {
		filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			depth := strings.Count(rel, string(filepath.Separator))
			switch {
			case top == "v1" && depth == 4 && !strings.HasPrefix(d.Name(), "."):
				out[rel] = streamFiles(t, p)
			case top == "imports" && depth == 5:
				out[rel] = ledgerFiles(t, p)
			}
			return nil
		})
	}
	return out
}

// TestBatchKill9 kills a batch import (--jobs 2) with SIGKILL at 20
// random moments, each time in a fresh archive, and reruns it: every
// stream and ledger entry must then be what an uninterrupted batch wrote,
// verify clean, nothing left behind.
func TestBatchKill9(t *testing.T) {
	dir := batchTree(t)
	clean := filepath.Join(t.TempDir(), "clean")
	args := func(root string) []string {
		return []string{"import", "--jobs", "2", "--archive-root", root, dir}
	}
	r := mustRun(t, nil, args(clean)...)
	want := archiveState(t, clean)
	t.Logf("clean batch: %d streams and ledger dirs in %s", len(want), r.dur.Round(time.Millisecond))
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	for round := range 20 {
		root := filepath.Join(t.TempDir(), "a")
		delay := time.Duration(rng.Int63n(int64(r.dur)))
		ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
		cmd, so, se := command(ctx, nil, args(root)...)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		k, err := finish(cmd, so, se, start, args(root))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		rr := mustRun(t, nil, args(root)...)
		got := archiveState(t, root)
		if d := diffState(want, got); d != "" {
			t.Fatalf("round %d (killed after %s, %v): after the rerun the archive differs from a clean batch's:\n%s", round, delay, k.signal, d)
		}
		if l := leftovers(t, root); len(l) > 0 {
			t.Errorf("round %d: left behind %v", round, l)
		}
		mustRun(t, nil, "verify", root)
		t.Logf("round %d: killed after %s (%v); rerun %s", round, delay.Round(time.Millisecond), k.signal, rr.dur.Round(time.Millisecond))
	}
}

// diffState names the files (streams' and ledger entries') that differ
// between two archiveStates, are missing or extra.
func diffState(want, got map[string]map[string]string) string {
	flat := func(m map[string]map[string]string) map[string]string {
		out := map[string]string{}
		for dir, files := range m {
			out[dir] = "dir"
			for name, v := range files {
				out[filepath.Join(dir, name)] = v
			}
		}
		return out
	}
	w, g := flat(want), flat(got)
	var lines []string
	for k, wv := range w {
		switch gv, ok := g[k]; {
		case !ok:
			lines = append(lines, "missing "+k)
		case gv != wv:
			lines = append(lines, fmt.Sprintf("differs %s:\n  got  %s\n  want %s", k, gv, wv))
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			lines = append(lines, "extra "+k)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
