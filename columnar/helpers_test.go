package columnar

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/tardis"
)

const sharedDir = "../../shared"

// roundTrip encodes q, decodes it whole and block by block, and fails
// unless both give q back byte for byte. It returns the compressed bytes.
func roundTrip(t testing.TB, name string, q []byte) []byte {
	t.Helper()
	c, err := Encode(nil, q)
	if err != nil {
		t.Fatalf("%s: Encode: %v", name, err)
	}
	got, err := Decode(nil, bytes.NewReader(c), int64(len(c)))
	if err != nil {
		t.Fatalf("%s: Decode: %v", name, err)
	}
	if !bytes.Equal(got, q) {
		t.Fatalf("%s: decoded %d bytes differ from the %d-byte .q at offset %d", name, len(got), len(q), firstDiff(got, q))
	}
	f, err := Open(bytes.NewReader(c), int64(len(c)))
	if err != nil {
		t.Fatalf("%s: Open: %v", name, err)
	}
	var buf []byte
	for i, b := range f.Blocks() {
		if buf, err = f.DecodeBlock(i, buf[:0]); err != nil {
			t.Fatalf("%s: block %d: %v", name, i, err)
		}
		if !bytes.Equal(buf, q[b.QOffset:b.QOffset+int64(b.QLen)]) {
			t.Fatalf("%s: block %d (.q %d+%d) differs", name, i, b.QOffset, b.QLen)
		}
		checkRecords(t, name, f, i, buf)
	}
	return c
}

// checkRecords checks DecodeRecords of block i against exact, its .q
// bytes (recordsProblem).
func checkRecords(t testing.TB, name string, f *File, i int, exact []byte) {
	t.Helper()
	var d Decoder
	got, free, err := f.DecodeRecords(&d, i, []byte("prefix"))
	if err != nil || !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("%s: block %d: DecodeRecords: %v", name, i, err)
	}
	if p := recordsProblem(exact, got[len("prefix"):], free, f.Blocks()[i].Records); p != "" {
		t.Fatalf("%s: block %d: DecodeRecords: %s", name, i, p)
	}
}

// recordsProblem says what is wrong with got, a block decoded for records
// (crcFree free) whose .q bytes are exact, or "": free exactly when the
// block is whole records, each framed by its commit_len and with its
// payload's CRC-32 (so a reader loses nothing by not comparing them), and
// then the same bytes but for checksum fields that may be 0; else exactly
// the .q bytes.
func recordsProblem(exact, got []byte, free bool, records int) string {
	wantFree := records > 0
	var offs []int
	for off := 0; off < len(exact) && wantFree; {
		n := recordLen(exact, off)
		if n == 0 {
			wantFree = false
			break
		}
		plen := int(le.Uint32(exact[off:])) - 1
		if crc32.ChecksumIEEE(exact[off+SegHeaderSize:off+SegHeaderSize+plen]) != le.Uint32(exact[off+28:]) {
			wantFree = false
		}
		offs = append(offs, off)
		off += n
	}
	switch {
	case free != wantFree:
		return fmt.Sprintf("crcFree %v, want %v", free, wantFree)
	case len(got) != len(exact):
		return fmt.Sprintf("%d bytes, DecodeBlock %d", len(got), len(exact))
	case !free && !bytes.Equal(got, exact):
		return fmt.Sprintf("not crcFree, yet differs from the .q at %d", firstDiff(got, exact))
	}
	// Blank the checksums that are 0 in got; then they must be equal.
	want := bytes.Clone(exact)
	for _, off := range offs {
		if le.Uint32(got[off+28:]) == 0 {
			le.PutUint32(want[off+28:], 0)
		}
	}
	if !bytes.Equal(got, want) {
		return fmt.Sprintf("differs from the .q at %d, beyond checksum fields", firstDiff(got, want))
	}
	return ""
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// writeSegments runs add with a segment.Writer on a temp dir and returns
// the sealed .q files' bytes in id order.
// appendEvent appends ev to w as a BookEvent record.
func appendEvent(w *segment.Writer, ev *protocol.Event) error {
	buf, err := protocol.AppendEvent(nil, ev)
	if err == nil {
		_, err = w.Append(protocol.TypeBookEvent, ev.IngestTS, buf)
	}
	return err
}

func writeSegments(t testing.TB, segSize int64, add func(w *segment.Writer) error) [][]byte {
	t.Helper()
	dir := t.TempDir()
	w, err := segment.NewWriter(dir, segment.WriterOptions{SegmentSize: segSize})
	if err != nil {
		t.Fatal(err)
	}
	if err := add(w); err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.q"))
	sort.Strings(names)
	var qs [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, b)
	}
	return qs
}

// importBook appends the events of a Tardis incremental_book_L2 file as
// archive/import.go does.
func importBook(path string) func(w *segment.Writer) error {
	return func(w *segment.Writer) error {
		r, err := tardis.Open(path, tardis.Options{})
		if err != nil {
			return err
		}
		defer r.Close()
		var ev protocol.Event
		var buf []byte
		for seq := uint64(0); ; seq++ {
			if err := r.Next(&ev); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			ev.VenueID, ev.MarketID, ev.BookMode = 7, protocol.MarketID("BTCUSDT"), protocol.ModeL2
			ev.Seq, ev.NativeSeq = seq, seq
			if ev.Type == protocol.Diff {
				ev.DiffFlags = protocol.FlagAbsolute
				ev.UpdateIDFirst, ev.UpdateIDLast, ev.UpdateIDPrev = seq, seq, max(seq, 1)-1
			}
			if buf, err = protocol.AppendEvent(buf[:0], &ev); err != nil {
				return err
			}
			if _, err := w.Append(protocol.TypeBookEvent, ev.IngestTS, buf); err != nil {
				return err
			}
		}
	}
}

// importRecords appends the rows of a Tardis file of type dt as records.
func importRecords(path string, dt tardis.DataType) func(w *segment.Writer) error {
	return importRecordsSym(path, dt, false)
}

// importRecordsSym is importRecords, with each record's symbol taken from
// the stream (record.Record.StreamSymbol) when streamSym is set, as ingest
// stores a one-symbol file.
func importRecordsSym(path string, dt tardis.DataType, streamSym bool) func(w *segment.Writer) error {
	return func(w *segment.Writer) error {
		r, err := tardis.OpenRecords(path, dt, tardis.RecordOptions{})
		if err != nil {
			return err
		}
		defer r.Close()
		var rec record.Record
		var buf []byte
		for {
			if err := r.Next(&rec); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
			rec.StreamSymbol = streamSym
			if buf, err = record.Append(buf[:0], &rec); err != nil {
				return err
			}
			if _, err := w.Append(rec.Type.ID, rec.LocalTS, buf); err != nil {
				return err
			}
		}
	}
}
