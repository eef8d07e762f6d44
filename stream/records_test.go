package stream

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/segment"
)

// The real Tardis samples of the extension types (testdata/, from
// ../shared/data/tardis).
var recordSamples = []struct {
	file, recordType string
}{
	{tradesSample, "trade"},
	{"testdata/huobi-dm-swap_quotes_2020-05-01_BTC-USD.nautilus10.csv", "quote"},
	{"testdata/binance-futures_book_snapshot_5_2020-09-01_BTCUSDT.nautilus10.csv", "book_snapshot"},
	{"testdata/bitmex_derivative_ticker_2020-03-01_XBTUSD.nautilus2.csv", "derivative_ticker"},
	{"testdata/deribit_options_chain_2024-01-01_OPTIONS.issue3.csv", "options_chain"},
}

// TestRecordsEveryType reads back and verifies a stream of every sampled
// extension type, and checks that the book-only readers refuse it.
func TestRecordsEveryType(t *testing.T) {
	for _, c := range recordSamples {
		t.Run(c.recordType, func(t *testing.T) {
			res := mustImport(t, importOpts(t.TempDir(), c.file))
			rs, err := OpenRecords(nil, res.Dir)
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			if rs.Type().Name != c.recordType || rs.Meta().RecordType != c.recordType {
				t.Fatalf("type %s, meta.json record_type %s, want %s", rs.Type().Name, rs.Meta().RecordType, c.recordType)
			}
			var n int64
			for {
				rec, err := rs.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if rec.Type != rs.Type() || rec.LocalTS < res.MinTS || rec.LocalTS > res.MaxTS {
					t.Fatalf("record %d: type %s local_ts %d, want %s in [%d, %d]", n, rec.Type.Name, rec.LocalTS, c.recordType, res.MinTS, res.MaxTS)
				}
				n++
			}
			if n == 0 || n != res.Events {
				t.Fatalf("read %d records, import wrote %d", n, res.Events)
			}
			rep := mustVerify(t, res.Dir)
			if !checkedLine(rep, c.recordType+" records") || rep.Rows != res.Rows || rep.Events != res.Events {
				t.Fatalf("verify: rows %d events %d (import %d %d), checked %v", rep.Rows, rep.Events, res.Rows, res.Events, rep.Checked)
			}
			_, err = OpenEvents(nil, res.Dir)
			if err == nil || !strings.Contains(err.Error(), res.DataType+" ("+c.recordType+" records), not an incremental_book_L2 stream") {
				t.Fatalf("OpenEvents: %v", err)
			}
			if err := Index(context.Background(), nil, res.Dir, 0); err == nil || !strings.Contains(err.Error(), "only incremental_book_L2 streams") {
				t.Fatalf("Index: %v", err)
			}
		})
	}
}

// TestRecordsRefusesBook: a book stream, with or without record_type (a
// stream written before record types), is OpenEvents's.
func TestRecordsRefusesBook(t *testing.T) {
	dir := mustImport(t, importOpts(t.TempDir(), sample)).Dir
	for _, legacy := range []bool{false, true} {
		if legacy {
			editMeta(t, dir, func(m *archive.Meta) { m.RecordType, m.DataType = "", "" })
		}
		if _, err := OpenRecords(nil, dir); err == nil || !strings.Contains(err.Error(), "use OpenEvents") {
			t.Fatalf("legacy %v: OpenRecords: %v", legacy, err)
		}
		evs, err := OpenEvents(nil, dir)
		if err != nil {
			t.Fatalf("legacy %v: %v", legacy, err)
		}
		evs.Close()
		mustVerify(t, dir)
	}
}

// TestRecordsDamage: damage a decoder alone can see (the CRC covers only
// the payload) fails the reader and verify, naming the segment file and
// the record's offset; so does a meta.json that names the wrong type.
func TestRecordsDamage(t *testing.T) {
	flip := func(off int64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, "000000000.q")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[off] ^= 0x01
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			rewriteManifest(t, dir)
		}
	}
	cases := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		file    string // named by the reader's error and a verify problem
		offset  int64  // -1: any
		openErr string // "": the open succeeds and Next fails
	}{
		{"message header timestamp", flip(64 + 16), "000000000.q", 64, ""},
		{"message header type_id", flip(64 + 24), "000000000.q", 64, ""},
		{"meta.json names another type", func(t *testing.T, dir string) {
			editMeta(t, dir, func(m *archive.Meta) { m.RecordType = "quote" })
		}, "000000000.q", 64, ""},
		{"meta.json names no type", func(t *testing.T, dir string) {
			editMeta(t, dir, func(m *archive.Meta) { m.RecordType = "tick" })
		}, archive.MetaName, 0, `record_type "tick" is not a record type`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := mustImport(t, importOpts(t.TempDir(), tradesSample)).Dir
			c.damage(t, dir)
			path := filepath.Join(dir, c.file)
			rs, err := OpenRecords(nil, dir)
			if c.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.openErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("OpenRecords: %v, want %q naming %s", err, c.openErr, path)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				for err == nil {
					_, err = rs.Next()
				}
				rs.Close()
				var ce *segment.CorruptionError
				if !errors.As(err, &ce) || ce.Path != path || c.offset >= 0 && ce.Offset != c.offset {
					t.Fatalf("Next: %v, want a *segment.CorruptionError at %s offset %d", err, path, c.offset)
				}
			}
			rep, err := Verify(nil, dir)
			if err != nil {
				t.Fatal(err)
			}
			ok := false
			for _, p := range rep.Problems {
				ok = ok || p.Path == path && (c.offset < 0 || p.Offset == c.offset)
			}
			if !ok {
				t.Fatalf("no verify problem at %s offset %d:\n%s", path, c.offset, problemsText(rep))
			}
		})
	}
}

// TestNextDoesNotAllocate: both readers decode in place.
func TestNextDoesNotAllocate(t *testing.T) {
	bookDir := mustImport(t, importOpts(t.TempDir(), futuresSample)).Dir
	quotesDir := mustImport(t, importOpts(t.TempDir(), "testdata/huobi-dm-swap_quotes_2020-05-01_BTC-USD.nautilus10.csv")).Dir
	evs, err := OpenEvents(nil, bookDir)
	if err != nil {
		t.Fatal(err)
	}
	defer evs.Close()
	rs, err := OpenRecords(nil, quotesDir)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for _, c := range []struct {
		name string
		next func() error
	}{
		{"Events", func() error { _, err := evs.Next(); return err }},
		{"Records", func() error { _, err := rs.Next(); return err }},
	} {
		if err := c.next(); err != nil { // buffers grow on the first
			t.Fatal(err)
		}
		var err error
		if n := testing.AllocsPerRun(5, func() { err = c.next() }); err != nil || n != 0 {
			t.Errorf("%s.Next: %v allocations per call (err %v)", c.name, n, err)
		}
	}
}
