package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/stream"
)

// Set up by TestMain.
var (
	// bin is the chronicle command built with -tags chronicle_crashhook.
	bin string
	// work is a directory shared by the tests of one run (inputs, seeds).
	work string
	// hasReplay tells whether this chronicle has the replay subcommand.
	hasReplay bool
	// modRoot is the module's root directory.
	modRoot string
)

// childTimeout bounds every child process: a hang is a failure, not a
// stuck CI job.
const childTimeout = 3 * time.Minute

func TestMain(m *testing.M) {
	code, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "reliability: %v\n", err)
		os.Exit(1)
	}
	if code < 0 {
		code = m.Run()
	}
	if work != "" {
		os.RemoveAll(work)
	}
	os.Exit(code)
}

// setup builds the chronicle binary once for the whole run.
func setup() (int, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return 0, err
	}
	modRoot = root
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability: skipping all tests: no go command in PATH to build chronicle")
		return 0, nil
	}
	work, err = os.MkdirTemp("", "chronicle-reliability-")
	if err != nil {
		return 0, err
	}
	bin = filepath.Join(work, "chronicle")
	cmd := exec.Command(goTool, "build", "-tags", "chronicle_crashhook", "-o", bin, "./cmd/chronicle")
	cmd.Dir = modRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build -tags chronicle_crashhook ./cmd/chronicle: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "help").Output()
	if err != nil {
		return 0, fmt.Errorf("chronicle help: %v", err)
	}
	hasReplay = bytes.Contains(out, []byte("\treplay "))
	return -1, nil
}

// result is how a child process ended.
type result struct {
	args   []string
	code   int // exit status, -1 when killed by a signal
	signal syscall.Signal
	stdout string
	stderr string
	dur    time.Duration
}

func (r result) String() string {
	s := fmt.Sprintf("chronicle %s: exit %d", strings.Join(r.args, " "), r.code)
	if r.signal != 0 {
		s = fmt.Sprintf("chronicle %s: killed by %v", strings.Join(r.args, " "), r.signal)
	}
	if r.stderr != "" {
		s += "\nstderr: " + strings.TrimSpace(r.stderr)
	}
	return s
}

// childEnv is this process's environment without CHRONICLE_* variables,
// plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHRONICLE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// command prepares a chronicle child. Its stdout goes to stdout when not
// nil, else into the result.
func command(ctx context.Context, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	return cmd, &so, &se
}

// finish waits for cmd and describes how it ended.
func finish(cmd *exec.Cmd, so, se *bytes.Buffer, start time.Time, args []string) (result, error) {
	err := cmd.Wait()
	r := result{args: args, stdout: so.String(), stderr: se.String(), dur: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		r.code = ws.ExitStatus()
		if ws.Signaled() {
			r.code, r.signal = -1, ws.Signal()
		}
	default:
		return r, err
	}
	return r, nil
}

// chronicle runs the command to completion.
func chronicle(t testing.TB, env []string, args ...string) result {
	t.Helper()
	return chronicleTo(t, nil, env, args...)
}

// chronicleTo runs the command with its stdout written to w (when not nil).
func chronicleTo(t testing.TB, w io.Writer, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd, so, se := command(ctx, env, args...)
	if w != nil {
		cmd.Stdout = w
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r, err := finish(cmd, so, se, start, args)
	if err != nil {
		t.Fatalf("chronicle %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("chronicle %s: did not finish within %v", strings.Join(args, " "), childTimeout)
	}
	return r
}

// mustRun runs the command and fails the test unless it exits 0.
func mustRun(t testing.TB, env []string, args ...string) result {
	t.Helper()
	r := chronicle(t, env, args...)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	return r
}

// testdata is a file of the repository's testdata directory.
func testdata(name string) string { return filepath.Join(modRoot, "testdata", name) }

// The repository's samples: sample50k lands in the same partition as the
// generated 1M-row file, otherFile in a partition of its own.
var (
	sample50k = "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz"
	otherFile = "tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv"
)

// The partitions the tests write.
const (
	bigStream   = "v1/binance-futures/BTCUSDT/2024-05-01/book"
	otherStream = "v1/binance/BTCUSDT/2019-12-01/book"
	bigLedger   = "imports/v1/tardis/binance-futures/BTCUSDT/2024-05-01"
)

var (
	bigOnce sync.Once
	bigPath string
	bigErr  error
	bigSkip string
)

// bigInput is the 1M-row input, generated once per run with
// ../shared/tools/tardisgen and named so that its partition is bigStream.
func bigInput(t testing.TB) string {
	t.Helper()
	bigOnce.Do(func() {
		tools := filepath.Join(modRoot, "..", "shared", "tools")
		if _, err := os.Stat(filepath.Join(tools, "tardisgen")); err != nil {
			bigSkip = fmt.Sprintf("skipping: the data generator %s is absent (it ships beside the repository in CI, not in a clone)", tools)
			return
		}
		dir := filepath.Join(work, "big")
		if bigErr = os.MkdirAll(dir, 0o755); bigErr != nil {
			return
		}
		bigPath = filepath.Join(dir, "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv")
		f, err := os.Create(bigPath)
		if err != nil {
			bigErr = err
			return
		}
		cmd := exec.Command("go", "run", "./tardisgen", "-rows", "1000000", "-resnap-every", "100000")
		cmd.Dir = tools
		cmd.Stdout = f
		var se bytes.Buffer
		cmd.Stderr = &se
		if err := cmd.Run(); err != nil {
			bigErr = fmt.Errorf("tardisgen: %v\n%s", err, se.String())
		}
		if err := f.Close(); bigErr == nil {
			bigErr = err
		}
	})
	if bigSkip != "" {
		t.Skip(bigSkip)
	}
	if bigErr != nil {
		t.Fatal(bigErr)
	}
	return bigPath
}

// copyTree copies the directory src to dst (which must not exist),
// regular files and directories only, keeping modes.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm())
		case d.Type().IsRegular():
			in, err := os.Open(path)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, in); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		}
		return fmt.Errorf("%s: unexpected file type %v", path, d.Type())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tree maps every entry under root (relative, slash-separated) to "dir" or
// the sha256 of the file's bytes: two equal trees hold the same bytes.
func tree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case d.Type().IsRegular():
			out[rel], err = fileDigest(path)
			return err
		default:
			out[rel] = d.Type().String()
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// diffTrees describes how two trees differ, "" when they are equal.
func diffTrees(want, got map[string]string) string {
	var lines []string
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			lines = append(lines, "missing "+k)
		case g != v:
			lines = append(lines, "changed "+k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			lines = append(lines, "extra   "+k)
		}
	}
	sort.Strings(lines)
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("... and %d more", len(lines)-20))
	}
	return strings.Join(lines, "\n")
}

// normalJSON returns the JSON object in b with the named keys removed, in
// a canonical form: meta.json and ledger entries differ between two runs
// only in their timestamps of when they were written.
func normalJSON(b []byte, drop ...string) (string, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	for _, k := range drop {
		if _, ok := m[k]; !ok {
			return "", fmt.Errorf("no %q key", k)
		}
		delete(m, k)
	}
	out, err := json.Marshal(m) // sorted keys
	return string(out), err
}

// streamFiles describes a stream directory for comparisons: every file's
// sha256, except meta.json, which is compared without ingest_time_ns. A
// missing directory is nil.
func streamFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.Name() == archive.MetaName {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			n, err := normalJSON(b, "ingest_time_ns")
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out[e.Name()] = "meta " + n
			continue
		}
		if !e.Type().IsRegular() {
			out[e.Name()] = e.Type().String()
			continue
		}
		d, err := fileDigest(p)
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = d
	}
	return out
}

// ledgerFiles describes a ledger directory like streamFiles, each entry
// without imported_at_ns. *.tmp files are left out.
func ledgerFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			continue // readers ignore *.tmp; leftovers() reports them
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(e.Name(), ".json") {
			out[e.Name()] = "not json: " + string(b)
			continue
		}
		n, err := normalJSON(b, "imported_at_ns")
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[e.Name()] = n
	}
	return out
}

// leftovers lists staging directories and *.tmp files under root: what a
// finished command must not leave behind.
func leftovers(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if strings.HasSuffix(d.Name(), ".staging") || strings.HasSuffix(d.Name(), ".tmp") {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// hashWriter is an io.Writer that hashes what it is given.
type hashWriter struct{ h hash.Hash }

func newHashWriter() *hashWriter                  { return &hashWriter{sha256.New()} }
func (w *hashWriter) Write(p []byte) (int, error) { return w.h.Write(p) }
func (w *hashWriter) sum() string                 { return hex.EncodeToString(w.h.Sum(nil)) }

// readAll reads every event of a stream in process, returning how many
// there are.
func readAll(dir string) (int64, error) {
	evs, err := stream.OpenEvents(nil, dir)
	if err != nil {
		return 0, err
	}
	defer evs.Close()
	var n int64
	for {
		_, err := evs.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// diffJSON describes how two sets of normalised JSON files (ledgerFiles)
// differ, naming the keys whose values differ.
func diffJSON(want, got map[string]string) string {
	var lines []string
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			lines = append(lines, "missing "+name)
			continue
		}
		if g == w {
			continue
		}
		var wm, gm map[string]any
		json.Unmarshal([]byte(w), &wm)
		json.Unmarshal([]byte(g), &gm)
		for k, wv := range wm {
			if gv := gm[k]; fmt.Sprint(gv) != fmt.Sprint(wv) {
				lines = append(lines, fmt.Sprintf("%s: %s is %v, want %v", name, k, gv, wv))
			}
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			lines = append(lines, "extra "+name)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
