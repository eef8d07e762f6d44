package segment

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/vfs"
	"github.com/klauspost/compress/zstd"
)

// bigSegment writes a single segment of a few MiB: several default-size
// blocks.
func bigSegment(t *testing.T, dir string) ([]testRec, []Position) {
	t.Helper()
	recs := genRecs(12000, 21)
	pos := writeRecs(t, dir, WriterOptions{}, recs)
	if pos[len(pos)-1].Offset < 2*DefaultBlockSize {
		t.Fatalf("segment too small: %v", pos[len(pos)-1])
	}
	return recs, pos
}

// TestCompressZstdCLI: the reference zstd tool restores the .q from the
// concatenated frames.
func TestCompressZstdCLI(t *testing.T) {
	zstdBin, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("zstd not installed")
	}
	dir := t.TempDir()
	bigSegment(t, dir)
	q, _ := os.ReadFile(filepath.Join(dir, Name(0)))
	if err := CompressSegment(dir, 0, CompressOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zstdBin, "-dc", filepath.Join(dir, CompressedName(0))).Output()
	if err != nil {
		t.Fatal(err)
	}
	compareBytes(t, "zstd -dc", out, q, nil)
}

// TestCompressStreamingDecode: so does a plain streaming decoder.
func TestCompressStreamingDecode(t *testing.T) {
	dir := t.TempDir()
	bigSegment(t, dir)
	q, _ := os.ReadFile(filepath.Join(dir, Name(0)))
	if err := CompressSegment(dir, 0, CompressOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, CompressedName(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	out, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	compareBytes(t, "streaming decode", out, q, nil)
	idx, _ := os.ReadFile(filepath.Join(dir, IndexName(0)))
	ix, err := ParseIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	if ix.BlockSize != DefaultBlockSize || len(ix.Entries) < 3 || ix.UncompressedSize() != int64(len(q)) {
		t.Fatalf("index: block size %d, %d frames, %d bytes", ix.BlockSize, len(ix.Entries), ix.UncompressedSize())
	}
}

func TestCompressDeterministic(t *testing.T) {
	for _, opts := range []CompressOptions{{}, {BlockSize: 4096, Level: 1}, {BlockSize: 1000, Level: 9}, {BlockSize: 65536, Level: 19}} {
		var first map[string][]byte
		for run := 0; run < 2; run++ {
			fsys := newMemFS()
			writeRecs(t, "s", WriterOptions{FS: fsys}, genRecs(200, 1))
			compressAll(t, fsys, "s", opts)
			files := map[string][]byte{}
			for k, v := range fsys.files {
				files[k] = v.b
			}
			if run == 0 {
				first = files
				continue
			}
			for k, v := range files {
				if !bytes.Equal(first[k], v) {
					t.Fatalf("%+v: %s differs between runs", opts, k)
				}
			}
		}
	}
}

// TestCompressRerun: every state an interrupted CompressSegment can leave
// is finished by running it again, with the same bytes as an
// uninterrupted run.
func TestCompressRerun(t *testing.T) {
	ref := newMemFS()
	recs := genRecs(400, 2)
	pos := writeRecs(t, "s", WriterOptions{FS: ref}, recs)
	q := bytes.Clone(ref.get("s/" + Name(0)))
	compressAll(t, ref, "s", CompressOptions{BlockSize: 4096})
	zst, idx := ref.get("s/"+CompressedName(0)), ref.get("s/"+IndexName(0))

	for _, tc := range []struct {
		name  string
		files map[string][]byte // the stream directory before the rerun
	}{
		{"leftover tmp files", map[string][]byte{Name(0): q, CompressedName(0) + ".tmp": []byte("junk"), IndexName(0) + ".tmp": []byte("junk")}},
		{"published, .q not yet removed", map[string][]byte{Name(0): q, CompressedName(0): zst, IndexName(0): idx}},
		{"index renamed, data not", map[string][]byte{Name(0): q, IndexName(0): idx, CompressedName(0) + ".tmp": zst[:10]}},
		{"stale compressed files", map[string][]byte{Name(0): q, CompressedName(0): []byte("old"), IndexName(0): []byte("old")}},
		{"done", map[string][]byte{CompressedName(0): zst, IndexName(0): idx}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemFS()
			for k, v := range tc.files {
				m.put("s/"+k, v)
			}
			// Before the rerun readers already see the right records.
			if _, ok := tc.files[Name(0)]; ok {
				got, err := readAll(m, "s")
				if err != nil {
					t.Fatal(err)
				}
				checkRecs(t, got, recs, pos, 0)
			}
			if err := CompressSegment("s", 0, CompressOptions{FS: m, BlockSize: 4096}); err != nil {
				t.Fatal(err)
			}
			if len(m.files) != 2 || !bytes.Equal(m.get("s/"+CompressedName(0)), zst) || !bytes.Equal(m.get("s/"+IndexName(0)), idx) {
				t.Fatalf("after the rerun: %d files, or different bytes", len(m.files))
			}
			got, err := readAll(m, "s")
			if err != nil {
				t.Fatal(err)
			}
			checkRecs(t, got, recs, pos, 0)
		})
	}
	t.Run("nothing there", func(t *testing.T) {
		if err := CompressSegment("s", 0, CompressOptions{FS: newMemFS()}); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v, want fs.ErrNotExist", err)
		}
	})
}

func TestCompressRefuses(t *testing.T) {
	base := newMemFS()
	writeRecs(t, "s", WriterOptions{FS: base}, genRecs(5, 1))
	q := base.get("s/" + Name(0))
	for _, tc := range []struct {
		name string
		q    []byte
		id   uint32
		opts CompressOptions
		want error
	}{
		{"unsealed", append(append(bytes.Clone(q[:12]), 0, 0, 0, 0), q[16:]...), 0, CompressOptions{}, ErrNotSealed},
		{"wrong id", q, 3, CompressOptions{}, ErrHeader},
		{"not a segment", []byte(strings.Repeat("x", 100)), 0, CompressOptions{}, ErrMagic},
		{"too short", q[:10], 0, CompressOptions{}, ErrTruncated},
		{"block size", q, 0, CompressOptions{BlockSize: MaxBlockSize + 1}, nil},
		{"negative block size", q, 0, CompressOptions{BlockSize: -1}, nil},
		{"level", q, 0, CompressOptions{Level: 23}, nil},
		{"negative level", q, 0, CompressOptions{Level: -1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemFS()
			m.put("s/"+Name(tc.id), tc.q)
			tc.opts.FS = m
			err := CompressSegment("s", tc.id, tc.opts)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || (tc.want == nil && IsCorruption(err)) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			if len(m.files) != 1 {
				t.Fatalf("left %d files", len(m.files))
			}
		})
	}
}

func TestCompressLevels(t *testing.T) {
	for _, level := range []int{1, 3, 7, 22} {
		fsys := newMemFS()
		recs := genRecs(200, 3)
		pos := writeRecs(t, "s", WriterOptions{FS: fsys}, recs)
		compressAll(t, fsys, "s", CompressOptions{Level: level, BlockSize: 8192})
		got, err := readAll(fsys, "s")
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		checkRecs(t, got, recs, pos, 0)
	}
}

// TestCompressFaults fails CompressSegment's i-th file-system operation
// for i = 0, 1, ... until it succeeds. After every failure the records
// read back unchanged, no .tmp is left, and a rerun without faults ends
// with the same bytes as an uninterrupted run.
func TestCompressFaults(t *testing.T) {
	src := t.TempDir()
	recs := genRecs(300, 4)
	pos := writeRecs(t, src, WriterOptions{SegmentSize: 16 << 10}, recs)
	ref := copyDir(t, src)
	compressAll(t, vfs.Default, ref, CompressOptions{BlockSize: 4096})

	for i := int64(0); ; i++ {
		dir := copyDir(t, src)
		efs := vfs.NewErrorFS(vfs.Default, i)
		err := CompressSegment(dir, 1, CompressOptions{FS: efs, BlockSize: 4096})
		if err != nil && !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("op %d: %v", i, err)
		}
		for _, e := range mustReadDir(t, dir) {
			if strings.HasSuffix(e.Name(), ".tmp") {
				t.Fatalf("op %d: left %s", i, e.Name())
			}
		}
		got, rerr := readAll(vfs.Default, dir)
		if rerr != nil {
			t.Fatalf("op %d: %v", i, rerr)
		}
		checkRecs(t, got, recs, pos, 0)
		if rep, verr := VerifyStream(dir, nil, nil); verr != nil || !rep.OK() {
			t.Fatalf("op %d: %v %v", i, rep.Problems, verr)
		}
		// Finish the job as a rerun would; segment 1 then matches ref.
		if err := CompressSegment(dir, 1, CompressOptions{BlockSize: 4096}); err != nil {
			t.Fatalf("op %d: rerun: %v", i, err)
		}
		for _, name := range []string{CompressedName(1), IndexName(1)} {
			a, _ := os.ReadFile(filepath.Join(ref, name))
			b, _ := os.ReadFile(filepath.Join(dir, name))
			if !bytes.Equal(a, b) {
				t.Fatalf("op %d: %s differs after the rerun", i, name)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, Name(1))); !os.IsNotExist(err) {
			t.Fatalf("op %d: the .q survived the rerun", i)
		}
		if err == nil {
			if efs.Ops() != i {
				t.Fatalf("succeeded with op %d failing, after %d ops", i, efs.Ops())
			}
			t.Logf("%d ops, each failed once", i)
			return
		}
	}
}
