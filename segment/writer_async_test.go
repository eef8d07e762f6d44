package segment

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/chronicle-archive/chronicle/vfs"
)

// bigRecs returns records whose payloads straddle the write buffers: a
// few larger than a buffer, the rest of assorted sizes.
func bigRecs() []testRec {
	recs := genRecs(400, 9)
	for _, i := range []int{3, 150, 151, 399} {
		recs[i].payload = bytes.Repeat([]byte{byte(i)}, writeBufSize*5+i)
	}
	return recs
}

// checkPublishedFiles: PublishedFiles lists every published segment with
// the size and blake3 of its bytes as they are in the directory.
func checkPublishedFiles(t *testing.T, w *Writer, read func(name string) []byte) {
	t.Helper()
	files := w.PublishedFiles()
	if ids := w.Published(); len(ids) != len(files) {
		t.Fatalf("Published %v, PublishedFiles %d", ids, len(files))
	}
	for i, f := range files {
		if f.ID != w.Published()[i] || f.Name != Name(f.ID) {
			t.Fatalf("file %d: %+v", i, f)
		}
		b := read(f.Name)
		sum := blake3.Sum256(b)
		if int64(len(b)) != f.Size || f.Blake3 != hex.EncodeToString(sum[:]) {
			t.Fatalf("%s: PublishedFiles says %d bytes %s; the file has %d bytes %x", f.Name, f.Size, f.Blake3, len(b), sum)
		}
	}
}

// TestWriterHashes: the hash computed while writing matches the sealed
// file, on an in-memory file system and on the OS's (with the background
// syncer kicked often).
func TestWriterHashes(t *testing.T) {
	defer func(n int64) { syncEvery = n }(syncEvery)
	syncEvery = 3 * writeBufSize
	var syncs atomic.Int64
	defer func(f func(*os.File) error) { fileSync = f }(fileSync)
	fileSync = func(f *os.File) error { syncs.Add(1); return f.Sync() }

	recs := bigRecs()
	opts := WriterOptions{SegmentSize: 1 << 20}
	mem := newMemFS()
	o := opts
	o.FS = mem
	w, err := NewWriter("s", o)
	if err != nil {
		t.Fatal(err)
	}
	var pos []Position
	for _, r := range recs {
		p, err := w.Append(r.typ, r.ts, r.payload)
		if err != nil {
			t.Fatal(err)
		}
		pos = append(pos, p)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(w.Published()) < 3 {
		t.Fatalf("only %d segments", len(w.Published()))
	}
	checkPublishedFiles(t, w, func(name string) []byte { return mem.get("s/" + name) })
	got, err := readAll(mem, "s")
	if err != nil {
		t.Fatal(err)
	}
	checkRecs(t, got, recs, pos, 0)

	dir := t.TempDir()
	w2, err := NewWriter(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if _, err := w2.Append(r.typ, r.ts, r.payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	checkPublishedFiles(t, w2, func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
	if !reflect.DeepEqual(w.PublishedFiles(), w2.PublishedFiles()) {
		t.Fatal("the OS file system got other bytes than the in-memory one")
	}
	if syncs.Load() == 0 {
		t.Fatal("the background syncer never ran")
	}
}

// TestWriterSyncError: an error of the background fsync fails the
// segment (a later fsync might not report it again): nothing of it is
// published and the error comes back from Append or Close.
func TestWriterSyncError(t *testing.T) {
	defer func(n int64) { syncEvery = n }(syncEvery)
	syncEvery = writeBufSize
	errSync := errors.New("injected fsync error")
	defer func(f func(*os.File) error) { fileSync = f }(fileSync)
	fileSync = func(*os.File) error { return errSync }

	dir := t.TempDir()
	w, err := NewWriter(dir, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 1000)
	for i := 0; i < 20000 && err == nil; i++ {
		_, err = w.Append(1, uint64(i), p)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if !errors.Is(err, errSync) {
		t.Fatalf("got %v, want the fsync error", err)
	}
	if ents := mustReadDir(t, dir); len(ents) != 0 || len(w.Published()) != 0 {
		t.Fatalf("left %v, published %v", ents, w.Published())
	}
}

// TestWriterErrorAfterBackgroundWrite: a write that fails in the
// background is returned by a later Append, not lost, and the writer then
// stays failed.
func TestWriterErrorAfterBackgroundWrite(t *testing.T) {
	efs := vfs.NewErrorFS(newMemFS(), 3) // create, write, write, *write*
	w, err := NewWriter("s", WriterOptions{FS: efs})
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 1000)
	var appendErr error
	// The write fails in the background goroutine; Append reports it once
	// it has come back, which on a busy machine can take a while.
	for i := 0; i < 1000*writeBufSize/1000 && appendErr == nil; i++ {
		_, appendErr = w.Append(1, uint64(i), p)
		if i%64 == 0 {
			runtime.Gosched()
		}
	}
	if !errors.Is(appendErr, vfs.ErrInjected) {
		t.Fatalf("Append: %v, want the injected write error", appendErr)
	}
	if _, err := w.Append(1, 1, p); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Append after the error: %v", err)
	}
	if err := w.Close(); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Close: %v", err)
	}
	if len(w.Published()) != 0 {
		t.Fatalf("published %v", w.Published())
	}
}
