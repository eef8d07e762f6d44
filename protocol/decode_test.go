package protocol

import (
	"errors"
	"reflect"
	"testing"
	"unsafe"
)

// TestDecodeEventView: the view decode gives DecodeEvent's event and
// errors, its levels inside the payload (no copy, capacity their length)
// at every offset the layouts put them (76 for a snapshot, 96 for a
// diff), and allocates nothing.
func TestDecodeEventView(t *testing.T) {
	for _, src := range []*Event{
		{Type: Diff, Seq: 7, IngestTS: 9, PriceScale: 2, Bids: []Level{{1, 2}, {3, 4}}, Asks: []Level{{5, 6}}},
		{Type: Snapshot, SizeScale: 3, Bids: []Level{{10, 20}}, Asks: []Level{{30, 40}, {50, 60}, {70, 80}}},
		{Type: Diff, Asks: []Level{{1, 1}}},
		{Type: Heartbeat},
	} {
		p, err := AppendEvent(nil, src)
		if err != nil {
			t.Fatal(err)
		}
		var want, got Event
		if err := DecodeEvent(p, &want); err != nil {
			t.Fatal(err)
		}
		if err := DecodeEventView(p, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%v: view %+v, DecodeEvent %+v", src.Type, got, want)
		}
		for _, l := range [][]Level{got.Bids, got.Asks} {
			if len(l) == 0 {
				continue
			}
			at := uintptr(unsafe.Pointer(&l[0])) - uintptr(unsafe.Pointer(&p[0]))
			if nativeLittle && (at >= uintptr(len(p)) || cap(l) != len(l)) {
				t.Fatalf("%v: levels at %d of the payload, len %d cap %d: not a view", src.Type, at, len(l), cap(l))
			}
		}
		if n := testing.AllocsPerRun(50, func() { DecodeEventView(p, &got) }); n != 0 && nativeLittle {
			t.Fatalf("%v: %v allocations per call", src.Type, n)
		}
	}
	good, _ := AppendEvent(nil, &Event{Type: Diff, Bids: []Level{{1, 1}}})
	for i := range good {
		b := append([]byte(nil), good...)
		b[i] ^= 0x41
		var a, v Event
		ea, ev := DecodeEvent(b, &a), DecodeEventView(b, &v)
		if (ea == nil) != (ev == nil) || ea != nil && (!errors.Is(ev, ErrMalformed) || ea.Error() != ev.Error()) {
			t.Fatalf("byte %d flipped: DecodeEvent %v, view %v", i, ea, ev)
		}
		if ea == nil && !reflect.DeepEqual(a, v) {
			t.Fatalf("byte %d flipped: view %+v, DecodeEvent %+v", i, v, a)
		}
	}
}
