package stream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/record"
)

// samplePayloads imports every sample of recordSamples and returns its
// type and payloads.
func samplePayloads(t testing.TB) map[*record.Type][][]byte {
	out := map[*record.Type][][]byte{}
	for _, c := range recordSamples {
		res := mustImport(t, importOpts(t.TempDir(), c.file))
		s, err := archive.OpenStream(nil, res.Dir, codecs)
		if err != nil {
			t.Fatal(err)
		}
		typ, ok := record.ByName(c.recordType)
		if !ok {
			t.Fatalf("no record type %s", c.recordType)
		}
		for {
			rec, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out[typ] = append(out[typ], bytes.Clone(rec.Payload))
		}
		s.Close()
	}
	return out
}

// sameRecord says how a and b differ, "" when they do not.
func sameRecord(a, b *record.Record) string {
	if a.Type != b.Type || a.LocalTS != b.LocalTS || a.ExchangeTS != b.ExchangeTS || a.HasExchangeTS != b.HasExchangeTS {
		return fmt.Sprintf("header %s %d %d %v, want %s %d %d %v", a.Type.Name, a.LocalTS, a.ExchangeTS, a.HasExchangeTS, b.Type.Name, b.LocalTS, b.ExchangeTS, b.HasExchangeTS)
	}
	if !slices.Equal(a.Present, b.Present) || len(a.Fields) != len(b.Fields) {
		return fmt.Sprintf("present %v, want %v", a.Present, b.Present)
	}
	for i := range a.Fields {
		x, y := &a.Fields[i], &b.Fields[i]
		if x.U != y.U || x.I != y.I || x.Scale != y.Scale || x.Scale2 != y.Scale2 || !bytes.Equal(x.B, y.B) || !slices.Equal(x.L, y.L) {
			return fmt.Sprintf("field %d: %+v, want %+v", i, *x, *y)
		}
	}
	return ""
}

// agree checks that the fast decoder accepts p exactly when record.Decode
// does, with the same record.
func agree(t *testing.T, d *recordDecoder, p []byte, fast, ref *record.Record) {
	t.Helper()
	ok := d.decode(p, fast)
	err := record.Decode(d.t, p, ref)
	if err == nil && ref.StreamSymbol && d.sym != "" && d.trade {
		// decodeTrade fills in the stream's symbol, as Records.Next
		// does after the other decoders.
		ref.SetSymbol(d.sym)
	}
	switch {
	case ok && err != nil:
		t.Fatalf("%s payload %x: fast decode accepts it, record.Decode says %v", d.t.Name, p, err)
	case !ok && err == nil:
		t.Fatalf("%s payload %x: fast decode refuses what record.Decode accepts", d.t.Name, p)
	case ok:
		if diff := sameRecord(fast, ref); diff != "" {
			t.Fatalf("%s payload %x: %s", d.t.Name, p, diff)
		}
	}
}

// TestRecordDecoderAgrees compares the fast decoder with record.Decode on
// every record of every sample type, and on every one-byte change,
// truncation and extension of a few of them: both must accept the same
// payloads and give the same records.
func TestRecordDecoderAgrees(t *testing.T) {
	payloads := samplePayloads(t)
	if len(payloads) != len(recordSamples) {
		t.Fatalf("%d types sampled, want %d", len(payloads), len(recordSamples))
	}
	for typ, ps := range payloads {
		t.Run(typ.Name, func(t *testing.T) {
			d := newRecordDecoder(typ)
			if !d.fast {
				t.Fatalf("no fast decode for %s", typ.Name)
			}
			if typ == record.Trade && !d.trade {
				// Not wrong, only slower: tradeShape is no longer Trade's.
				t.Logf("trades take the general path: record.Trade's fields are not tradeShape")
			}
			var fast, ref record.Record
			for _, p := range ps {
				agree(t, d, p, &fast, &ref)
			}
			for _, p := range ps[:min(len(ps), 3)] {
				q := bytes.Clone(p)
				for i := range q {
					for _, x := range []byte{0x01, 0x02, 0x04, 0x10, 0x80, 0xff} {
						q[i] ^= x
						agree(t, d, q, &fast, &ref)
						q[i] ^= x
					}
					for _, v := range []byte{0, 1, 19, 0xff} {
						q[i] = v
						agree(t, d, q, &fast, &ref)
						q[i] = p[i]
					}
				}
				for n := range len(p) {
					agree(t, d, p[:n], &fast, &ref)
				}
				long := append(bytes.Clone(p), 0)
				agree(t, d, long, &fast, &ref)
				// Trailing bytes that record_len counts.
				binary.LittleEndian.PutUint32(long[4:], uint32(len(long)))
				agree(t, d, long, &fast, &ref)
			}
		})
	}
}

// TestRecordDecoderReuse decodes records of different shapes into one
// Record in turn, and into Records whose every member holds garbage (a
// caller may have written to them): nothing of what was there may show
// through.
func TestRecordDecoderReuse(t *testing.T) {
	samples := samplePayloads(t)
	// With no stream symbol, and with one (decodeTrade fills it in).
	for _, sym := range []string{"", "XBTUSD"} {
		reuse(t, samples, sym)
	}
}

func reuse(t *testing.T, samples map[*record.Type][][]byte, sym string) {
	for typ, ps := range samples {
		d := newRecordDecoder(typ)
		d.sym = sym
		var fast, ref record.Record
		for i := range ps {
			// Forwards, then backwards, so that a short record follows a long one.
			for _, p := range [][]byte{ps[i], ps[len(ps)-1-i]} {
				agree(t, d, p, &fast, &ref)
			}
		}
		for _, p := range ps[:min(len(ps), 3)] {
			garbage(&fast, len(typ.Fields))
			garbage(&ref, len(typ.Fields))
			agree(t, d, p, &fast, &ref)
		}
	}
}

// garbage fills r with n fields whose every member is set.
func garbage(r *record.Record, n int) {
	r.Type, r.LocalTS, r.ExchangeTS, r.HasExchangeTS = record.Quote, 7, 8, true
	r.Fields, r.Present = make([]record.Value, n), make([]bool, n)
	for i := range r.Fields {
		r.Fields[i] = record.Value{U: 1, I: -1, Scale: 3, Scale2: 4, B: []byte("junk"), L: []record.Level{{Price: 1, Size: 2}}}
		r.Present[i] = i%2 == 0
	}
}

// FuzzRecordDecoder: the fast decoder and record.Decode agree on any
// payload of any type.
func FuzzRecordDecoder(f *testing.F) {
	types := record.All()
	for typ, ps := range samplePayloads(f) {
		for _, p := range ps[:min(len(ps), 4)] {
			f.Add(typ.ID, p)
		}
	}
	f.Fuzz(func(t *testing.T, id uint16, p []byte) {
		typ := types[int(id)%len(types)]
		if typ.Reference {
			return
		}
		var fast, ref record.Record
		agree(t, newRecordDecoder(typ), p, &fast, &ref)
	})
}

// BenchmarkRecordDecode compares the fast decoder with record.Decode on
// the trades sample.
func BenchmarkRecordDecode(b *testing.B) {
	var ps [][]byte
	for typ, p := range samplePayloads(b) {
		if typ == record.Trade {
			ps = p
		}
	}
	d := newRecordDecoder(record.Trade)
	var r record.Record
	b.Run("fast", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if !d.decode(ps[i%len(ps)], &r) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("record.Decode", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := record.Decode(record.Trade, ps[i%len(ps)], &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
