package reliability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/vfs"
)

// stickyFS fails every mutating operation from the from'th on (counted as
// vfs.ErrorFS counts them) with err, like a disk that fills up or is
// remounted read-only and stays so.
type stickyFS struct {
	vfs.FS
	from int64
	err  error
	n    atomic.Int64
}

func (s *stickyFS) check(kind, path string) error {
	if i := s.n.Add(1) - 1; s.from >= 0 && i >= s.from {
		return &fs.PathError{Op: kind, Path: path, Err: s.err}
	}
	return nil
}

func (s *stickyFS) Create(name string) (vfs.File, error) {
	if err := s.check("create", name); err != nil {
		return nil, err
	}
	f, err := s.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &stickyFile{File: f, s: s}, nil
}

func (s *stickyFS) Rename(o, n string) error {
	if err := s.check("rename", n); err != nil {
		return err
	}
	return s.FS.Rename(o, n)
}

func (s *stickyFS) RenameNoReplace(o, n string) error {
	if err := s.check("rename", n); err != nil {
		return err
	}
	return s.FS.RenameNoReplace(o, n)
}

func (s *stickyFS) Exchange(a, b string) error {
	if err := s.check("exchange", b); err != nil {
		return err
	}
	return s.FS.Exchange(a, b)
}

func (s *stickyFS) Link(o, n string) error {
	if err := s.check("link", n); err != nil {
		return err
	}
	return s.FS.Link(o, n)
}

func (s *stickyFS) Remove(name string) error {
	if err := s.check("remove", name); err != nil {
		return err
	}
	return s.FS.Remove(name)
}

func (s *stickyFS) RemoveAll(name string) error {
	if err := s.check("remove", name); err != nil {
		return err
	}
	return s.FS.RemoveAll(name)
}

func (s *stickyFS) MkdirAll(name string, p fs.FileMode) error {
	if err := s.check("mkdir", name); err != nil {
		return err
	}
	return s.FS.MkdirAll(name, p)
}

func (s *stickyFS) SyncDir(name string) error {
	if err := s.check("sync", name); err != nil {
		return err
	}
	return s.FS.SyncDir(name)
}

func (s *stickyFS) Lock(name string) (io.Closer, error) {
	if err := s.check("lock", name); err != nil {
		return nil, err
	}
	return s.FS.Lock(name)
}

type stickyFile struct {
	vfs.File
	s *stickyFS
}

func (f *stickyFile) Write(p []byte) (int, error) {
	if err := f.s.check("write", f.Name()); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *stickyFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.s.check("write", f.Name()); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *stickyFile) Sync() error {
	if err := f.s.check("sync", f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *stickyFile) Close() error {
	if err := f.s.check("close", f.Name()); err != nil {
		f.File.Close()
		return err
	}
	return f.File.Close()
}

// faultCase is one in-process fault-injection loop.
type faultCase struct {
	name     string
	errno    syscall.Errno
	sticky   bool // the fault persists (ENOSPC, a read-only remount)
	compress bool
	existing bool // the partition already holds another file's stream
}

// TestImportFaults runs ingest.Import with an I/O error (EROFS, ENOSPC)
// injected at operation i, for every i an uninterrupted import makes,
// either once (vfs.ErrorFS) or from i on (a disk that stays full). After
// each failure the error names the cause, nothing is published (the
// partition is absent, or holds exactly what it held), and an import
// without the fault then succeeds with the bytes of an undisturbed one.
func TestImportFaults(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv")
	writeFile(t, input, csvFile(goodRows(4000)))
	oldInput := filepath.Join(dir, "old", "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv")
	os.MkdirAll(filepath.Dir(oldInput), 0o755)
	writeFile(t, oldInput, csvFile(goodRows(500)))

	cases := []faultCase{
		{name: "erofs-once", errno: syscall.EROFS},
		{name: "enospc-sticky", errno: syscall.ENOSPC, sticky: true},
		{name: "enospc-once-force-compress", errno: syscall.ENOSPC, compress: true, existing: true},
		{name: "erofs-sticky-force", errno: syscall.EROFS, sticky: true, existing: true},
	}
	if testing.Short() { // one loop without, one with an existing stream
		cases = []faultCase{cases[0], cases[3]}
	}
	var total atomic.Int64
	t.Cleanup(func() { t.Logf("%d fault-injection op indices tried", total.Load()) })
	for _, fc := range cases {
		t.Run(fc.name, func(t *testing.T) {
			t.Parallel()
			segSize := int64(64 << 10)
			if fc.compress {
				segSize = 128 << 10 // fewer segments: compression triples their operations
			}
			opts := func(root string, fsys vfs.FS) ingest.Options {
				return ingest.Options{FS: fsys, Root: root, Input: input, SegmentSize: segSize, Force: fc.existing, Compress: fc.compress}
			}
			seed := filepath.Join(dir, "seed-"+fc.name)
			os.MkdirAll(seed, 0o755)
			if fc.existing {
				o := opts(seed, nil)
				o.Input, o.Compress = oldInput, false
				if _, err := ingest.Import(context.Background(), o); err != nil {
					t.Fatal(err)
				}
			}
			oldStream := tree(t, filepath.Join(seed, bigStream))
			oldLedger := ledgerFiles(t, filepath.Join(seed, bigLedger))

			// The reference: no fault, counting the operations.
			ref := filepath.Join(dir, "ref-"+fc.name)
			copyTree(t, seed, ref)
			count := vfs.NewErrorFS(vfs.Default, -1)
			if _, err := ingest.Import(context.Background(), opts(ref, count)); err != nil {
				t.Fatal(err)
			}
			ops := int(count.Ops())
			want := streamFiles(t, filepath.Join(ref, bigStream))
			wantLedger := ledgerFiles(t, filepath.Join(ref, bigLedger))

			outcomes := map[string]int{}
			for i := range ops {
				root := filepath.Join(dir, fmt.Sprintf("%s-%d", fc.name, i))
				copyTree(t, seed, root)
				var fsys vfs.FS
				if fc.sticky {
					fsys = &stickyFS{FS: vfs.Default, from: int64(i), err: fc.errno}
				} else {
					efs := vfs.NewErrorFS(vfs.Default, int64(i))
					efs.Err = fc.errno
					fsys = efs
				}
				_, err := ingest.Import(context.Background(), opts(root, fsys))
				got := streamFiles(t, filepath.Join(root, bigStream))
				switch {
				case err == nil:
					// The fault hit an operation whose failure does not
					// matter (removing the old stream after the swap).
					outcomes["ignored"]++
					if !maps.Equal(got, want) {
						t.Errorf("op %d: import succeeded but the stream differs:\n%s", i, diffTrees(want, got))
					}
				case !errors.Is(err, fc.errno):
					t.Errorf("op %d: error %q does not name the cause %v", i, err, fc.errno)
				case strings.Contains(err.Error(), "stream published but ledger not written"):
					outcomes["published, ledger failed"]++
					if !maps.Equal(got, want) {
						t.Errorf("op %d: %v, but the stream differs:\n%s", i, err, diffTrees(want, got))
					}
				case strings.Contains(err.Error(), "published, but fsync of its directory failed"):
					outcomes["published, not yet durable"]++
					if !maps.Equal(got, want) {
						t.Errorf("op %d: %v, but the stream differs:\n%s", i, err, diffTrees(want, got))
					}
				default:
					outcomes["nothing published"]++
					if diff := diffTrees(oldStream, tree(t, filepath.Join(root, bigStream))); diff != "" {
						t.Errorf("op %d: %v; the stream changed:\n%s", i, err, diff)
					}
					if l := ledgerFiles(t, filepath.Join(root, bigLedger)); !maps.Equal(l, oldLedger) {
						t.Errorf("op %d: %v; the ledger changed:\n%s", i, err, diffJSON(oldLedger, l))
					}
				}
				// The fault goes away: the same import finishes the job.
				if _, err := ingest.Import(context.Background(), opts(root, nil)); err != nil {
					t.Errorf("op %d: import after the fault: %v", i, err)
				} else {
					if diff := diffTrees(want, streamFiles(t, filepath.Join(root, bigStream))); diff != "" {
						t.Errorf("op %d: after the rerun the stream differs from an undisturbed import's:\n%s", i, diff)
					}
					if l := ledgerFiles(t, filepath.Join(root, bigLedger)); !maps.Equal(l, wantLedger) {
						t.Errorf("op %d: after the rerun the ledger differs:\n%s", i, diffJSON(wantLedger, l))
					}
					if l := leftovers(t, root); len(l) > 0 {
						t.Errorf("op %d: after the rerun, left behind: %v", i, l)
					}
				}
				os.RemoveAll(root)
			}
			total.Add(int64(ops))
			t.Logf("%s: faults at op 0..%d: %v", fc.name, ops-1, outcomes)
		})
	}
}

// asNobody runs a chronicle command as an unprivileged user when this
// process is root (which no permission bit stops), else as itself.
func asNobody(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd, so, se := command(ctx, nil, args...)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r, err := finish(cmd, so, se, start, args)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestEnvironmentFaults runs the command against a missing input, a
// directory as input, an unreadable input and a read-only archive root:
// each fails with a clear message and exit status 1, publishes nothing,
// and succeeds once the fault is fixed.
func TestEnvironmentFaults(t *testing.T) {
	dir := t.TempDir()
	// Everything a child run as nobody touches must be reachable.
	for _, d := range []string{dir, filepath.Dir(dir), work} {
		os.Chmod(d, 0o755)
	}
	input := filepath.Join(dir, "in", "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv")
	os.MkdirAll(filepath.Dir(input), 0o755)
	good := csvFile(goodRows(3000))
	root := filepath.Join(dir, "root")
	mustRun(t, nil, "import", "--archive-root", root, testdata(otherFile))
	want := refImport(t, writeTo(t, filepath.Join(t.TempDir(), filepath.Base(input)), good))

	check := func(t *testing.T, r result, msg string) {
		t.Helper()
		if r.code != 1 || !strings.Contains(r.stderr, msg) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("want exit 1 and one line saying %q: %v", msg, r)
		}
		if _, err := os.Stat(filepath.Join(root, bigStream)); err == nil {
			t.Errorf("a stream was published")
		}
	}
	imp := []string{"import", "--archive-root", root, "--segment-size", segSize, input}
	before := tree(t, root)

	t.Run("missing-input", func(t *testing.T) {
		check(t, chronicle(t, nil, imp...), "no such file or directory")
		if diff := diffTrees(before, tree(t, root)); diff != "" {
			t.Errorf("the archive changed:\n%s", diff)
		}
	})
	t.Run("directory-input", func(t *testing.T) {
		// A directory is walked for Tardis files (issue 9); an empty one
		// is an error naming it, not a silent success.
		os.Mkdir(input, 0o755)
		check(t, chronicle(t, nil, imp...), "is a directory")
		os.Remove(input)
		if diff := diffTrees(before, tree(t, root)); diff != "" {
			t.Errorf("the archive changed:\n%s", diff)
		}
	})
	writeFile(t, input, good)
	// From here on the child runs as nobody when we are root.
	if os.Geteuid() == 0 {
		chownTree(t, root, 65534)
	}
	t.Run("unreadable-input", func(t *testing.T) {
		os.Chmod(input, 0)
		check(t, asNobody(t, imp...), "open "+input+": permission denied")
		os.Chmod(input, 0o644)
	})
	t.Run("read-only-root", func(t *testing.T) {
		// The partition's parent directories are read-only: nothing can be
		// created under them.
		ro := filepath.Join(root, "v1")
		os.MkdirAll(filepath.Join(ro, "binance-futures"), 0o755)
		chownTree(t, ro, 0)
		os.Chmod(filepath.Join(ro, "binance-futures"), 0o555)
		os.Chmod(ro, 0o555)
		check(t, asNobody(t, imp...), "mkdir "+ro+"/binance-futures/BTCUSDT: permission denied")
		os.Chmod(ro, 0o755)
		os.Chmod(filepath.Join(ro, "binance-futures"), 0o755)
		if os.Geteuid() == 0 {
			chownTree(t, root, 65534)
		}
	})
	// Fixed: the import goes through, with the bytes of an undisturbed one.
	if r := asNobody(t, imp...); r.code != 0 {
		t.Fatalf("after the faults were fixed: %v", r)
	}
	if diff := diffTrees(want.files, streamFiles(t, filepath.Join(root, bigStream))); diff != "" {
		t.Errorf("the stream differs from an undisturbed import's:\n%s", diff)
	}
	if v := verifyOK(t, root, false); v != "" {
		t.Errorf("verify: %s", v)
	}
}

func writeTo(t testing.TB, path string, data []byte) string {
	t.Helper()
	writeFile(t, path, data)
	return path
}

// chownTree gives root's tree to uid (only meaningful as root).
func chownTree(t testing.TB, root string, uid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Lchown(p, uid, uid)
		}
		return nil
	})
}

// TestRealDiskFaults fills a small tmpfs and remounts it read-only under
// a running archive (skipped where mount is not permitted): imports fail
// with ENOSPC or EROFS, exit 1, leave the archive byte for byte as it was,
// and succeed once space is freed or the mount is writable again.
func TestRealDiskFaults(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() {
		if err := exec.Command("umount", mnt).Run(); err != nil {
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	root := filepath.Join(mnt, "archive")
	mustRun(t, nil, "import", "--archive-root", root, "--segment-size", segSize, testdata(sample50k))
	inDir := t.TempDir()
	input := writeTo(t, filepath.Join(inDir, "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv"), csvFile(goodRows(60000)))
	want := refImport(t, input)
	imp := []string{"import", "--archive-root", root, "--segment-size", segSize, "--force", input}

	t.Run("ENOSPC", func(t *testing.T) {
		// Leave about 1 MiB free: less than the new stream needs.
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		free := int64(st.Bavail) * st.Bsize
		ballast := filepath.Join(mnt, "ballast")
		if err := os.WriteFile(ballast, make([]byte, free-(1<<20)), 0o644); err != nil {
			t.Fatal(err)
		}
		before := tree(t, root)
		r := chronicle(t, nil, imp...)
		if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") {
			t.Errorf("on a full disk: want exit 1 and ENOSPC: %v", r)
		}
		if diff := diffTrees(before, tree(t, root)); diff != "" {
			t.Errorf("the archive changed:\n%s", diff)
		}
		os.Remove(ballast)
		mustRun(t, nil, imp...)
		if diff := diffTrees(want.files, streamFiles(t, filepath.Join(root, bigStream))); diff != "" {
			t.Errorf("after freeing space the stream differs from an undisturbed import's:\n%s", diff)
		}
	})
	t.Run("EROFS", func(t *testing.T) {
		mustRun(t, nil, "import", "--archive-root", root, "--segment-size", segSize, "--force", testdata(sample50k))
		if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
			t.Skipf("skipping: cannot remount read-only: %v %s", err, out)
		}
		before := tree(t, root)
		r := chronicle(t, nil, imp...)
		if r.code != 1 || !strings.Contains(r.stderr, "read-only file system") {
			t.Errorf("on a read-only mount: want exit 1 and EROFS: %v", r)
		}
		if out, err := exec.Command("mount", "-o", "remount,rw", mnt).CombinedOutput(); err != nil {
			t.Fatalf("remount rw: %v %s", err, out)
		}
		if diff := diffTrees(before, tree(t, root)); diff != "" {
			t.Errorf("the archive changed:\n%s", diff)
		}
		mustRun(t, nil, imp...)
		if diff := diffTrees(want.files, streamFiles(t, filepath.Join(root, bigStream))); diff != "" {
			t.Errorf("after the remount the stream differs from an undisturbed import's:\n%s", diff)
		}
	})
	if v := verifyOK(t, root, false); v != "" {
		t.Errorf("verify: %s", v)
	}
}
