package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/columnar/colseg"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/replay"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/stream"
)

const (
	futuresSample = "../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz"
	tradesSample  = "../tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv"
)

// codecCases are the samples of the codec tests, with segments small
// enough that each stream has several.
var codecCases = []struct {
	name    string
	input   string
	segSize int64
	book    bool
}{
	{"book", futuresSample, 256 << 10, true},
	{"trades", tradesSample, 4 << 10, false},
}

func importCodec(t *testing.T, input string, segSize int64, compress bool, codec string) *Result {
	t.Helper()
	return mustImport(t, Options{Root: t.TempDir(), Input: input, SegmentSize: segSize, Compress: compress, Codec: codec})
}

// segmentFiles maps the names of dir's segment and index files to their
// bytes.
func segmentFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		if _, _, ok := segment.ParseName(e.Name()); ok {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
	}
	return out
}

func kinds(files map[string][]byte) map[segment.Kind]int {
	out := map[segment.Kind]int{}
	for name := range files {
		_, k, _ := segment.ParseName(name)
		out[k]++
	}
	return out
}

func totalSize(files map[string][]byte) (n int64) {
	for _, b := range files {
		n += int64(len(b))
	}
	return n
}

// rawRecords reads every record of a stream with archive's reader (the
// columnar codec given): header fields and payload bytes, one line each.
func rawRecords(t *testing.T, dir string) []string {
	t.Helper()
	s, err := archive.OpenStream(nil, dir, archive.Options{Codec: colseg.Codec{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []string
	for {
		rec, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		out = append(out, fmt.Sprintf("%d %d/%d %d %04x %x", rec.Seq, rec.SegmentID, rec.Offset, rec.Timestamp, rec.TypeID, rec.Payload))
	}
}

// typedRecords reads a stream with the typed reader of its type, each
// record as %+v of a copy.
func typedRecords(t *testing.T, dir string, isBook bool) []string {
	t.Helper()
	var out []string
	if isBook {
		evs, err := stream.OpenEvents(nil, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer evs.Close()
		for {
			ev, err := evs.Next()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			out = append(out, fmt.Sprintf("%+v %+v", *ev, recPos(evs.Record())))
		}
	}
	rs, err := stream.OpenRecords(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for {
		r, err := rs.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		out = append(out, fmt.Sprintf("%v %v %v %v %+v", r.LocalTS, r.ExchangeTS, r.HasExchangeTS, r.Present, r.Fields))
	}
}

func bookLevels(b *book.Book) string {
	var s strings.Builder
	for _, side := range []book.Side{book.Bid, book.Ask} {
		for l := range b.All(side) {
			fmt.Fprintf(&s, "%d:%d ", l.Price, l.Size)
		}
		s.WriteString("| ")
	}
	return s.String()
}

// TestColumnarImport imports each sample plain, with --compress (columnar
// by default) and with --codec zstd: every reader gives the plain import's
// records, verify is clean, .q.col is smaller than .q.zst, and decompress
// restores the plain import's segments and manifest byte for byte.
func TestColumnarImport(t *testing.T) {
	for _, c := range codecCases {
		t.Run(c.name, func(t *testing.T) {
			plain := importCodec(t, c.input, c.segSize, false, "")
			col := importCodec(t, c.input, c.segSize, true, "")
			zst := importCodec(t, c.input, c.segSize, true, "zstd")
			if plain.Segments < 3 {
				t.Fatalf("%d segments, want several", plain.Segments)
			}
			plainFiles, colFiles, zstFiles := segmentFiles(t, plain.Dir), segmentFiles(t, col.Dir), segmentFiles(t, zst.Dir)
			if k := kinds(colFiles); len(k) != 1 || k[segment.KindColumnar] != plain.Segments {
				t.Fatalf("columnar import holds %v, want %d .q.col", k, plain.Segments)
			}
			if k := kinds(zstFiles); len(k) != 2 || k[segment.KindCompressed] != plain.Segments || k[segment.KindIndex] != plain.Segments {
				t.Fatalf("zstd import holds %v, want %d .q.zst and .idx", k, plain.Segments)
			}
			for _, x := range []struct {
				res   *Result
				codec string
			}{{plain, ""}, {col, "columnar"}, {zst, "zstd"}} {
				m, err := archive.ReadMeta(nil, x.res.Dir)
				if err != nil {
					t.Fatal(err)
				}
				if m.Codec != x.codec || m.Compressed != (x.codec != "") {
					t.Errorf("%s: meta.json compressed=%v codec=%q, want codec %q", x.res.Dir, m.Compressed, m.Codec, x.codec)
				}
				rep, err := stream.Verify(nil, x.res.Dir)
				if err != nil || !rep.OK() || len(rep.Notes) > 1 {
					t.Fatalf("verify %s: %v %v %v", x.codec, err, rep.Problems, rep.Notes)
				}
			}
			cs, zs := totalSize(colFiles), totalSize(zstFiles)
			t.Logf("%d segments: .q %d bytes, .q.zst+.idx %d, .q.col %d (%.1f%% of zstd)", plain.Segments, totalSize(plainFiles), zs, cs, 100*float64(cs)/float64(zs))
			if cs >= zs {
				t.Errorf(".q.col %d bytes, not smaller than .q.zst %d", cs, zs)
			}

			wantRaw, wantTyped := rawRecords(t, plain.Dir), typedRecords(t, plain.Dir, c.book)
			if len(wantRaw) == 0 || len(wantTyped) != len(wantRaw) {
				t.Fatalf("plain: %d records, %d typed", len(wantRaw), len(wantTyped))
			}
			for _, dir := range []string{col.Dir, zst.Dir} {
				if got := rawRecords(t, dir); !reflect.DeepEqual(got, wantRaw) {
					t.Errorf("%s: archive reader differs from the plain import's (%d records, want %d)", dir, len(got), len(wantRaw))
				}
				if got := typedRecords(t, dir, c.book); !reflect.DeepEqual(got, wantTyped) {
					t.Errorf("%s: typed reader differs from the plain import's", dir)
				}
			}
			if c.book {
				checkBookAt(t, plain, col)
				// Checkpoints rebuilt from the .q.col (stream.Index) are
				// those the import wrote from the .q.
				want, err := os.ReadFile(filepath.Join(plain.Dir, book.FileName))
				if err != nil {
					t.Fatal(err)
				}
				if err := stream.Index(context.Background(), nil, col.Dir, book.DefaultEvery); err != nil {
					t.Fatal(err)
				}
				if got, err := os.ReadFile(filepath.Join(col.Dir, book.FileName)); err != nil || !bytes.Equal(got, want) {
					t.Errorf("checkpoints rebuilt from .q.col differ (%v)", err)
				}
			}

			// Decompress gives back the plain import: segment bytes and
			// manifest entries.
			for _, res := range []*Result{col, zst} {
				if err := archive.Decompress(context.Background(), nil, res.Dir, archive.Options{Codec: colseg.Codec{}}); err != nil {
					t.Fatal(err)
				}
				if got := segmentFiles(t, res.Dir); !reflect.DeepEqual(got, plainFiles) {
					t.Errorf("%s: decompressed segments differ from the plain import's", res.Dir)
				}
				pm, _ := archive.ReadMeta(nil, plain.Dir)
				m, err := archive.ReadMeta(nil, res.Dir)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(m.Files, pm.Files) || m.Compressed || m.Codec != "" {
					t.Errorf("%s: after decompress compressed=%v codec=%q files\n%v\nwant\n%v", res.Dir, m.Compressed, m.Codec, m.Files, pm.Files)
				}
				if rep, err := stream.Verify(nil, res.Dir); err != nil || !rep.OK() {
					t.Fatalf("verify after decompress: %v %v", err, rep.Problems)
				}
			}
		})
	}
}

// checkBookAt compares replay.BookAt of two streams at a few times.
func checkBookAt(t *testing.T, a, b *Result) {
	t.Helper()
	for i, q := range []uint64{a.MinTS, a.MinTS + (a.MaxTS-a.MinTS)/3, a.MinTS + (a.MaxTS-a.MinTS)*2/3, a.MaxTS - 1, a.MaxTS} {
		for _, noCkpt := range []bool{false, true} {
			o := replay.Options{NoCheckpoints: noCkpt}
			wb, wl, err := replay.BookAt(a.Dir, q, o)
			if err != nil {
				t.Fatal(err)
			}
			want := bookLevels(wb)
			gb, gl, err := replay.BookAt(b.Dir, q, o)
			if err != nil {
				t.Fatal(err)
			}
			if got := bookLevels(gb); got != want || gl != wl {
				t.Errorf("BookAt #%d (%d, no checkpoints %v): last ts %d, want %d; book differs", i, q, noCkpt, gl, wl)
			}
		}
	}
}

// TestColumnarDamage flips bytes of a .q.col at several places: readers
// fail with a *segment.CorruptionError naming the file, having returned
// only records of the plain import, verify reports the file, and
// decompress stops at it, leaving it as it was.
func TestColumnarDamage(t *testing.T) {
	plain := importCodec(t, futuresSample, 256<<10, false, "")
	want := typedRecords(t, plain.Dir, true)
	const victim = "000000001.q.col"
	for _, c := range []struct {
		name string
		off  func(size int) int
	}{
		{"header magic", func(int) int { return 0 }},
		{"segment header copy", func(int) int { return 32 + 8 }},
		{"first block", func(int) int { return 96 + 20 }},
		{"middle", func(n int) int { return n / 2 }},
		{"index", func(n int) int { return n - 24 - 30 }},
		{"trailer", func(n int) int { return n - 10 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := importCodec(t, futuresSample, 256<<10, true, "")
			path := filepath.Join(res.Dir, victim)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[c.off(len(b))] ^= 0x10
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			evs, err := stream.OpenEvents(nil, res.Dir)
			n := 0
			for err == nil {
				var ev *protocol.Event
				if ev, err = evs.Next(); err == nil {
					if n >= len(want) || fmt.Sprintf("%+v %+v", *ev, recPos(evs.Record())) != want[n] {
						t.Fatalf("record %d differs from the plain import's", n)
					}
					n++
				}
			}
			if evs != nil {
				evs.Close()
			}
			var ce *segment.CorruptionError
			if !errors.As(err, &ce) || ce.Path != path {
				t.Fatalf("reader: %v (after %d records), want a *segment.CorruptionError naming %s", err, n, path)
			}
			rep, err := stream.Verify(nil, res.Dir)
			if err != nil {
				t.Fatal(err)
			}
			named := false
			for _, p := range rep.Problems {
				named = named || p.Path == path
			}
			if !named {
				t.Fatalf("verify does not name %s: %v", path, rep.Problems)
			}
			before := snapshotTree(t, res.Dir)
			err = archive.Decompress(context.Background(), nil, res.Dir, archive.Options{Codec: colseg.Codec{}})
			if !errors.As(err, &ce) || ce.Path != path {
				t.Fatalf("decompress: %v, want a *segment.CorruptionError naming %s", err, victim)
			}
			// Segments before the damaged one are plain .q now, the
			// plain import's; the rest is as it was.
			after, plainTree := snapshotTree(t, res.Dir), snapshotTree(t, plain.Dir)
			for name, v := range after {
				if _, _, ok := segment.ParseName(name); ok && before[name] != v && plainTree[name] != v {
					t.Errorf("decompress left %s neither as it was nor as the plain import's", name)
				}
			}
			if after[victim] != before[victim] {
				t.Errorf("decompress changed %s", victim)
			}
		})
	}
}

// TestCompressCodecOption: re-importing a plain stream with --compress
// compresses it in place (archive.Compress) with the codec asked for; an
// unknown codec is refused before any work.
func TestCompressCodecOption(t *testing.T) {
	for _, c := range []struct {
		codec string
		kind  segment.Kind
		meta  string
	}{{"", segment.KindColumnar, "columnar"}, {"columnar", segment.KindColumnar, "columnar"}, {"zstd", segment.KindCompressed, "zstd"}} {
		t.Run(c.meta+"/"+c.codec, func(t *testing.T) {
			o := Options{Root: t.TempDir(), Input: tradesSample, SegmentSize: 4 << 10}
			res := mustImport(t, o)
			plain := segmentFiles(t, res.Dir)
			o.Compress, o.Codec = true, c.codec
			if r := mustImport(t, o); !r.Compressed {
				t.Fatal("re-import with --compress did not compress")
			}
			if k := kinds(segmentFiles(t, res.Dir)); k[c.kind] != res.Segments || k[segment.KindSegment] != 0 {
				t.Fatalf("holds %v, want %d %v", k, res.Segments, c.kind)
			}
			if m, _ := archive.ReadMeta(nil, res.Dir); m.Codec != c.meta || !m.Compressed {
				t.Fatalf("meta.json codec %q compressed %v", m.Codec, m.Compressed)
			}
			if rep, err := stream.Verify(nil, res.Dir); err != nil || !rep.OK() {
				t.Fatalf("verify: %v %v", err, rep.Problems)
			}
			if err := archive.Decompress(context.Background(), nil, res.Dir, archive.Options{Codec: colseg.Codec{}}); err != nil {
				t.Fatal(err)
			}
			if got := segmentFiles(t, res.Dir); !reflect.DeepEqual(got, plain) {
				t.Fatal("decompress did not restore the .q files")
			}
		})
	}
	o := Options{Root: t.TempDir(), Input: tradesSample, Compress: true, Codec: "lz4"}
	if _, err := Import(context.Background(), o); err == nil || !strings.Contains(err.Error(), `"lz4"`) {
		t.Fatalf("codec lz4: %v", err)
	}
}

func recPos(r segment.Record) string { return fmt.Sprintf("%d/%d/%d", r.SegmentID, r.Offset, r.Seq) }
