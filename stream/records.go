package stream

import (
	"fmt"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Records reads the records of a stream of a Chronicle extension type
// (trades, quotes, book snapshots, ...) in order. It decodes into one
// reused record.Record, so reading allocates nothing per record once its
// buffers have grown.
type Records struct {
	s   *archive.Stream
	t   *record.Type
	dec *recordDecoder
	rec record.Record
	sym string // meta.json's symbol: that of records that take it from the stream
}

// OpenRecords opens a stream of any record type but BookEvent (OpenEvents
// reads those), by meta.json's record_type, with every check of
// archive.OpenStream.
func OpenRecords(fsys vfs.FS, dir string) (*Records, error) {
	s, err := archive.OpenStream(fsys, dir, codecs)
	if err != nil {
		return nil, err
	}
	t, err := typeOf(s.Meta(), dir)
	if err == nil && t.Reference {
		err = fmt.Errorf("%s holds %s: use OpenEvents", dir, holds(s.Meta()))
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	r := &Records{s: s, t: t, dec: newRecordDecoder(t)}
	if m := s.Meta(); m != nil {
		r.sym = m.Symbol
		r.dec.sym = m.Symbol
	}
	return r, nil
}

// Type is the stream's record type.
func (r *Records) Type() *record.Type { return r.t }

// Meta is the stream's meta.json, as read when the stream was opened.
func (r *Records) Meta() *archive.Meta { return r.s.Meta() }

// Next returns the next record, decoded in place and valid until the
// following call; io.EOF at the end. Besides archive.Stream's checks, a
// record of another type_id, one that does not decode, or one whose
// message header timestamp is not its local timestamp is a
// *segment.CorruptionError.
func (r *Records) Next() (*record.Record, error) {
	rec, err := r.s.Next()
	if err != nil {
		return nil, err
	}
	if err := r.decode(rec); err != nil {
		return nil, err
	}
	return &r.rec, nil
}

// decode decodes rec's payload into r.rec and checks it: Next's work
// after archive.Stream's, which the range reader (days) calls itself.
func (r *Records) decode(rec *segment.Record) error {
	// The fast decode's checks are record.Decode's; what it does not
	// accept goes through checkRecord for the error.
	if rec.TypeID != r.t.ID || !r.dec.decode(rec.Payload, &r.rec) || rec.Timestamp != r.rec.LocalTS {
		if err := checkRecord(r.t, rec.TypeID, rec.Timestamp, rec.Payload, &r.rec); err != nil {
			return r.s.Corrupt(err)
		}
	}
	if r.rec.StreamSymbol {
		if r.sym == "" {
			return r.s.Corrupt(fmt.Errorf("the record takes its symbol from the stream, but meta.json names no symbol"))
		}
		r.rec.SetSymbol(r.sym)
	}
	return nil
}

// checkRecord decodes a payload of type t into rec and checks it against
// its message header (the CRC covers only the payload).
func checkRecord(t *record.Type, typeID uint16, ts uint64, payload []byte, rec *record.Record) error {
	if typeID != t.ID {
		return fmt.Errorf("type_id 0x%04x, want %s 0x%04x", typeID, t.Name, t.ID)
	}
	if err := record.Decode(t, payload, rec); err != nil {
		return err
	}
	if ts != rec.LocalTS {
		return fmt.Errorf("message header timestamp %d disagrees with the record's local_timestamp %d", ts, rec.LocalTS)
	}
	return nil
}

// Close closes the segment files.
func (r *Records) Close() error { return r.s.Close() }
