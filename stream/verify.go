package stream

import (
	"fmt"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Verify checks one stream completely: everything archive.VerifyStream
// checks, every payload decoded by its record type and checked against its
// message header (for BookEvents also the layout an import writes), and a
// book stream's checkpoints against a replay.
func Verify(fsys vfs.FS, dir string) (*archive.StreamReport, error) {
	fsys = vfs.OrDefault(fsys)
	return archive.VerifyStream(fsys, dir, func(m *archive.Meta) archive.VerifyHooks {
		c := &checker{m: m}
		if m == nil {
			// Unknown without meta.json (reported): each record by its type_id.
			return archive.VerifyHooks{Record: c.byID, Records: "records, each decoded by its type_id"}
		}
		t, err := typeOf(m, dir)
		if err != nil {
			return archive.VerifyHooks{Record: c.byID, Records: "records, each decoded by its type_id",
				Files: func(rep *archive.StreamReport) { rep.Problem(filepath.Join(dir, archive.MetaName), 0, err) }}
		}
		h := archive.VerifyHooks{
			Record:  func(rec *segment.Record) (int64, error) { return c.check(t, rec) },
			Records: t.Name + " records: type_id, layout, header timestamp",
		}
		if t == record.BookEvent {
			h.Records = "BookEvents: layout, header seq and timestamp, venue/market ids"
			h.Files = func(rep *archive.StreamReport) { verifyCheckpoints(fsys, dir, rep) }
		}
		return h
	}, codecs)
}

// checker checks the payloads of one stream, decoding into reused values.
type checker struct {
	m   *archive.Meta // nil when meta.json is unreadable
	ev  protocol.Event
	rec record.Record
}

// check checks one record of type t and returns the source rows it holds:
// a BookEvent's levels, or one row per extension record.
func (c *checker) check(t *record.Type, rec *segment.Record) (int64, error) {
	if !t.Reference {
		if err := checkRecord(t, rec.TypeID, rec.Timestamp, rec.Payload, &c.rec); err != nil {
			return 1, err
		}
		if c.rec.StreamSymbol && c.m != nil && c.m.Symbol == "" {
			return 1, fmt.Errorf("the record takes its symbol from the stream, but meta.json names no symbol")
		}
		return 1, nil
	}
	if rec.TypeID != protocol.TypeBookEvent {
		return 0, fmt.Errorf("type_id 0x%04x, want BookEvent 0x%04x", rec.TypeID, protocol.TypeBookEvent)
	}
	ev := &c.ev
	if err := protocol.DecodeEvent(rec.Payload, ev); err != nil {
		return 0, err
	}
	rows, m := int64(len(ev.Bids)+len(ev.Asks)), c.m
	switch {
	case rec.Seq != ev.Seq:
		return rows, fmt.Errorf("message seq %d but event seq %d", rec.Seq, ev.Seq)
	case ev.NativeSeq != ev.Seq:
		return rows, fmt.Errorf("native_seq %d differs from seq %d", ev.NativeSeq, ev.Seq)
	case rec.Timestamp != ev.IngestTS:
		return rows, fmt.Errorf("message timestamp %d but ingest_ts %d", rec.Timestamp, ev.IngestTS)
	case m != nil && (ev.VenueID != m.VenueID || ev.MarketID != m.MarketID):
		return rows, fmt.Errorf("venue_id/market_id %d/%d, meta.json says %d/%d", ev.VenueID, ev.MarketID, m.VenueID, m.MarketID)
	case ev.Type == protocol.Diff && (ev.DiffFlags != protocol.FlagAbsolute || ev.UpdateIDFirst != ev.Seq || ev.UpdateIDLast != ev.Seq || ev.UpdateIDPrev != max(ev.Seq, 1)-1):
		return rows, fmt.Errorf("diff flags/update ids %d/%d/%d/%d do not follow seq %d", ev.DiffFlags, ev.UpdateIDFirst, ev.UpdateIDLast, ev.UpdateIDPrev, ev.Seq)
	case ev.Type != protocol.Diff && ev.Type != protocol.Snapshot:
		return rows, fmt.Errorf("event_type %v in an L2 import", ev.Type)
	}
	return rows, nil
}

// byID checks a record by the type its type_id names.
func (c *checker) byID(rec *segment.Record) (int64, error) {
	t, ok := record.ByID(rec.TypeID)
	if !ok {
		return 0, fmt.Errorf("type_id 0x%04x is not a record type", rec.TypeID)
	}
	return c.check(t, rec)
}
