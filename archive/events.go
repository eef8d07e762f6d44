package archive

import (
	"fmt"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Events reads the BookEvents of a stream in order. It decodes into one
// reused Event, so reading allocates nothing per event.
type Events struct {
	r   *segment.Reader
	ev  protocol.Event
	rec segment.Record
}

// OpenEvents opens a stream directory for reading. All segment files are
// opened at once and come from one version of the stream (see readStable),
// so a concurrent --force import or compress cannot give a reader a mix of
// old and new data; once open, the files stay readable whatever happens to
// the directory.
func OpenEvents(fsys vfs.FS, dir string) (*Events, error) {
	fsys = vfs.OrDefault(fsys)
	r, err := readStable(fsys, dir,
		func() (*segment.Reader, error) { return segment.OpenStream(dir, segment.ReaderOptions{FS: fsys}) },
		func(r *segment.Reader) { r.Close() })
	if err != nil {
		return nil, err
	}
	return &Events{r: r}, nil
}

// Next returns the next event, valid until the following call; io.EOF at
// the end. A damaged record is a *segment.CorruptionError.
func (e *Events) Next() (*protocol.Event, error) {
	rec := &e.rec // filled in place: Next runs once per event
	if err := e.r.NextInto(rec); err != nil {
		return nil, err
	}
	if rec.TypeID != protocol.TypeBookEvent {
		return nil, &segment.CorruptionError{Path: e.path(), Offset: rec.Offset, Seq: rec.Seq, HasSeq: true,
			Err: fmt.Errorf("type_id 0x%04x is not a BookEvent", rec.TypeID)}
	}
	if err := protocol.DecodeEvent(rec.Payload, &e.ev); err != nil {
		return nil, &segment.CorruptionError{Path: e.path(), Offset: rec.Offset, Seq: rec.Seq, HasSeq: true, Err: err}
	}
	// The CRC covers only the payload; the message header's seq and
	// timestamp repeat the event's, so a damaged header still shows.
	if rec.Seq != e.ev.Seq || rec.Timestamp != e.ev.IngestTS {
		return nil, &segment.CorruptionError{Path: e.path(), Offset: rec.Offset, Seq: rec.Seq, HasSeq: true,
			Err: fmt.Errorf("message header seq/timestamp %d/%d disagree with the event's %d/%d", rec.Seq, rec.Timestamp, e.ev.Seq, e.ev.IngestTS)}
	}
	return &e.ev, nil
}

// Record is the segment record of the last event returned (unspecified
// after Next returns an error).
func (e *Events) Record() segment.Record { return e.rec }

// Seek positions the reader at a record boundary.
func (e *Events) Seek(segmentID uint32, offset int64) error { return e.r.Seek(segmentID, offset) }

// Segments lists the stream's segment files.
func (e *Events) Segments() []segment.SegmentFile { return e.r.Segments() }

func (e *Events) path() string {
	for _, s := range e.r.Segments() {
		if s.ID == e.rec.SegmentID {
			return s.Path
		}
	}
	return fmt.Sprintf("segment %d", e.rec.SegmentID)
}

// Close closes the segment files.
func (e *Events) Close() error { return e.r.Close() }
