package tardis

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

// fuzzRead reads data like readAll, checking the invariants every input
// must keep: no panic, no endless loop, only *ParseErrors, sticky errors,
// and events that encode.
func fuzzRead(t *testing.T, data []byte, opts Options, slow bool) ([]protocol.Event, *EventReader, error) {
	r, err := NewEventReader(bytes.NewReader(data), opts)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("NewEventReader: %v (%T) is not a *ParseError", err, err)
		}
		return nil, nil, err
	}
	r.slowOnly = slow
	var evs []protocol.Event
	var ev protocol.Event
	for n := 0; ; n++ {
		// Each event consumes at least one line, apart from parts of a
		// split Diff, which need more than 65535 lines.
		if n > len(data)+2 {
			t.Fatalf("more events (%d) than input bytes", n)
		}
		err = r.Next(&ev)
		if err != nil {
			break
		}
		if _, aerr := protocol.AppendEvent(nil, &ev); aerr != nil {
			t.Fatalf("event %d does not encode: %v", n, aerr)
		}
		c := ev
		c.Bids = append([]protocol.Level{}, ev.Bids...)
		c.Asks = append([]protocol.Level{}, ev.Asks...)
		evs = append(evs, c)
	}
	if err == io.EOF {
		return evs, r, nil
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Next: %v (%T) is not a *ParseError", err, err)
	}
	if r.Next(&ev) != err {
		t.Fatal("error is not sticky")
	}
	return evs, r, err
}

// FuzzEventReader feeds arbitrary bytes as CSV. Beyond fuzzRead's checks,
// the fast row parser must agree with the general one, and whatever is
// read must survive a Writer round trip unchanged.
func FuzzEventReader(f *testing.F) {
	f.Add([]byte(hdr + "ex,S,1,1,true,bid,1.5,2\nex,S,1,2,false,ask,1.2e-7,0\n"))
	f.Add([]byte("\xef\xbb\xbf\"exchange\",symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\r\n\"e,x\",S,,1,false,sell,\"1\",1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []Options{auto, {Name: "x.csv", PriceScale: FixedScale(2), SizeScale: FixedScale(3)}} {
			evs, r, err := fuzzRead(t, data, opts, false)
			slow, _, serr := fuzzRead(t, data, opts, true)
			if (err == nil) != (serr == nil) || (err != nil && err.Error() != serr.Error()) {
				t.Fatalf("fast path error %v, general path error %v", err, serr)
			}
			if !reflect.DeepEqual(evs, slow) {
				t.Fatalf("fast and general paths disagree\nfast %+v\ngeneral %+v", evs, slow)
			}
			if err != nil || opts.PriceScale != (Scale{}) || len(evs) == 0 {
				continue
			}
			out := writeAll(t, evs, r.Exchange(), r.Symbol())
			again, err := readString(string(out), auto)
			if err != nil {
				t.Fatalf("reading written output: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(again, evs) {
				t.Fatalf("events differ after a write/read round trip\n got %+v\nwant %+v", again, evs)
			}
		}
	})
}
