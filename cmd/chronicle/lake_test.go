package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/chronicle-archive/chronicle/internal/s3test"
	"github.com/chronicle-archive/chronicle/objstore"
)

// Issue 12 item 6: export --format parquet --dataset DEST, a
// hive-partitioned Parquet lake.

var (
	lakeSymbols = []string{"BTCUSDT", "ETHUSDT"}
	lakeDates   = []string{"2019-12-01", "2019-12-02"}
	lakeTypes   = []struct{ src, typ, stream string }{
		{tradesSample, "trades", "trades"},
		{rpSample, "incremental_book_L2", "book"},
	}
)

// lakeArchive imports the trades and book samples for 2 symbols (ETHUSDT
// is the BTCUSDT sample renamed) on 2 days (shifted by a day) and returns
// the archive root.
func lakeArchive(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "archive")
	src := t.TempDir()
	for _, f := range lakeTypes {
		b, err := os.ReadFile(f.src)
		if err != nil {
			t.Fatal(err)
		}
		for _, sym := range lakeSymbols {
			for d, date := range lakeDates {
				body := shiftTS(strings.ReplaceAll(string(b), "BTCUSDT", sym), int64(d)*dayUS)
				p := filepath.Join(src, "binance_"+f.typ+"_"+date+"_"+sym+".csv")
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				if code, _, stderr := runIn(root, "import", p); code != 0 {
					t.Fatalf("import %s: exit %d: %s", p, code, stderr)
				}
			}
		}
	}
	return root
}

// lakeKey is a stream-day's file below the dataset root.
func lakeKey(typ, date, sym string) string {
	return "exchange=binance/type=" + typ + "/date=" + date + "/symbol=" + sym + "/data.parquet"
}

// pqRows reads every row of a Parquet file with parquet-go, each row's
// values printed.
func pqRows(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("%s: parquet-go cannot open it: %v", path, err)
	}
	var out []string
	buf := make([]parquet.Row, 64)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				var b strings.Builder
				for _, v := range r {
					b.WriteString(v.String())
					b.WriteByte('|')
				}
				out = append(out, b.String())
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		rows.Close()
	}
	return out
}

// lakeFiles lists the files below dir, slash-separated.
func lakeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// checkLakeFile compares a lake file with the single-day export of its
// stream directory, row for row.
func checkLakeFile(t *testing.T, root, file, stream, date, sym string) {
	t.Helper()
	one := filepath.Join(t.TempDir(), "one.parquet")
	dir := filepath.Join(root, "v1", "binance", sym, date, stream)
	if code, _, stderr := runIn(root, "export", dir, "--format", "parquet", "-o", one); code != 0 {
		t.Fatalf("export %s: exit %d: %s", dir, code, stderr)
	}
	got, want := pqRows(t, file), pqRows(t, one)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("%s: %d rows, the single-day export %d (or they differ)", file, len(got), len(want))
	}
}

func TestLakeLocal(t *testing.T) {
	root := lakeArchive(t)
	var addrs []string
	var want []string
	for _, f := range lakeTypes {
		for _, sym := range lakeSymbols {
			addrs = append(addrs, "binance/"+sym+"/"+f.stream)
			for _, date := range lakeDates {
				want = append(want, lakeKey(f.typ, date, sym))
			}
		}
	}
	want = append(want, lakeMarker)
	slices.Sort(want)

	dest := filepath.Join(t.TempDir(), "lake")
	for run := range 2 { // the second run overwrites its own lake
		code, _, stderr := runIn(root, append([]string{"export", "--format", "parquet", "--dataset", dest}, addrs...)...)
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr)
		}
		if n := strings.Count(stderr, "wrote "); n != 8 {
			t.Errorf("run %d: %d 'wrote' lines, want 8:\n%s", run, n, stderr)
		}
		if got := lakeFiles(t, dest); !slices.Equal(got, want) {
			t.Fatalf("run %d: tree\n%s\nwant\n%s", run, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	for _, f := range lakeTypes {
		for _, sym := range lakeSymbols {
			for _, date := range lakeDates {
				checkLakeFile(t, root, filepath.Join(dest, lakeKey(f.typ, date, sym)), f.stream, date, sym)
			}
		}
	}

	// --from/--to select days: only 2019-12-02's.
	dest2 := filepath.Join(t.TempDir(), "lake2")
	if code, _, stderr := runIn(root, "export", "--format", "parquet", "--dataset", dest2, "--from", "2019-12-02", "--to", "2019-12-03", "binance/BTCUSDT/trades", "binance/ETHUSDT/book"); code != 0 {
		t.Fatalf("--from: exit %d: %s", code, stderr)
	}
	want2 := []string{lakeMarker, lakeKey("incremental_book_L2", "2019-12-02", "ETHUSDT"), lakeKey("trades", "2019-12-02", "BTCUSDT")}
	slices.Sort(want2)
	if got := lakeFiles(t, dest2); !slices.Equal(got, want2) {
		t.Errorf("--from/--to tree %q, want %q", got, want2)
	}
}

// TestLakeRefusals: a non-empty DEST without the marker is never written
// to, and the flags that make no sense with --dataset are usage errors.
func TestLakeRefusals(t *testing.T) {
	root := lakeArchive(t)
	foreign := t.TempDir()
	theirs := filepath.Join(foreign, "notes.txt")
	if err := os.WriteFile(theirs, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"foreign dest", []string{"--format", "parquet", "--dataset", foreign, "binance/BTCUSDT/trades"}, 1, "has no _chronicle marker"},
		{"csv", []string{"--dataset", foreign, "binance/BTCUSDT/trades"}, 2, "give --format parquet"},
		{"-o", []string{"--format", "parquet", "--dataset", foreign, "-o", "x.parquet", "binance/BTCUSDT/trades"}, 2, "--dataset and -o"},
		{"--limit", []string{"--format", "parquet", "--dataset", foreign, "--limit", "3", "binance/BTCUSDT/trades"}, 2, "--limit"},
		{"no stream", []string{"--format", "parquet", "--dataset", foreign}, 2, "one or more streams"},
		{"bad address", []string{"--format", "parquet", "--dataset", foreign, "binance/NOPE/trades"}, 1, "NOPE"},
	} {
		code, _, stderr := runIn(root, append([]string{"export"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%s: exit %d, want %d with %q: %s", c.name, code, c.code, c.msg, stderr)
		}
	}
	if got := lakeFiles(t, foreign); !slices.Equal(got, []string{"notes.txt"}) {
		t.Errorf("the foreign directory now holds %q", got)
	}
	if b, _ := os.ReadFile(theirs); string(b) != "mine" {
		t.Errorf("notes.txt changed: %q", b)
	}
}

// TestLakeS3: the same lake under an S3 prefix, object for object the
// local lake's bytes, a rerun overwriting it, and a foreign prefix
// refused untouched. It skips without a server (internal/s3test).
func TestLakeS3(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	root := lakeArchive(t)
	args := []string{"binance/BTCUSDT/trades", "binance/ETHUSDT/trades", "binance/BTCUSDT/book", "binance/ETHUSDT/book"}
	local := filepath.Join(t.TempDir(), "lake")
	if code, _, stderr := runIn(root, append([]string{"export", "--format", "parquet", "--dataset", local}, args...)...); code != 0 {
		t.Fatalf("local: exit %d: %s", code, stderr)
	}
	ctx := context.Background()
	st, err := objstore.New(ctx, bucket, "lake")
	if err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		code, _, stderr := runIn(root, append([]string{"export", "--format", "parquet", "--dataset", "s3://" + bucket + "/lake/"}, args...)...)
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr)
		}
		if !strings.Contains(stderr, "wrote s3://"+bucket+"/lake/exchange=binance/type=trades/date=2019-12-01/symbol=BTCUSDT/data.parquet") {
			t.Errorf("run %d: stderr does not name the objects by URL:\n%s", run, stderr)
		}
		infos, err := st.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, in := range infos {
			keys = append(keys, in.Key)
			got, _, err := st.Get(ctx, in.Key)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(local, filepath.FromSlash(in.Key)))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("run %d: %s: %d bytes, the local lake's %d (%v)", run, in.Key, len(got), len(want), err)
			}
		}
		if want := lakeFiles(t, local); !slices.Equal(keys, want) {
			t.Errorf("run %d: objects %q, want %q", run, keys, want)
		}
	}

	other, _ := objstore.New(ctx, bucket, "foreign")
	if err := other.Put(ctx, "theirs/x.parquet", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runIn(root, "export", "--format", "parquet", "--dataset", "s3://"+bucket+"/foreign", "binance/BTCUSDT/trades")
	if code != 1 || !strings.Contains(stderr, "has no _chronicle marker") {
		t.Errorf("foreign prefix: exit %d: %s", code, stderr)
	}
	if infos, err := other.List(ctx, ""); err != nil || len(infos) != 1 {
		t.Errorf("the foreign prefix now holds %v (%v)", infos, err)
	}
}
