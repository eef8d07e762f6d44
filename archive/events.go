package archive

import (
	"fmt"
	"os"

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
// opened at once, and they all come from one version of the stream: a
// concurrent --force import or compress swaps in a new directory, so if the
// directory at dir is the same inode before and after the files were opened
// (published directories never change in place), no swap came in between;
// otherwise OpenEvents opens them again. Once open, the files stay readable
// whatever happens to the directory.
func OpenEvents(fsys vfs.FS, dir string) (*Events, error) {
	fsys = vfs.OrDefault(fsys)
	for attempt := 1; ; attempt++ {
		before, err := fsys.Stat(dir)
		if err != nil {
			return nil, err
		}
		r, err := segment.OpenStream(dir, segment.ReaderOptions{FS: fsys})
		after, serr := fsys.Stat(dir)
		if serr == nil && os.SameFile(before, after) || attempt == 5 {
			if err != nil {
				return nil, err
			}
			return &Events{r: r}, nil
		}
		if r != nil {
			r.Close()
		}
	}
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
