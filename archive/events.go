package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Options gives archive what it must not know itself: the codec of .q.col
// segments, which knows record types (columnar/colseg's, passed in by
// stream, ingest and the CLI). The functions that take it take at most one;
// without it (or with a nil Codec) a stream holding a .q.col is an error
// wrapping segment.ErrNoCodec and naming the file, and Compress writes
// .q.zst.
type Options struct {
	Codec segment.BlockCodec
}

// codecOf is the codec of the (at most one) Options given.
func codecOf(opts []Options) segment.BlockCodec {
	var c segment.BlockCodec
	for _, o := range opts {
		if o.Codec != nil {
			c = o.Codec
		}
	}
	return c
}

// Stream reads the records of a stream in order, checked against the
// stream's meta.json; what the payloads mean is the caller's (package
// stream decodes them). It reads into one reused Record, so reading
// allocates nothing per record.
type Stream struct {
	fsys vfs.FS
	dir  string
	meta *Meta
	r    *segment.Reader
	rec  segment.Record
	// The seq the next record must have; unknown after a Seek into the
	// stream until a record is read.
	nextSeq  uint64
	seqKnown bool
}

// OpenStream opens a stream directory for reading: meta.json first, then
// exactly the segment files its manifest lists, each checked against its
// listed size (see open.go); any mismatch is a *segment.CorruptionError
// naming the file, and a directory without meta.json is not a stream. What
// OpenStream reads comes from one version of the stream (see readStable),
// and the files opened later, as the reader moves on, are checked to be of
// that version too (segment.OpenFiles), so a concurrent --force import or
// compress can never give a reader a mix of old and new data.
func OpenStream(fsys vfs.FS, dir string, opts ...Options) (*Stream, error) {
	fsys = vfs.OrDefault(fsys)
	codec := codecOf(opts)
	s, err := readStable(fsys, dir, func() (*Stream, error) { return openStream(fsys, dir, codec) }, func(s *Stream) { s.Close() })
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := fsys.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return nil, notStream(dir, "no such directory")
		}
	}
	return s, err
}

func openStream(fsys vfs.FS, dir string, codec segment.BlockCodec) (*Stream, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m, err := readStreamMeta(fsys, dir, ents)
	if err != nil {
		return nil, err
	}
	specs, err := streamSpecs(dir, m, ents, codec)
	if err != nil {
		return nil, err
	}
	r, err := segment.OpenFiles(dir, specs, segment.ReaderOptions{FS: fsys, Codec: codec})
	if err != nil {
		return nil, err
	}
	return &Stream{fsys: fsys, dir: dir, meta: m, r: r, seqKnown: true}, nil
}

// OpenStaging opens the segments dir holds, without a meta.json to check
// them against: for a writer that holds the stream's lock and reads the
// staging directory it has just filled (a rebuild of side files from the
// records). Seq is checked as by OpenStream; the count at the end is not.
func OpenStaging(fsys vfs.FS, dir string, opts ...Options) (*Stream, error) {
	fsys = vfs.OrDefault(fsys)
	r, err := segment.OpenStream(dir, segment.ReaderOptions{FS: fsys, Codec: codecOf(opts)})
	if err != nil {
		return nil, err
	}
	return &Stream{fsys: fsys, dir: dir, r: r, seqKnown: true}, nil
}

// Meta is the stream's meta.json, as read when the stream was opened (nil
// for a staging directory).
func (s *Stream) Meta() *Meta { return s.meta }

// Dir is the stream directory.
func (s *Stream) Dir() string { return s.dir }

// Next returns the next record, filled in place and valid until the
// following call; io.EOF at the end. A damaged record, a seq that does not
// follow the previous one (from 0), or a stream that ends before or after
// meta.json's event count is a *segment.CorruptionError.
func (s *Stream) Next() (*segment.Record, error) {
	rec := &s.rec
	err := s.r.NextInto(rec)
	if err != nil || rec.Seq != s.nextSeq || !s.seqKnown {
		return s.next(err)
	}
	s.nextSeq++
	return rec, nil
}

// next is Next for all but a record whose seq is the one expected:
// NextInto's error err, the first record after a Seek, a wrong seq.
func (s *Stream) next(err error) (*segment.Record, error) {
	rec := &s.rec
	if err != nil {
		if err == io.EOF && s.seqKnown && s.meta != nil && s.nextSeq != uint64(s.meta.Events) {
			return nil, manifestError(filepath.Join(s.dir, MetaName), "the stream ends after %d events, %s says %d", s.nextSeq, MetaName, s.meta.Events)
		}
		return nil, err
	}
	if s.seqKnown && rec.Seq != s.nextSeq {
		return nil, s.Corrupt(fmt.Errorf("%w: seq %d, want %d (a segment missing, repeated or out of place)", segment.ErrSequence, rec.Seq, s.nextSeq))
	}
	s.nextSeq, s.seqKnown = rec.Seq+1, true
	return rec, nil
}

// Record is the last record Next returned (unspecified after Next returns
// an error).
func (s *Stream) Record() *segment.Record { return &s.rec }

// Corrupt is err as damage at the last record Next returned: for a
// decoder that finds the payload wrong.
func (s *Stream) Corrupt(err error) error {
	return &segment.CorruptionError{Path: s.Path(), Offset: s.rec.Offset, Seq: s.rec.Seq, HasSeq: true, Err: err}
}

// Seek positions the reader at a record boundary. The seq of the record
// there is the caller's to check (a checkpoint knows it); from there on
// Next checks that each follows the previous.
func (s *Stream) Seek(segmentID uint32, offset int64) error {
	if err := s.r.Seek(segmentID, offset); err != nil {
		return err
	}
	// The start of the stream is seq 0.
	s.nextSeq, s.seqKnown = 0, segmentID == 0 && offset == segment.HeaderSize
	return nil
}

// Segments lists the stream's segment files.
func (s *Stream) Segments() []segment.SegmentFile { return s.r.Segments() }

// Path is the file of the last record Next returned.
func (s *Stream) Path() string {
	for _, sf := range s.r.Segments() {
		if sf.ID == s.rec.SegmentID {
			return sf.Path
		}
	}
	return fmt.Sprintf("%s: segment %d", s.dir, s.rec.SegmentID)
}

// Close closes the segment files.
func (s *Stream) Close() error { return s.r.Close() }
