package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Events reads the BookEvents of a stream in order. It decodes into one
// reused Event, so reading allocates nothing per event.
type Events struct {
	fsys vfs.FS
	dir  string
	meta *Meta
	r    *segment.Reader
	ev   protocol.Event
	rec  segment.Record
	// The seq the next event must have; unknown after a Seek into the
	// stream until an event is read.
	nextSeq  uint64
	seqKnown bool
}

// OpenEvents opens a stream directory for reading: meta.json first, then
// exactly the segment files its manifest lists, each checked against its
// listed size (see open.go); any mismatch is a *segment.CorruptionError
// naming the file, and a directory without meta.json is not a stream. What
// OpenEvents reads comes from one version of the stream (see readStable),
// and the files opened later, as the reader moves on, are checked to be of
// that version too (segment.OpenFiles), so a concurrent --force import or
// compress can never give a reader a mix of old and new data.
func OpenEvents(fsys vfs.FS, dir string) (*Events, error) {
	fsys = vfs.OrDefault(fsys)
	e, err := readStable(fsys, dir, func() (*Events, error) { return openEvents(fsys, dir) }, func(e *Events) { e.Close() })
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := fsys.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return nil, notStream(dir, "no such directory")
		}
	}
	return e, err
}

func openEvents(fsys vfs.FS, dir string) (*Events, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m, err := readStreamMeta(fsys, dir, ents)
	if err != nil {
		return nil, err
	}
	specs, err := streamSpecs(dir, m, ents)
	if err != nil {
		return nil, err
	}
	r, err := segment.OpenFiles(dir, specs, segment.ReaderOptions{FS: fsys})
	if err != nil {
		return nil, err
	}
	return &Events{fsys: fsys, dir: dir, meta: m, r: r, seqKnown: true}, nil
}

// openUnlisted opens the segments dir holds, without a meta.json to check
// them against: for a writer that holds the stream's lock and reads the
// staging directory it has just filled (buildCheckpoints). Seq is checked
// as by OpenEvents; the count at the end is not.
func openUnlisted(fsys vfs.FS, dir string) (*Events, error) {
	r, err := segment.OpenStream(dir, segment.ReaderOptions{FS: fsys})
	if err != nil {
		return nil, err
	}
	return &Events{fsys: fsys, dir: dir, r: r, seqKnown: true}, nil
}

// Meta is the stream's meta.json, as read when the stream was opened (nil
// for a staging directory).
func (e *Events) Meta() *Meta { return e.meta }

// Next returns the next event, valid until the following call; io.EOF at
// the end. A damaged record, a seq that does not follow the previous one
// (from 0), or a stream that ends before or after meta.json's event count
// is a *segment.CorruptionError.
func (e *Events) Next() (*protocol.Event, error) {
	rec := &e.rec // filled in place: Next runs once per event
	if err := e.r.NextInto(rec); err != nil {
		if err == io.EOF && e.seqKnown && e.meta != nil && e.nextSeq != uint64(e.meta.Events) {
			return nil, manifestError(filepath.Join(e.dir, MetaName), "the stream ends after %d events, %s says %d", e.nextSeq, MetaName, e.meta.Events)
		}
		return nil, err
	}
	if e.seqKnown && rec.Seq != e.nextSeq {
		return nil, &segment.CorruptionError{Path: e.path(), Offset: rec.Offset, Seq: rec.Seq, HasSeq: true,
			Err: fmt.Errorf("%w: seq %d, want %d (a segment missing, repeated or out of place)", segment.ErrSequence, rec.Seq, e.nextSeq)}
	}
	e.nextSeq, e.seqKnown = rec.Seq+1, true
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

// Seek positions the reader at a record boundary. The seq of the event
// there is the caller's to check (a checkpoint knows it); from there on
// Next checks that each follows the previous.
func (e *Events) Seek(segmentID uint32, offset int64) error {
	if err := e.r.Seek(segmentID, offset); err != nil {
		return err
	}
	// The start of the stream is seq 0.
	e.nextSeq, e.seqKnown = 0, segmentID == 0 && offset == segment.HeaderSize
	return nil
}

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
