package archive_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/columnar/colseg"
	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/vfs"
)

// trades has 100 rows: four segments of 4 KiB.
const trades = "../tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv"

var columnar = archive.Options{Codec: colseg.Codec{}}

func importTrades(t *testing.T, root string, compress bool) string {
	t.Helper()
	res, err := ingest.Import(context.Background(), ingest.Options{Root: root, Input: trades, SegmentSize: 4 << 10, Compress: compress})
	if err != nil {
		t.Fatal(err)
	}
	return res.Dir
}

// segFiles maps dir's segment and index file names to their bytes.
func segFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if _, _, ok := segment.ParseName(e.Name()); ok {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = string(b)
		}
	}
	return out
}

// TestNoCodec: without a codec, a stream holding .q.col segments is an
// error wrapping segment.ErrNoCodec naming the file, for readers, verify
// and decompress alike; never a stream read without them.
func TestNoCodec(t *testing.T) {
	dir := importTrades(t, t.TempDir(), true)
	name := filepath.Join(dir, segment.ColumnarName(0))
	hooks := func(*archive.Meta) archive.VerifyHooks {
		return archive.VerifyHooks{Record: func(*segment.Record) (int64, error) { return 1, nil }}
	}
	for what, f := range map[string]func() error{
		"OpenStream": func() error {
			s, err := archive.OpenStream(nil, dir)
			if err == nil {
				s.Close()
			}
			return err
		},
		"OpenStaging": func() error {
			s, err := archive.OpenStaging(nil, dir)
			if err == nil {
				s.Close()
			}
			return err
		},
		"VerifyStream": func() error { _, err := archive.VerifyStream(nil, dir, hooks); return err },
		"Decompress":   func() error { return archive.Decompress(context.Background(), nil, dir) },
	} {
		if err := f(); !errors.Is(err, segment.ErrNoCodec) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want segment.ErrNoCodec naming %s", what, err, name)
		}
	}
	if s, err := archive.OpenStream(nil, dir, columnar); err != nil {
		t.Fatalf("with the codec: %v", err)
	} else {
		s.Close()
	}
}

// TestCompressOtherCodec: a stream compressed with one codec is not
// compressed with the other (that would mix them); meta.json and the
// segment files say which, and verify checks that they agree.
func TestCompressOtherCodec(t *testing.T) {
	dir := importTrades(t, t.TempDir(), true)
	before := segFiles(t, dir)
	err := archive.Compress(context.Background(), nil, dir)
	if err == nil || !strings.Contains(err.Error(), "decompress") || !strings.Contains(err.Error(), segment.ColumnarName(0)) {
		t.Fatalf("zstd compress of a columnar stream: %v", err)
	}
	if !reflect.DeepEqual(segFiles(t, dir), before) {
		t.Fatal("the refused compress changed the stream")
	}
	for _, c := range []struct {
		name string
		edit func(m *archive.Meta)
		want string
	}{
		{"zstd", func(m *archive.Meta) { m.Codec = "zstd" }, "compressed with zstd, but 4 segments are .q.col"},
		{"none", func(m *archive.Meta) { m.Codec = "" }, "compressed with zstd, but 4 segments are .q.col"},
		{"plain", func(m *archive.Meta) { m.Compressed = false }, "not compressed, but names codec"},
		{"plain no codec", func(m *archive.Meta) { m.Compressed, m.Codec = false, "" }, "not compressed, but all 4 segments are compressed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := archive.ReadMeta(nil, dir)
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := os.ReadFile(filepath.Join(dir, archive.MetaName))
			defer os.WriteFile(filepath.Join(dir, archive.MetaName), orig, 0o644)
			c.edit(m)
			writeMeta(t, dir, m)
			rep, err := stream.Verify(nil, dir)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range rep.Problems {
				found = found || strings.Contains(p.Error(), c.want)
			}
			if !found {
				t.Fatalf("verify: %v, want %q", rep.Problems, c.want)
			}
			if evs, err := stream.OpenRecords(nil, dir); err == nil {
				evs.Close()
				if m.Compressed {
					t.Fatal("a reader opened a stream whose segments are not in meta.json's codec")
				}
			}
		})
	}
}

// TestCodecRewriteFaults fails each file-system operation of a columnar
// Compress, and then of a Decompress, in turn: after every failure the
// stream is readable and verifies, each segment file is the old or the new
// one of its name, and a rerun gives exactly the bytes of a run without
// faults.
func TestCodecRewriteFaults(t *testing.T) {
	tmpl := importTrades(t, t.TempDir(), false)
	plain := segFiles(t, tmpl)
	doneDir := importTrades(t, t.TempDir(), false)
	if err := archive.Compress(context.Background(), nil, doneDir, columnar); err != nil {
		t.Fatal(err)
	}
	compressed := segFiles(t, doneDir)
	if direct := segFiles(t, importTrades(t, t.TempDir(), true)); !reflect.DeepEqual(direct, compressed) {
		t.Fatal("import --compress and compress give different .q.col files")
	}
	for _, step := range []struct {
		name     string
		run      func(fsys vfs.FS, dir string) error
		from, to map[string]string
	}{
		{"compress", func(fsys vfs.FS, dir string) error {
			return archive.Compress(context.Background(), fsys, dir, columnar)
		}, plain, compressed},
		{"decompress", func(fsys vfs.FS, dir string) error {
			return archive.Decompress(context.Background(), fsys, dir, columnar)
		}, compressed, plain},
	} {
		t.Run(step.name, func(t *testing.T) {
			for failAt := int64(0); ; failAt++ {
				src := doneDir
				if step.name == "compress" {
					src = tmpl
				}
				dir := copyRoot(t, src)
				fsys := vfs.NewErrorFS(vfs.Default, failAt)
				err := step.run(fsys, dir)
				if fsys.Ops() <= failAt {
					if err != nil || failAt < 10 {
						t.Fatalf("after %d operations: %v", failAt, err)
					}
					t.Logf("%d operations, each failed in turn", failAt)
					break
				}
				// A failure is reported, or harmless (a staging directory
				// left to sweep).
				if err != nil && !errors.Is(err, vfs.ErrInjected) {
					t.Fatalf("fail at %d: %v", failAt, err)
				}
				for name, b := range segFiles(t, dir) {
					if step.from[name] != b && step.to[name] != b {
						t.Fatalf("fail at %d: %s is neither the old nor the new file", failAt, name)
					}
				}
				if rep, err := stream.Verify(nil, dir); err != nil || !rep.OK() {
					t.Fatalf("fail at %d: verify: %v %v", failAt, err, rep.Problems)
				}
				if err := step.run(nil, dir); err != nil {
					t.Fatalf("fail at %d: rerun: %v", failAt, err)
				}
				if !reflect.DeepEqual(segFiles(t, dir), step.to) {
					t.Fatalf("fail at %d: the rerun gives other bytes", failAt)
				}
			}
		})
	}
}

func writeMeta(t *testing.T, dir string, m *archive.Meta) {
	t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, archive.MetaName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyRoot copies the archive root of the stream dir (<root>/v1/<venue>/
// <symbol>/<date>/<stream>) and returns the stream's directory in the copy.
func copyRoot(t *testing.T, dir string) string {
	t.Helper()
	root := dir
	for range 5 {
		root = filepath.Dir(root)
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	to := t.TempDir()
	if err := os.CopyFS(to, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(to, rel)
}
