package ingest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/stream"
)

// ckptSampleGz has 7484 events: several checkpoints and, with a small
// segment size, several segments.
const ckptSampleGz = "../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz"

// TestInlineCheckpointsMatchSecondPass: the checkpoint file Import builds
// as it writes the events is byte for byte the one buildCheckpoints writes
// from a replay of the finished segments.
func TestInlineCheckpointsMatchSecondPass(t *testing.T) {
	for _, tc := range []struct {
		name     string
		input    string
		segSize  int64
		every    int
		compress bool
		minSegs  int
	}{
		{"2050-rows", sample, 0, 0, false, 1},
		{"2050-rows-every-7", sample, 0, 7, false, 1},
		{"2050-rows-segments", sample, 2 << 10, 25, false, 3},
		{"futures-segments", ckptSampleGz, 64 << 10, 0, false, 3},
		{"futures-segments-every-333", ckptSampleGz, 64 << 10, 333, false, 3},
		{"futures-segments-compress", ckptSampleGz, 64 << 10, 1000, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := importOpts(t.TempDir(), tc.input)
			o.SegmentSize, o.CheckpointEvery, o.Compress = tc.segSize, tc.every, tc.compress
			res := mustImport(t, o)
			if res.Segments < tc.minSegs {
				t.Fatalf("%d segments, want at least %d", res.Segments, tc.minSegs)
			}
			got, err := os.ReadFile(filepath.Join(res.Dir, book.FileName))
			if err != nil {
				t.Fatal(err)
			}
			// The second pass: chronicle index, which replays the stream.
			if err := stream.Index(context.Background(), nil, res.Dir, tc.every); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(res.Dir, book.FileName))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("inline checkpoints (%d bytes) differ from chronicle index's (%d bytes)", len(got), len(want))
			}
			cf, err := book.OpenCheckpointFile(bytes.NewReader(got), int64(len(got)))
			if err != nil {
				t.Fatal(err)
			}
			if cf.Len() < res.Segments {
				t.Fatalf("%d checkpoints for %d segments", cf.Len(), res.Segments)
			}
			mustVerifyStream(t, res.Dir)
		})
	}
}

// TestImportNoCheckpoints: CheckpointEvery < 0 writes no checkpoint file
// and leaves no .tmp.
func TestImportNoCheckpoints(t *testing.T) {
	o := importOpts(t.TempDir(), sample)
	o.NoCheckpoints = true
	res := mustImport(t, o)
	ents, _ := os.ReadDir(res.Dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "checkpoints") || strings.HasSuffix(e.Name(), ".tmp") {
			t.Fatalf("found %s", e.Name())
		}
	}
	mustVerifyStream(t, res.Dir)
}

// TestManifestMatchesBytes: every manifest entry, including those whose
// hash the segment writer computed while writing, is the size and blake3
// of the file's bytes on disk.
func TestManifestMatchesBytes(t *testing.T) {
	for _, compress := range []bool{false, true} {
		o := importOpts(t.TempDir(), ckptSampleGz)
		o.SegmentSize, o.Compress = 64<<10, compress
		res := mustImport(t, o)
		m, err := archive.ReadMeta(nil, res.Dir)
		if err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(res.Dir)
		if len(m.Files) != len(ents)-1 || len(m.Files) < 4 {
			t.Fatalf("compress=%v: manifest lists %d files, the directory holds %d besides meta.json", compress, len(m.Files), len(ents)-1)
		}
		for _, f := range m.Files {
			b, err := os.ReadFile(filepath.Join(res.Dir, f.Name))
			if err != nil {
				t.Fatal(err)
			}
			sum := blake3.Sum256(b)
			if int64(len(b)) != f.Size || f.Blake3 != hexString(sum[:]) {
				t.Fatalf("compress=%v: manifest entry %+v does not match the file (%d bytes)", compress, f, len(b))
			}
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func mustVerifyStream(t *testing.T, dir string) {
	t.Helper()
	rep, err := stream.Verify(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
}
