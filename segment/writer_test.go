package segment

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/vfs"
)

func TestWriterRoll(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    WriterOptions
		sizes   []int      // payload sizes
		want    []Position // where each record goes
		lengths []int64    // file size of each published segment
	}{
		{
			name:    "fills exactly then rolls",
			opts:    WriterOptions{SegmentSize: 320},
			sizes:   []int{5, 5, 5, 5},
			want:    []Position{{0, 64}, {0, 192}, {1, 64}, {1, 192}},
			lengths: []int64{320, 320},
		},
		{
			name:    "one byte too many rolls",
			opts:    WriterOptions{SegmentSize: 319},
			sizes:   []int{5, 5, 5},
			want:    []Position{{0, 64}, {1, 64}, {2, 64}},
			lengths: []int64{192, 192, 192},
		},
		{
			name:    "oversized record gets a segment of its own",
			opts:    WriterOptions{SegmentSize: 256},
			sizes:   []int{5, 500, 5},
			want:    []Position{{0, 64}, {1, 64}, {2, 64}},
			lengths: []int64{192, 640, 192},
		},
		{
			name:    "oversized records back to back",
			opts:    WriterOptions{SegmentSize: 128},
			sizes:   []int{1000, 1000, 0},
			want:    []Position{{0, 64}, {1, 64}, {2, 64}},
			lengths: []int64{1152, 1152, 128},
		},
		{
			name:    "empty payloads take 64 bytes",
			opts:    WriterOptions{SegmentSize: 256},
			sizes:   []int{0, 0, 0, 0},
			want:    []Position{{0, 64}, {0, 128}, {0, 192}, {1, 64}},
			lengths: []int64{256, 128},
		},
		{
			name:    "first id and seq",
			opts:    WriterOptions{FirstID: 41, FirstSeq: 1000},
			sizes:   []int{64, 65, 0},
			want:    []Position{{41, 64}, {41, 192}, {41, 384}},
			lengths: []int64{448},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := newMemFS()
			tc.opts.FS = fsys
			recs := make([]testRec, len(tc.sizes))
			for i, n := range tc.sizes {
				recs[i] = testRec{typ: 1, ts: uint64(i), payload: bytes.Repeat([]byte{byte(i + 1)}, n)}
			}
			w, err := NewWriter("s", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []Position
			for _, r := range recs {
				p, err := w.Append(r.typ, r.ts, r.payload)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, p)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("positions %v, want %v", got, tc.want)
			}
			var wantIDs []uint32
			for i, n := range tc.lengths {
				id := tc.opts.FirstID + uint32(i)
				wantIDs = append(wantIDs, id)
				if b := fsys.get("s/" + Name(id)); int64(len(b)) != n {
					t.Errorf("%s: %d bytes, want %d", Name(id), len(b), n)
				}
			}
			if p := w.Published(); !slices.Equal(p, wantIDs) {
				t.Errorf("Published() = %v, want %v", p, wantIDs)
			}
			ents, _ := fsys.ReadDir("s")
			if len(ents) != len(tc.lengths) {
				t.Errorf("directory holds %d files, want %d", len(ents), len(tc.lengths))
			}
			all, err := readAll(fsys, "s")
			if err != nil {
				t.Fatal(err)
			}
			checkRecs(t, all, recs, tc.want, tc.opts.FirstSeq)
		})
	}
}

func TestWriterEmpty(t *testing.T) {
	fsys := newMemFS()
	w, err := NewWriter("s", WriterOptions{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := fsys.ReadDir("s"); len(ents) != 0 || len(w.Published()) != 0 {
		t.Fatalf("a writer with no records published %v, left %d files", w.Published(), len(ents))
	}
	if _, err := w.Append(1, 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
}

func TestWriterDeterministic(t *testing.T) {
	recs := genRecs(300, 3)
	a, b := newMemFS(), newMemFS()
	writeRecs(t, "s", WriterOptions{FS: a, SegmentSize: 8 << 10}, recs)
	writeRecs(t, "s", WriterOptions{FS: b, SegmentSize: 8 << 10}, recs)
	if len(a.files) < 3 || !reflect.DeepEqual(a.files, b.files) {
		t.Fatalf("two identical runs wrote different files (%d, %d)", len(a.files), len(b.files))
	}
}

// TestWriterNoReplace: publishing never replaces an existing segment.
func TestWriterNoReplace(t *testing.T) {
	dir := t.TempDir()
	old := []byte("not ours")
	if err := os.WriteFile(filepath.Join(dir, Name(0)), old, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(dir, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(1, 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Close over an existing segment: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, Name(0))); !bytes.Equal(b, old) {
		t.Fatal("the existing segment was replaced")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d files left, want only the old segment", len(ents))
	}
}

func TestWriterOptions(t *testing.T) {
	for _, tc := range []struct {
		opts WriterOptions
		ok   bool
	}{
		{WriterOptions{}, true},
		{WriterOptions{SegmentSize: 128}, true},
		{WriterOptions{SegmentSize: 127}, false},
		{WriterOptions{SegmentSize: -1}, false},
		{WriterOptions{FirstID: MaxID}, true},
		{WriterOptions{FirstID: MaxID + 1}, false},
	} {
		_, err := NewWriter("s", tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("NewWriter(%+v): %v", tc.opts, err)
		}
	}
	// Rolling past MaxID fails, leaving the last good segment published.
	fsys := newMemFS()
	w, _ := NewWriter("s", WriterOptions{FS: fsys, FirstID: MaxID, SegmentSize: 128})
	if _, err := w.Append(1, 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(1, 1, nil); err == nil || !strings.Contains(err.Error(), "MaxID") {
		t.Fatalf("roll past MaxID: %v", err)
	}
	if !slices.Equal(w.Published(), []uint32{MaxID}) || fsys.get("s/999999999.q") == nil {
		t.Fatalf("published %v", w.Published())
	}
}

func TestWriterAbort(t *testing.T) {
	fsys := newMemFS()
	w, _ := NewWriter("s", WriterOptions{FS: fsys, SegmentSize: 320})
	for i := 0; i < 3; i++ { // two in segment 0, one in segment 1
		if _, err := w.Append(1, 1, []byte("abc")); err != nil {
			t.Fatal(err)
		}
	}
	w.Abort()
	ents, _ := fsys.ReadDir("s")
	if len(ents) != 1 || ents[0].Name() != Name(0) {
		t.Fatalf("after Abort: %v", ents)
	}
	if _, err := w.Append(1, 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Abort: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close after Abort: %v", err)
	}
}

// TestWriterLargePayload: payloads larger than the write buffer bypass it.
func TestWriterLargePayload(t *testing.T) {
	fsys := newMemFS()
	recs := []testRec{
		{1, 1, []byte("small")},
		{2, 2, bytes.Repeat([]byte("0123456789abcdef"), (3*writeBufSize)/16+3)},
		{3, 3, []byte("after")},
	}
	pos := writeRecs(t, "s", WriterOptions{FS: fsys}, recs)
	got, err := readAll(fsys, "s")
	if err != nil {
		t.Fatal(err)
	}
	checkRecs(t, got, recs, pos, 0)
}

// TestWriterFaults fails the writer's i-th file-system operation for
// i = 0, 1, ... until a run succeeds. After each failure only whole,
// sealed segments are published (exactly those Published reports), they
// read back as a prefix of what was appended, and no .tmp is left.
func TestWriterFaults(t *testing.T) {
	recs := genRecs(60, 5)
	opts := WriterOptions{SegmentSize: 4 << 10}
	ref := t.TempDir()
	refPos := writeRecs(t, ref, opts, recs)

	for i := int64(0); ; i++ {
		dir := t.TempDir()
		efs := vfs.NewErrorFS(vfs.Default, i)
		o := opts
		o.FS = efs
		w, err := NewWriter(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if _, err = w.Append(r.typ, r.ts, r.payload); err != nil {
				break
			}
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			// Every earlier index hit an op and failed the run.
			if efs.Ops() != i {
				t.Fatalf("succeeded with op %d failing, after %d ops", i, efs.Ops())
			}
			for _, e := range mustReadDir(t, ref) {
				a, _ := os.ReadFile(filepath.Join(ref, e.Name()))
				b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				if !bytes.Equal(a, b) {
					t.Fatalf("after faults the successful run wrote a different %s", e.Name())
				}
			}
			t.Logf("%d ops, each failed once", i)
			return
		}
		if !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("op %d: %v, want the injected fault", i, err)
		}
		var ids []uint32
		for _, e := range mustReadDir(t, dir) {
			id, kind, ok := ParseName(e.Name())
			if !ok || kind != KindSegment {
				t.Fatalf("op %d: left %s behind", i, e.Name())
			}
			ids = append(ids, id)
		}
		if !slices.Equal(ids, w.Published()) && !(len(ids) == 0 && len(w.Published()) == 0) {
			t.Fatalf("op %d: directory has %v, Published() says %v", i, ids, w.Published())
		}
		got, err := readAll(vfs.Default, dir)
		if err != nil {
			t.Fatalf("op %d: published segments do not read back: %v", i, err)
		}
		n := len(got)
		if n > 0 && n < len(recs) && refPos[n].SegmentID == refPos[n-1].SegmentID {
			t.Fatalf("op %d: %d records readable, not a whole number of segments", i, n)
		}
		checkRecs(t, got, recs[:n], refPos[:n], 0)
	}
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

// TestAppendParts: a record appended in pieces is the same bytes as the
// record appended whole, whatever the split, including a record larger
// than the writer's buffers and larger than the segment size.
func TestAppendParts(t *testing.T) {
	recs := genRecs(200, 7)
	big := make([]byte, 3*writeBufSize+17)
	for i := range big {
		big[i] = byte(i * 7)
	}
	recs = append(recs, testRec{typ: 0x1000, ts: 1, payload: big}, recs[0])
	opts := func(fsys vfs.FS) WriterOptions { return WriterOptions{FS: fsys, SegmentSize: 8 << 10} }
	whole := newMemFS()
	writeRecs(t, "s", opts(whole), recs)
	for _, split := range []int{0, 1, 64, 1000} {
		parts := newMemFS()
		w, err := NewWriter("s", opts(parts))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			k := min(split, len(r.payload))
			if _, err := w.AppendParts(r.typ, r.ts, nil, r.payload[:k], r.payload[k:], nil); err != nil {
				t.Fatalf("AppendParts %d: %v", i, err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(whole.files, parts.files) {
			t.Errorf("split at %d: the files differ from whole appends", split)
		}
	}
	// The big record got a segment of its own, larger than SegmentSize,
	// and reads back.
	got, err := readAll(whole, "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) || !bytes.Equal(got[len(recs)-2].Payload, big) {
		t.Fatalf("read %d records; the big one does not read back", len(got))
	}
}
