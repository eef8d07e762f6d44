// Package stream reads the records of a stream as what they are: the
// reference's BookEvents (Events, with their book checkpoints) or any
// other type of the record table (Records). Package archive below it reads
// and checks segment records and meta.json without knowing what a payload
// means; this package decodes the payloads, checks them against the
// message headers, and knows which side files a type keeps.
package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/columnar/colseg"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// codecs reads the segments of every stream this package opens: .q.col
// segments are columnar (package archive must not know record types).
var codecs = archive.Options{Codec: colseg.Codec{}}

// Events reads the BookEvents of a stream in order. It decodes into one
// reused Event whose levels are views of the read buffer
// (protocol.DecodeEventView), so reading allocates and copies nothing per
// event; a caller must not write through them.
type Events struct {
	s  *archive.Stream
	ev protocol.Event
}

// OpenEvents opens an incremental_book_L2 stream for reading, with every
// check of archive.OpenStream. A stream of another record type is refused;
// one whose meta.json has no record_type predates the other types and is a
// book stream.
func OpenEvents(fsys vfs.FS, dir string) (*Events, error) {
	s, err := archive.OpenStream(fsys, dir, codecs)
	if err != nil {
		return nil, err
	}
	if t, err := typeOf(s.Meta(), dir); err != nil || t != record.BookEvent {
		s.Close()
		if err == nil {
			err = fmt.Errorf("%s holds %s, not an incremental_book_L2 stream", dir, holds(s.Meta()))
		}
		return nil, err
	}
	return &Events{s: s}, nil
}

// OpenStaging opens the events of a staging directory (no meta.json yet):
// for a writer that holds the stream's lock, as Index does. Seq is checked
// as by OpenEvents; the count at the end is not.
func OpenStaging(fsys vfs.FS, dir string) (*Events, error) {
	s, err := archive.OpenStaging(fsys, dir, codecs)
	if err != nil {
		return nil, err
	}
	return &Events{s: s}, nil
}

// typeOf is the record type of the stream m describes.
func typeOf(m *archive.Meta, dir string) (*record.Type, error) {
	if m.RecordType == "" {
		return record.BookEvent, nil
	}
	t, ok := record.ByName(m.RecordType)
	if !ok {
		return nil, fmt.Errorf("%s: record_type %q is not a record type this Chronicle knows", filepath.Join(dir, archive.MetaName), m.RecordType)
	}
	return t, nil
}

// holds says what a stream holds, for errors: "trades (trade records)".
func holds(m *archive.Meta) string {
	rt := m.RecordType
	if rt == "" {
		rt = record.BookEvent.Name
	}
	if m.DataType == "" {
		return rt + " records"
	}
	return fmt.Sprintf("%s (%s records)", m.DataType, rt)
}

// Meta is the stream's meta.json, as read when the stream was opened (nil
// for a staging directory).
func (e *Events) Meta() *archive.Meta { return e.s.Meta() }

// Next returns the next event, valid until the following call; io.EOF at
// the end. Besides archive.Stream's checks, a record that is not a
// BookEvent, does not decode, or whose message header disagrees with the
// event is a *segment.CorruptionError.
func (e *Events) Next() (*protocol.Event, error) {
	rec, err := e.s.Next()
	if err != nil {
		return nil, err
	}
	if err := e.decode(rec); err != nil {
		return nil, err
	}
	return &e.ev, nil
}

// decode decodes rec's payload into e.ev and checks it: Next's work after
// archive.Stream's, which the range reader (days) calls itself.
func (e *Events) decode(rec *segment.Record) error {
	if rec.TypeID != protocol.TypeBookEvent {
		return e.s.Corrupt(fmt.Errorf("type_id 0x%04x is not a BookEvent", rec.TypeID))
	}
	// Levels as views of the payload: valid as long as the event is.
	if err := protocol.DecodeEventView(rec.Payload, &e.ev); err != nil {
		return e.s.Corrupt(err)
	}
	// The CRC covers only the payload; the message header's seq and
	// timestamp repeat the event's, so a damaged header still shows.
	if rec.Seq != e.ev.Seq || rec.Timestamp != e.ev.IngestTS {
		return e.s.Corrupt(fmt.Errorf("message header seq/timestamp %d/%d disagree with the event's %d/%d", rec.Seq, rec.Timestamp, e.ev.Seq, e.ev.IngestTS))
	}
	return nil
}

// Record is the segment record of the last event returned (unspecified
// after Next returns an error).
func (e *Events) Record() segment.Record { return *e.s.Record() }

// Seek positions the reader at a record boundary (see archive.Stream.Seek).
func (e *Events) Seek(segmentID uint32, offset int64) error { return e.s.Seek(segmentID, offset) }

// Segments lists the stream's segment files.
func (e *Events) Segments() []segment.SegmentFile { return e.s.Segments() }

// Close closes the segment files.
func (e *Events) Close() error { return e.s.Close() }

// Checkpoints opens the stream's book checkpoint file, nil if there is
// none. The file is bound to the stream by meta.json's manifest
// (archive.Stream.ReadListedFile): one from another stream, or changed, is
// a *segment.CorruptionError naming it, and never positions a replay here.
func (e *Events) Checkpoints() (*book.CheckpointFile, error) {
	b, err := e.s.ReadListedFile(book.FileName)
	if errors.Is(err, fs.ErrNotExist) {
		// Optional: the book is the same without them.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cf, err := book.OpenCheckpointFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, e.badCheckpoints(err)
	}
	return cf, nil
}

// OpenCheckpoints is Checkpoints without waiting for the manifest's blake3
// (archive.Stream.OpenListedFile): the caller finds and loads the
// checkpoint it needs, calls check.Start to have the file hashed in the
// background while it replays from there, and must call check.Check
// before it trusts, or returns, anything that depends on the checkpoints
// (an error too: the file not being this stream's explains any other);
// then check.Close. All three are nil when there is no checkpoint file.
func (e *Events) OpenCheckpoints() (cf *book.CheckpointFile, check *archive.ListedFile, err error) {
	lf, err := e.s.OpenListedFile(book.FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	cf, err = book.OpenCheckpointFile(lf, lf.Size())
	if err != nil {
		if cerr := lf.Check(); cerr != nil {
			err = cerr // another stream's file, or changed: that first
		} else {
			err = e.badCheckpoints(err)
		}
		lf.Close()
		return nil, nil, err
	}
	return cf, lf, nil
}

// badCheckpoints is a checkpoint file error as damage to the file.
func (e *Events) badCheckpoints(err error) error {
	return &segment.CorruptionError{Path: filepath.Join(e.s.Dir(), book.FileName), Offset: checkpointErrOffset(err), Err: err}
}
