package stream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/vfs"
)

func openCheckpoints(t *testing.T, dir string) *book.CheckpointFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, book.FileName))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := book.OpenCheckpointFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

// TestCheckpointPlacement: one checkpoint at the start of every segment
// and one every N events, each positioned at the record it precedes.
func TestCheckpointPlacement(t *testing.T) {
	o := importOpts(t.TempDir(), futuresSample)
	o.SegmentSize = 256 << 10
	o.CheckpointEvery = 1000
	res := mustImport(t, o)
	if res.Segments < 3 {
		t.Fatalf("%d segments; the test wants several", res.Segments)
	}
	// Where the checkpoints must be: positions of the records they precede.
	evs, err := OpenEvents(nil, res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	type pos struct {
		seg uint32
		off int64
		seq uint64 // of the event before it
	}
	var want []pos
	var prevSeg uint32
	var prevSeq uint64
	for n := 0; ; n++ {
		ev, err := evs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rec := evs.Record()
		if n == 0 || n%1000 == 0 || rec.SegmentID != prevSeg {
			want = append(want, pos{rec.SegmentID, rec.Offset, prevSeq})
		}
		prevSeg, prevSeq = rec.SegmentID, ev.Seq
	}
	evs.Close()
	cf := openCheckpoints(t, res.Dir)
	if cf.Len() != len(want) {
		t.Fatalf("%d checkpoints, want %d", cf.Len(), len(want))
	}
	segStarts := 0
	for i, w := range want {
		got := cf.Info(i)
		if got.SegmentID != w.seg || got.Offset != w.off || got.Seq != w.seq {
			t.Fatalf("checkpoint %d at (%d, %d) after seq %d, want (%d, %d) after seq %d", i, got.SegmentID, got.Offset, got.Seq, w.seg, w.off, w.seq)
		}
		if w.off == 64 {
			segStarts++
		}
	}
	if segStarts != res.Segments {
		t.Fatalf("%d checkpoints at segment starts, %d segments", segStarts, res.Segments)
	}
	rep := mustVerify(t, res.Dir)
	if !checkedLine(rep, "checkpoints match a replay") {
		t.Fatalf("verify did not check the checkpoints: %v", rep.Checked)
	}
}

// TestIndex: streams imported without checkpoints, and compressed ones,
// get them from Index; positions are the same compressed or not.
func TestIndex(t *testing.T) {
	o := importOpts(t.TempDir(), futuresSample)
	o.SegmentSize = 256 << 10
	o.NoCheckpoints = true
	res := mustImport(t, o)
	if _, err := os.Stat(filepath.Join(res.Dir, book.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("import without checkpoints wrote some: %v", err)
	}
	rep := mustVerify(t, res.Dir)
	if len(rep.Notes) == 0 || !strings.Contains(strings.Join(rep.Notes, "\n"), "no book checkpoints") {
		t.Fatalf("no note about missing checkpoints: %v", rep.Notes)
	}
	ctx := context.Background()
	if err := Index(ctx, nil, res.Dir, 700); err != nil {
		t.Fatal(err)
	}
	plain, _ := os.ReadFile(filepath.Join(res.Dir, book.FileName))
	mustVerify(t, res.Dir)

	if err := archive.Compress(ctx, nil, res.Dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(res.Dir, book.FileName)); !bytes.Equal(b, plain) {
		t.Fatal("compress changed the checkpoints")
	}
	mustVerify(t, res.Dir)
	// Rebuilt from the compressed segments: the same bytes.
	if err := Index(ctx, nil, res.Dir, 700); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(res.Dir, book.FileName)); !bytes.Equal(b, plain) {
		t.Fatal("checkpoints of the compressed stream differ")
	}
	// And the same as import --compress writes.
	o2 := importOpts(t.TempDir(), futuresSample)
	o2.SegmentSize, o2.CheckpointEvery, o2.Compress = 256<<10, 700, true
	res2 := mustImport(t, o2)
	if b, _ := os.ReadFile(filepath.Join(res2.Dir, book.FileName)); !bytes.Equal(b, plain) {
		t.Fatal("import --compress wrote other checkpoints")
	}
	if err := Index(ctx, nil, res.Dir, 0); err != nil { // 0: the default
		t.Fatal(err)
	}
	if n := openCheckpoints(t, res.Dir).Len(); n != res.Segments {
		t.Fatalf("default spacing over %d events: %d checkpoints, want one per segment (%d)", res.Events, n, res.Segments)
	}
	mustVerify(t, res.Dir)
}

// TestIndexFaults fails every file-system operation of Index in turn: the
// stream must be as it was, or (when the failure comes after the commit
// point, the directory exchange) completely indexed.
func TestIndexFaults(t *testing.T) {
	for i := int64(0); ; i++ {
		o := importOpts(t.TempDir(), sample)
		o.NoCheckpoints = true
		res := mustImport(t, o)
		before := snapshotTree(t, filepath.Dir(res.Dir))
		err := Index(context.Background(), vfs.NewErrorFS(vfs.Default, i), res.Dir, 2)
		if err != nil && !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("op %d: %v", i, err)
		}
		if _, serr := os.Stat(filepath.Join(res.Dir, book.FileName)); err != nil && serr != nil {
			sameTree(t, before, snapshotTree(t, filepath.Dir(res.Dir)))
			continue
		}
		if n := openCheckpoints(t, res.Dir).Len(); n != 4 {
			t.Fatalf("op %d: %d checkpoints over 8 events every 2, want 4", i, n)
		}
		mustVerify(t, res.Dir)
		if err == nil {
			break
		}
		if i > 200 {
			t.Fatal("Index keeps failing")
		}
	}
}

func TestBuildCheckpointsCanceled(t *testing.T) {
	o := importOpts(t.TempDir(), sample)
	res := mustImport(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := snapshotTree(t, res.Dir)
	if err := Index(ctx, nil, res.Dir, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	sameTree(t, before, snapshotTree(t, res.Dir))
}

func TestVerifyCheckpoints(t *testing.T) {
	newStream := func(t *testing.T) (dir, ckpt string) {
		o := importOpts(t.TempDir(), sample)
		o.CheckpointEvery = 2
		res := mustImport(t, o)
		return res.Dir, filepath.Join(res.Dir, book.FileName)
	}
	t.Run("damaged byte", func(t *testing.T) {
		dir, ckpt := newStream(t)
		b, _ := os.ReadFile(ckpt)
		b[len(b)/2] ^= 1 // inside a record's levels
		os.WriteFile(ckpt, b, 0o644)
		rep, err := Verify(nil, dir)
		if err != nil {
			t.Fatal(err)
		}
		// The manifest notices, and so does the checkpoint check itself,
		// with the record's offset.
		manifestSaw, ckptSaw := false, false
		for _, p := range rep.Problems {
			if p.Path != ckpt {
				continue
			}
			if strings.Contains(p.Err.Error(), "blake3") {
				manifestSaw = true
			}
			if errors.Is(p.Err, book.ErrCorruptCheckpointFile) && p.Offset > 0 && p.Offset < int64(len(b)) {
				ckptSaw = true
			}
		}
		if !manifestSaw || !ckptSaw {
			t.Fatalf("manifest saw it %v, checkpoint check saw it %v:\n%s", manifestSaw, ckptSaw, problemsText(rep))
		}
	})
	t.Run("damaged trailer", func(t *testing.T) {
		dir, ckpt := newStream(t)
		b, _ := os.ReadFile(ckpt)
		b[len(b)-8] ^= 1 // trailer magic
		os.WriteFile(ckpt, b, 0o644)
		rewriteManifest(t, dir)
		rep, _ := Verify(nil, dir)
		if len(rep.Problems) != 1 || rep.Problems[0].Path != ckpt || rep.Problems[0].Offset != int64(len(b)-8) {
			t.Fatalf("want one problem at %s offset %d:\n%s", ckpt, len(b)-8, problemsText(rep))
		}
	})
	t.Run("valid but wrong", func(t *testing.T) {
		// The same file with one diff amount changed (same digits, so the
		// same record sizes, positions and seqs): its checkpoints are well
		// formed but hold another book after that event (seq 1).
		src, _ := os.ReadFile(sample)
		const row = "false,bid,7523.16,0.056039\n"
		if !bytes.Contains(src, []byte(row)) {
			t.Fatalf("%s no longer has the row %q", sample, row)
		}
		alt := filepath.Join(t.TempDir(), filepath.Base(sample))
		os.WriteFile(alt, bytes.Replace(src, []byte(row), []byte("false,bid,7523.16,0.056038\n"), 1), 0o644)
		o := importOpts(t.TempDir(), alt)
		o.CheckpointEvery = 1
		other := mustImport(t, o)

		o = importOpts(t.TempDir(), sample)
		o.CheckpointEvery = 1
		dir := mustImport(t, o).Dir
		ckpt := filepath.Join(dir, book.FileName)
		b, err := os.ReadFile(filepath.Join(other.Dir, book.FileName))
		if err != nil {
			t.Fatal(err)
		}
		orig, _ := os.ReadFile(ckpt)
		if bytes.Equal(b, orig) {
			t.Fatal("the altered file has the same checkpoints")
		}
		os.WriteFile(ckpt, b, 0o644)
		rewriteManifest(t, dir)
		rep, _ := Verify(nil, dir)
		text := problemsText(rep)
		// Checkpoints 2..7 (before seqs 2..7) hold the other book.
		if len(rep.Problems) != 6 || !strings.Contains(text, "checkpoint 2 at segment 0 offset") ||
			!strings.Contains(text, "does not match a replay: bids differ") {
			t.Fatalf("want checkpoints 2..7 reported as not matching a replay:\n%s", text)
		}
		for _, p := range rep.Problems {
			if p.Path != ckpt {
				t.Fatalf("problem outside the checkpoint file: %v", p)
			}
		}
	})
	t.Run("positions", func(t *testing.T) {
		dir, ckpt := newStream(t)
		var buf bytes.Buffer
		cps := []book.Checkpoint{{SegmentID: 0, Offset: 128}, {SegmentID: 0, Offset: 1 << 30}}
		if err := book.WriteCheckpointFile(&buf, cps); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(ckpt, buf.Bytes(), 0o644)
		rep := &archive.StreamReport{}
		verifyCheckpoints(vfs.Default, dir, rep)
		text := problemsText(rep)
		if len(rep.Problems) != 2 || !strings.Contains(text, "checkpoint 0: segment 0 offset 128 is not the position of a record") ||
			!strings.Contains(text, "checkpoint 1: segment 0 offset 1073741824 is past the end") {
			t.Fatalf("got:\n%s", text)
		}
	})
	t.Run("absent", func(t *testing.T) {
		dir, ckpt := newStream(t)
		os.Remove(ckpt)
		rep := &archive.StreamReport{}
		verifyCheckpoints(vfs.Default, dir, rep)
		if !rep.OK() || len(rep.Notes) != 1 {
			t.Fatalf("problems %v notes %v", rep.Problems, rep.Notes)
		}
	})
}
