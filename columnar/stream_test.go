package columnar

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
)

// maxWriter records the largest single Write, to show that EncodeTo
// writes block by block rather than the file at the end.
type maxWriter struct {
	bytes.Buffer
	most int
}

func (w *maxWriter) Write(p []byte) (int, error) {
	w.most = max(w.most, len(p))
	return w.Buffer.Write(p)
}

// sameAsEncode fails unless EncodeTo, with and without verify, writes
// exactly Encode's bytes for q.
func sameAsEncode(t *testing.T, name string, q []byte) {
	t.Helper()
	want, err := Encode(nil, q)
	if err != nil {
		t.Fatalf("%s: Encode: %v", name, err)
	}
	for _, verify := range []bool{false, true} {
		var w maxWriter
		if err := EncodeTo(&w, bytes.NewReader(q), int64(len(q)), verify); err != nil {
			t.Fatalf("%s: EncodeTo(verify=%v): %v", name, verify, err)
		}
		if got := w.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("%s: EncodeTo(verify=%v) wrote %d bytes, Encode %d; first difference at %d",
				name, verify, len(got), len(want), firstDiff(got, want))
		}
		// A raw block of incompressible bytes is the largest write.
		if w.most > MaxBlockLen+1024 {
			t.Errorf("%s: a %d-byte write: not block by block", name, w.most)
		}
	}
	// An Appender fed the bytes after the header in uneven pieces, as a
	// segment writer hands them over, writes the same file once its header
	// is put at offset 0.
	for _, piece := range []int{1 << 18, 4093, MaxBlockLen + 77} {
		var w maxWriter
		a, err := NewAppender(&w)
		if err != nil {
			t.Fatal(err)
		}
		for rest := q[SegHeaderSize:]; len(rest) > 0; {
			n := min(piece, len(rest))
			if _, err := a.Write(rest[:n]); err != nil {
				t.Fatalf("%s: Appender.Write: %v", name, err)
			}
			rest = rest[n:]
		}
		h, err := a.Finish(q[:SegHeaderSize], int64(len(q)))
		if err != nil {
			t.Fatalf("%s: Appender.Finish: %v", name, err)
		}
		got := w.Bytes()
		if len(got) < HeaderSize || len(h) != HeaderSize || !bytes.Equal(got[:HeaderSize], make([]byte, HeaderSize)) {
			t.Fatalf("%s: Appender: %d-byte header, %d bytes written, placeholder % x", name, len(h), len(got), got[:min(len(got), HeaderSize)])
		}
		copy(got, h)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: Appender (pieces of %d) wrote %d bytes, Encode %d; first difference at %d",
				name, piece, len(got), len(want), firstDiff(got, want))
		}
		if w.most > MaxBlockLen+1024 {
			t.Errorf("%s: Appender: a %d-byte write: not block by block", name, w.most)
		}
	}
}

// TestAppenderFinishChecksSize: Finish with a size other than the bytes
// written is an error, not a file whose header lies.
func TestAppenderFinishChecksSize(t *testing.T) {
	q := mixedQ(t, 100, 1)
	a, err := NewAppender(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(q[SegHeaderSize:]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Finish(q[:SegHeaderSize], int64(len(q))+64); err == nil {
		t.Fatal("Finish with the wrong size succeeded")
	}
}

func TestEncodeToSameBytes(t *testing.T) {
	mixed := mixedQ(t, 3000, 5) // several blocks, two record types
	inputs := map[string][]byte{
		"header only":  mixed[:SegHeaderSize],
		"one record":   mixed[:SegHeaderSize+records(mixed)[1]-records(mixed)[0]],
		"mixed":        mixed,
		"cut record":   mixed[:len(mixed)-700],
		"zero tail":    append(bytes.Clone(mixed), make([]byte, 2*MaxBlockLen+100)...),
		"garbage tail": append(append(bytes.Clone(mixed), make([]byte, 64)...), "not a record"...),
	}
	// A record whose commit_len runs past the end of the file: the rest is
	// a raw tail.
	past := bytes.Clone(mixed[:SegHeaderSize+4096])
	le.PutUint32(past[SegHeaderSize+2048:], 1<<30)
	inputs["commit_len past the end"] = past
	// A record of exactly one block, and one a byte over.
	rnd := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 3*MaxBlockLen)
	for i := range noise {
		noise[i] = byte(rnd.Uint32())
	}
	inputs["noise"] = append(bytes.Clone(mixed[:SegHeaderSize]), noise...)
	for name, q := range inputs {
		sameAsEncode(t, name, q)
	}
	// Records longer than a block between ordinary ones, and samples of
	// every type.
	big := make([]protocol.Level, 150_000)
	for i := range big {
		big[i] = protocol.Level{Price: uint64(1000000 - i), Size: uint64(i % 977)}
	}
	for _, n := range []int{MaxBlockLen/16 - 8, MaxBlockLen / 16, 150_000} {
		qs := writeSegments(t, 0, func(w *segment.Writer) error {
			for seq := range uint64(5) {
				ev := protocol.Event{Type: protocol.Snapshot, IngestTS: 1e18 + seq, ExchangeTS: 1e18, Seq: seq, NativeSeq: seq, Bids: big[:10]}
				if seq == 2 || seq == 3 {
					ev.Bids = big[:n]
				}
				if err := appendEvent(w, &ev); err != nil {
					return err
				}
			}
			return nil
		})
		sameAsEncode(t, "large record", qs[0])
	}
	files, _ := filepath.Glob("testdata/samples/*.csv")
	for _, f := range files {
		for _, q := range buildQ(t, f, 1<<20) {
			sameAsEncode(t, filepath.Base(f), q)
		}
	}
}

func TestEncodeToInput(t *testing.T) {
	q := mixedQ(t, 100, 0)
	if err := EncodeTo(io.Discard, bytes.NewReader(q[:63]), 63, false); !errors.Is(err, ErrInput) {
		t.Errorf("63 bytes: %v, want ErrInput", err)
	}
	// A size larger than the reader: an error naming the offset, not a
	// file that claims bytes it does not have.
	err := EncodeTo(io.Discard, bytes.NewReader(q), int64(len(q))+5000, false)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: %v, want io.ErrUnexpectedEOF", err)
	}
	werr := errors.New("disk full")
	if err := EncodeTo(failWriter{werr}, bytes.NewReader(q), int64(len(q)), false); !errors.Is(err, werr) {
		t.Errorf("failing writer: %v", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

// TestEncodeToMemory: memory does not grow with the segment. A 48 MiB .q
// encodes allocating a few blocks' worth, where Encode's output alone is
// its compressed size.
func TestEncodeToMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping under -short")
	}
	base := mixedQ(t, 4000, 0)
	q := bytes.Clone(base)
	for len(q) < 48<<20 {
		q = append(q, base[SegHeaderSize:]...)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := EncodeTo(io.Discard, bytes.NewReader(q), int64(len(q)), true); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 24<<20 {
		t.Errorf("EncodeTo of %d bytes allocated %d bytes", len(q), got)
	}
}
