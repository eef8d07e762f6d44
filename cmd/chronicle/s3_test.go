package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/internal/s3test"
	"github.com/chronicle-archive/chronicle/objstore"
	"github.com/chronicle-archive/chronicle/s3archive"
	"github.com/chronicle-archive/chronicle/vfs"
)

// The archive on S3 (docs/S3.md) through the command line, against a real
// server (internal/s3test; the tests skip without one): the same bytes as
// on disk for every data type, readers that see one version whole while
// --force replaces it, one import of a file two processes import at once,
// crashes mid-upload, gc.

// s3Archive makes a bucket and returns the archive root s3://BUCKET/arch.
func s3Archive(t *testing.T) (root, bucket string) {
	t.Helper()
	srv := s3test.Start(t)
	bucket = srv.NewBucket(t)
	return "s3://" + bucket + "/arch", bucket
}

// s3Types are the samples of every data type, with the flags they need.
var s3Types = []struct {
	typ, src string
	flags    []string
}{
	{"incremental_book_L2", "../../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz", nil},
	{"trades", "../../tardis/testdata/types/trades.csv", []string{"--type", "trades"}},
	{"liquidations", "../../tardis/testdata/types/liquidations.csv", []string{"--type", "liquidations"}},
	{"quotes", "../../tardis/testdata/types/quotes.csv", []string{"--type", "quotes"}},
	{"book_ticker", "../../tardis/testdata/types/book_ticker.csv", []string{"--type", "book_ticker"}},
	{"derivative_ticker", "../../tardis/testdata/types/derivative_ticker.csv", []string{"--type", "derivative_ticker"}},
	{"options_chain", "../../tardis/testdata/types/options_chain.csv", []string{"--type", "options_chain", "--symbol", "OPTIONS"}},
	{"book_snapshot_5", "../../tardis/testdata/types/book_snapshot_5.csv", []string{"--type", "book_snapshot_5"}},
}

// localStreams is every stream file of a local archive by its path below
// the root, meta.json without the one field that differs per import.
func localStreams(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(root, "v1"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = normalMeta(t, d.Name(), b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// s3Streams is the same for the committed streams of an S3 archive, read
// behind the command's back: each HEAD, then its version's objects.
func s3Streams(t *testing.T, bucket string) map[string]string {
	t.Helper()
	ctx := context.Background()
	st, err := objstore.New(ctx, bucket, "arch")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(ctx, "v1/")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range objs {
		sk, ok := strings.CutSuffix(o.Key, "/"+s3archive.HeadName)
		if !ok {
			continue
		}
		b, _, err := st.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		var h s3archive.Head
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatal(err)
		}
		for _, f := range h.Files {
			b, _, err := st.Get(ctx, sk+"/"+h.Version+"/"+f.Name)
			if err != nil {
				t.Fatal(err)
			}
			out[sk+"/"+f.Name] = normalMeta(t, f.Name, b)
		}
	}
	return out
}

// versions lists every version directory in the bucket, committed or not.
func versions(t *testing.T, bucket string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := objstore.New(ctx, bucket, "arch")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(ctx, "v1/")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		parts := strings.Split(o.Key, "/")
		if len(parts) >= 7 && strings.HasPrefix(parts[5], "@") {
			seen[strings.Join(parts[:6], "/")] = true
		}
	}
	var out []string
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func normalMeta(t *testing.T, name string, b []byte) string {
	if name != "meta.json" {
		return string(b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("meta.json: %v", err)
	}
	delete(m, "ingest_time_ns")
	out, _ := json.Marshal(m)
	return string(out)
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, stderr := rpRun(args...)
	if code != 0 {
		t.Fatalf("chronicle %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// TestS3RoundTrip imports every data type into a local archive and into
// an S3 one: the same files byte for byte (meta.json but its import time),
// the same ls, dump, export and book outputs, verify clean on S3, and a
// second import "already imported".
func TestS3RoundTrip(t *testing.T) {
	s3root, bucket := s3Archive(t)
	local := t.TempDir()
	for _, tt := range s3Types {
		for _, root := range []string{local, s3root} {
			out := mustRun(t, append(append([]string{"import", "--archive-root", root}, tt.flags...), tt.src)...)
			if !strings.HasPrefix(out, "imported rows=") {
				t.Fatalf("%s into %s: %q", tt.typ, root, out)
			}
		}
		code, out, stderr := rpRun(append(append([]string{"import", "--archive-root", s3root}, tt.flags...), tt.src)...)
		if code != 0 || out != "" || !strings.Contains(stderr, "already imported into "+s3root+"/v1/") {
			t.Errorf("%s again: exit %d, stdout %q, stderr %q; want exit 0 and already imported", tt.typ, code, out, stderr)
		}
	}
	want, got := localStreams(t, local), s3Streams(t, bucket)
	if len(want) < 2*len(s3Types) {
		t.Fatalf("local archive has %d files", len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: on S3 %d bytes, differs from the local %d", k, len(got[k]), len(v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s is on S3, not in the local archive", k)
		}
	}

	lsLocal, lsS3 := mustRun(t, "ls", "--archive-root", local), mustRun(t, "ls", "--archive-root", s3root)
	if lsLocal != lsS3 || strings.Count(lsS3, "\n") != len(s3Types)+1 {
		t.Errorf("ls differs:\nlocal:\n%s\nS3:\n%s", lsLocal, lsS3)
	}
	if out := mustRun(t, "verify", "--archive-root", s3root); !strings.Contains(out, "verified 8 streams: no problems") || !strings.Contains(out, s3root+"/v1/") {
		t.Errorf("verify on S3:\n%s", out)
	}
	var addrs []string
	for _, line := range strings.Split(strings.TrimSpace(lsS3), "\n")[1:] {
		addrs = append(addrs, strings.Fields(line)[0])
	}
	const b = "binance-futures/BTCUSDT/book"
	cmds := [][]string{
		{"replay", b}, {"book", b, "--at", "2024-05-01T00:00:03Z", "--depth", "5"},
		{"snapshots", b, "--depth", "5", "--interval", "1s"}, {"quotes", b},
	}
	for _, a := range addrs {
		cmds = append(cmds, []string{"dump", a}, []string{"export", a})
	}
	for _, c := range cmds {
		l := mustRun(t, append(c, "--archive-root", local)...)
		s := mustRun(t, append(c, "--archive-root", s3root)...)
		if c[0] == "replay" { // its report ends with the wall time
			l, s = dropLines(l, "wall", "updates/s"), dropLines(s, "wall", "updates/s")
		}
		if l != s || l == "" {
			t.Errorf("%s: local and S3 outputs differ (%d, %d bytes)\nlocal: %.300s\nS3:    %.300s", strings.Join(c, " "), len(l), len(s), l, s)
		}
	}
	// A stream directory given as an s3:// URL reads the same.
	dir := s3root + "/v1/binance-futures/BTCUSDT/2024-05-01/book"
	if l, s := mustRun(t, "dump", b, "--limit", "3", "--archive-root", local), mustRun(t, "dump", dir, "--limit", "3", "--archive-root", s3root); l != s {
		t.Errorf("dump %s differs from the local dump", dir)
	}
}

func dropLines(s string, words ...string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !slices.ContainsFunc(words, func(w string) bool { return strings.Contains(l, w) }) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// A test binary run as the command (CHRONICLE_TEST_AS_CLI=1, see TestMain)
// with CHRONICLE_TEST_KILL_AT_PUT=N kills itself before the Nth object an
// import publishes to S3, as crashhook.go's CHRONICLE_CRASH_AT_PUT does.
func init() {
	s := os.Getenv("CHRONICLE_TEST_KILL_AT_PUT")
	if os.Getenv("CHRONICLE_TEST_AS_CLI") != "1" || s == "" {
		return
	}
	at, _ := strconv.Atoi(s)
	s3CrashHook = func(arch *s3archive.Archive) {
		var mu sync.Mutex
		n := 0
		arch.BeforePut = func(string) {
			mu.Lock()
			defer mu.Unlock()
			if n == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
			n++
		}
	}
}

// cli runs the command in a process of its own.
func cli(env []string, args ...string) (code int, stdout, stderr string) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "CHRONICLE_TEST_AS_CLI=1"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode() // -1 when killed
	default:
		code = -2
		errb.WriteString(err.Error())
	}
	return code, out.String(), errb.String()
}

// twoTrades writes two different trades files for one partition: the
// sample and the sample without its last rows.
func twoTrades(t *testing.T) (a, b string) {
	t.Helper()
	raw, err := os.ReadFile("../../tardis/testdata/types/trades.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	dir := t.TempDir()
	a, b = filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	os.WriteFile(a, raw, 0o644)
	os.WriteFile(b, []byte(strings.Join(lines[:len(lines)-3], "")), 0o644)
	return a, b
}

// TestS3ForceWhileReading replaces a stream with --force, back and forth,
// while other processes dump it: each dump is the whole of one version.
func TestS3ForceWhileReading(t *testing.T) {
	root, _ := s3Archive(t)
	a, b := twoTrades(t)
	const addr = "binance-futures/BTCUSDT/trades"
	mustRun(t, "import", "--archive-root", root, "--type", "trades", b)
	dumpB := mustRun(t, "dump", addr, "--archive-root", root)
	mustRun(t, "import", "--archive-root", root, "--type", "trades", "--force", a)
	dumpA := mustRun(t, "dump", addr, "--archive-root", root)
	if dumpA == dumpB {
		t.Fatal("the two files dump the same")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, out, stderr := cli(nil, "dump", addr, "--archive-root", root)
				mu.Lock()
				switch {
				case code != 0:
					t.Errorf("dump during --force: exit %d: %s", code, stderr)
				case out == dumpA:
					seen["a"]++
				case out == dumpB:
					seen["b"]++
				default:
					t.Errorf("dump during --force is neither version (%d bytes)", len(out))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 6 {
		f := b
		if i%2 == 1 {
			f = a
		}
		mustRun(t, "import", "--archive-root", root, "--type", "trades", "--force", f)
	}
	close(stop)
	wg.Wait()
	t.Logf("dumps seen: %v", seen)
	if seen["a"]+seen["b"] < 4 {
		t.Errorf("only %v dumps ran", seen)
	}
	if got := mustRun(t, "dump", addr, "--archive-root", root); got != dumpA {
		t.Error("after the last --force, the stream is not a's")
	}
}

// TestS3ReaderKeepsItsVersion: a reader that resolved a stream keeps
// reading that version whole after a --force commits another.
func TestS3ReaderKeepsItsVersion(t *testing.T) {
	root, _ := s3Archive(t)
	a, b := twoTrades(t)
	mustRun(t, "import", "--archive-root", root, "--type", "trades", a)
	arch, err := s3archive.Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	fsys := arch.FS(nil)
	dir := arch.Root() + "/v1/binance-futures/BTCUSDT/2024-05-01/trades"
	m1, err := vfs.ReadFile(fsys, dir+"/meta.json")
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, "import", "--archive-root", root, "--type", "trades", "--force", b)
	m2, err := vfs.ReadFile(fsys, dir+"/meta.json")
	if err != nil || !bytes.Equal(m1, m2) {
		t.Fatalf("the reader's meta.json changed under it (%v)", err)
	}
	seg, err := vfs.ReadFile(fsys, dir+"/000000000.q")
	if err != nil {
		t.Fatal(err)
	}
	var m archive.Meta
	json.Unmarshal(m1, &m)
	if len(m.Files) == 0 || int64(len(seg)) != m.Files[0].Size {
		t.Fatalf("the reader's segment is %d bytes, its meta.json lists %v", len(seg), m.Files)
	}
	fresh, err := vfs.ReadFile(s3archive.New(arch.Store()).FS(nil), dir+"/meta.json")
	if err != nil || bytes.Equal(fresh, m1) {
		t.Fatalf("a new reader does not see the new version (%v)", err)
	}
}

// TestS3SameFileTwoProcesses: two processes import one file into one
// archive at once: one imports it, the other says "already imported", and
// one version is uploaded.
func TestS3SameFileTwoProcesses(t *testing.T) {
	for trial := range 3 {
		root, bucket := s3Archive(t)
		src := s3Types[0].src
		type res struct {
			code        int
			out, stderr string
		}
		results := make([]res, 2)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, o, e := cli(nil, "import", "--archive-root", root, src)
				results[i] = res{c, o, e}
			}()
		}
		wg.Wait()
		imported, already := 0, 0
		for _, r := range results {
			switch {
			case r.code == 0 && strings.HasPrefix(r.out, "imported rows="):
				imported++
			case r.code == 0 && strings.Contains(r.stderr, "already imported"):
				already++
			default:
				t.Errorf("trial %d: exit %d, stdout %q, stderr %q", trial, r.code, r.out, r.stderr)
			}
		}
		if imported != 1 || already != 1 {
			t.Errorf("trial %d: %d imported, %d already imported; want 1 and 1", trial, imported, already)
		}
		if v := versions(t, bucket); len(v) != 1 {
			t.Errorf("trial %d: versions uploaded: %v", trial, v)
		}
	}
}

// TestS3CrashMidUpload kills a --force import before each of the objects
// it publishes in turn (the version's files, HEAD, the ledger entry):
// readers see the old stream whole until HEAD is written and the new one
// after; a rerun completes byte-identical to a local import; gc then
// removes every leftover version and nothing committed.
func TestS3CrashMidUpload(t *testing.T) {
	root, bucket := s3Archive(t)
	a, b := twoTrades(t)
	const addr = "binance-futures/BTCUSDT/trades"
	imp := func(env []string, f string, force bool) (int, string, string) {
		args := []string{"import", "--archive-root", root, "--type", "trades"}
		if force {
			args = append(args, "--force")
		}
		return cli(env, append(args, f)...)
	}
	local := t.TempDir()
	mustRun(t, "import", "--archive-root", local, "--type", "trades", b)
	wantB := localStreams(t, local)
	dumpB := mustRun(t, "dump", addr, "--archive-root", local)

	// A first import killed before its commit leaves no stream.
	for n := range 3 { // meta.json, the segment, HEAD
		if code, _, stderr := imp([]string{"CHRONICLE_TEST_KILL_AT_PUT=" + strconv.Itoa(n)}, a, false); code != -1 {
			t.Fatalf("kill at put %d: exit %d: %s", n, code, stderr)
		}
		if code, _, stderr := rpRun("dump", addr, "--archive-root", root); code != 1 || !strings.Contains(stderr, "has no ") {
			t.Errorf("after a first import killed at put %d: dump exit %d: %s", n, code, stderr)
		}
	}
	if code, out, stderr := imp(nil, a, false); code != 0 || !strings.HasPrefix(out, "imported rows=") {
		t.Fatalf("rerun of the first import: exit %d %q %s", code, out, stderr)
	}
	dumpA := mustRun(t, "dump", addr, "--archive-root", root)

	const puts = 4 // meta.json, the segment, HEAD, the ledger entry
	for n := range puts {
		if code, _, stderr := imp([]string{"CHRONICLE_TEST_KILL_AT_PUT=" + strconv.Itoa(n)}, b, true); code != -1 {
			t.Fatalf("kill at put %d: exit %d: %s", n, code, stderr)
		}
		want := dumpA
		if n > 2 { // killed after HEAD: b is committed
			want = dumpB
		}
		if got := mustRun(t, "dump", addr, "--archive-root", root); got != want {
			t.Errorf("killed at put %d: the stream is not the whole of the version it should be", n)
		}
		mustRun(t, "verify", "--archive-root", root)
		if code, _, stderr := imp(nil, b, true); code != 0 {
			t.Fatalf("rerun after a kill at put %d: exit %d: %s", n, code, stderr)
		}
		if got := mustRun(t, "dump", addr, "--archive-root", root); got != dumpB {
			t.Errorf("rerun after a kill at put %d: not b's stream", n)
		}
		got := s3Streams(t, bucket)
		if len(got) != len(wantB) {
			t.Errorf("rerun after a kill at put %d: %d files, want %d", n, len(got), len(wantB))
		}
		for k, v := range wantB {
			if got[k] != v {
				t.Errorf("rerun after a kill at put %d: %s differs from the local import", n, k)
			}
		}
		mustRun(t, "import", "--archive-root", root, "--type", "trades", "--force", a)
	}

	before := versions(t, bucket)
	if len(before) < 4 {
		t.Fatalf("versions before gc: %v", before)
	}
	if out := mustRun(t, "gc", "--archive-root", root); !strings.Contains(out, "removed 0 versions") {
		t.Errorf("gc with the default grace removed young versions: %s", out)
	}
	out := mustRun(t, "gc", "--archive-root", root, "--grace", "0s")
	after := versions(t, bucket)
	if len(after) != 1 || !strings.Contains(out, "removed "+strconv.Itoa(len(before)-1)+" versions") {
		t.Errorf("gc --grace 0s: %s; versions left %v of %v", out, after, before)
	}
	if got := mustRun(t, "dump", addr, "--archive-root", root); got != dumpA {
		t.Error("after gc the committed stream reads differently")
	}
	mustRun(t, "verify", "--archive-root", root)
	if out := mustRun(t, "gc", "--archive-root", root, "--grace", "0s"); !strings.Contains(out, "removed 0 versions") {
		t.Errorf("a second gc: %s", out)
	}
}

// TestS3Batch: a batch import of a tree into S3 (an empty Tardis file
// among them), then a rerun that skips every file by its ledger entry.
func TestS3Batch(t *testing.T) {
	root, _ := s3Archive(t)
	src := t.TempDir()
	raw, err := os.ReadFile("../../tardis/testdata/types/trades.csv")
	if err != nil {
		t.Fatal(err)
	}
	gz, err := os.ReadFile(s3Types[0].src)
	if err != nil {
		t.Fatal(err)
	}
	var empty bytes.Buffer
	gzip.NewWriter(&empty).Close()
	os.WriteFile(filepath.Join(src, "binance-futures_trades_2024-05-01_BTCUSDT.csv"), raw, 0o644)
	os.WriteFile(filepath.Join(src, "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz"), gz, 0o644)
	os.WriteFile(filepath.Join(src, "binance-futures_trades_2024-05-02_BTCUSDT.csv.gz"), empty.Bytes(), 0o644)
	total := func(args ...string) map[string]any {
		t.Helper()
		out := mustRun(t, append([]string{"import", "--archive-root", root, "--json"}, args...)...)
		var s map[string]any
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("summary %q: %v", out, err)
		}
		tot, _ := s["total"].(map[string]any)
		return tot
	}
	if tot := total(src); tot["imported"] != 2.0 || tot["no_data"] != 1.0 {
		t.Errorf("first batch: %v", tot)
	}
	if tot := total(src); tot["skipped"] != 3.0 {
		t.Errorf("rerun: %v", tot)
	}
	if tot := total("--rehash", src); tot["already_imported"] != 2.0 {
		t.Errorf("rerun --rehash: %v", tot)
	}
	if ls := mustRun(t, "ls", "--archive-root", root); strings.Count(ls, "\n") != 3 {
		t.Errorf("ls after the batch:\n%s", ls)
	}
}
