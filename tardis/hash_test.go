package tardis

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/protocol"
)

// slowHash is a hash that sleeps on each write, so that its goroutine
// lags the reader: the sum must still cover every byte once Next has
// returned io.EOF.
type slowHash struct {
	h     io.Writer
	sum   func() []byte
	delay time.Duration
}

func newSlowHash(d time.Duration) *slowHash {
	h := sha256.New()
	return &slowHash{h: h, sum: func() []byte { return h.Sum(nil) }, delay: d}
}

func (s *slowHash) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	return s.h.Write(p)
}

func drain(t *testing.T, r *EventReader) {
	t.Helper()
	var ev protocol.Event
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestHashInput checks Options.Hash, which a goroutine of its own writes:
// after io.EOF it has seen exactly the file's bytes (compressed ones for
// gzip), for plain and gzip files and a pipe, and Close stops it early.
func TestHashInput(t *testing.T) {
	plain := genCSV(20000, 4)
	files := map[string][]byte{"book.csv": plain, "book.csv.gz": gz(t, plain)}
	for name, data := range files {
		path := writeTemp(t, name, data)
		want := sha256.Sum256(data)
		h := newSlowHash(time.Millisecond)
		r, err := Open(path, Options{Hash: h})
		if err != nil {
			t.Fatal(err)
		}
		drain(t, r)
		if got := h.sum(); !bytes.Equal(got, want[:]) {
			t.Errorf("%s: hash after io.EOF is not the file's", name)
		}
		if r.BytesRead() != int64(len(data)) {
			t.Errorf("%s: BytesRead %d, want %d", name, r.BytesRead(), len(data))
		}
		r.Close()
	}

	// A pipe: hashed as it is read, in the one pass.
	fifo := filepath.Join(t.TempDir(), "pipe.csv.gz")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no named pipes:", err)
	}
	data := files["book.csv.gz"]
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(data)
		f.Close()
	}()
	h := newSlowHash(0)
	r, err := Open(fifo, Options{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, r)
	if want := sha256.Sum256(data); !bytes.Equal(h.sum(), want[:]) {
		t.Error("pipe: hash after io.EOF is not the input's")
	}
	r.Close()

	// Closing before the end stops the hashing goroutine too. The files
	// are larger than the reader's buffers, so that the end is not read.
	big := genCSV(150000, 5)
	bigFiles := map[string][]byte{"book.csv": big, "book.csv.gz": gz(t, big)}
	before := runtime.NumGoroutine()
	for name, data := range bigFiles {
		path := writeTemp(t, "early-"+name, data)
		r, err := Open(path, Options{Hash: newSlowHash(time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		var ev protocol.Event
		if err := r.Next(&ev); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	// A bad file stops it as well.
	if _, err := Open(writeTemp(t, "bad.csv.gz", plain), Options{Hash: newSlowHash(0)}); err == nil {
		t.Fatal("a .gz that is not gzip opened")
	}
	// A goroutine that has signalled its end may still be exiting.
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(2 * time.Second); n > before && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(time.Millisecond)
	}
	if n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}
