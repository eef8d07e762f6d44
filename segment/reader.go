package segment

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/chronicle-archive/chronicle/vfs"
	"github.com/klauspost/compress/zstd"
)

// ErrReaderClosed is returned by a Reader used after Close.
var ErrReaderClosed = errors.New("segment: reader closed")

// ReaderOptions configures OpenStream. The zero value is valid.
type ReaderOptions struct {
	// FS is the file system; vfs.Default when nil.
	FS vfs.FS
	// Decoders is how many goroutines decompress a .q.zst ahead of the
	// caller. 0 means GOMAXPROCS-1 (at least 1, at most 4), leaving a core
	// to the caller, which also decodes frames while the one it needs is
	// not ready.
	Decoders int
}

// SegmentFile describes one segment of an open stream.
type SegmentFile struct {
	ID         uint32
	Path       string // the file read: NNNNNNNNN.q, or NNNNNNNNN.q.zst
	Compressed bool
	Size       int64  // of Path on disk
	IndexPath  string // NNNNNNNNN.q.zst.idx when Compressed
	IndexSize  int64
	// DataSize is the size of the uncompressed segment, the range of
	// record offsets; -1 when the index is missing or damaged.
	DataSize int64
}

type segFile struct {
	SegmentFile
	f          vfs.File
	ix         *Index
	err        error // damage found at open, reported when the segment is reached
	hdrChecked bool
}

// Reader reads the records of a stream directory in order, checking
// everything the format lets it check as it goes. The first damage found is
// returned as a *CorruptionError by Next, and again by every later Next
// (until a Seek). A Reader is not safe for concurrent use.
type Reader struct {
	fs   vfs.FS
	dir  string
	segs []*segFile
	cur  int

	sc       scanner
	qs       qSource
	zs       zstSource
	dec      *zstd.Decoder
	decoders int

	err    error
	closed bool
}

// OpenStream lists dir and opens every segment file in it at once, so that
// the reader sees one consistent set of files even if the directory is
// replaced while it reads: *.tmp and files that are not segments (such as
// meta.json) are ignored; NNNNNNNNN.q is preferred, else NNNNNNNNN.q.zst
// with NNNNNNNNN.q.zst.idx. The ids must be contiguous: a gap is a
// *CorruptionError naming the first missing segment. A damaged or missing
// index is reported when the reader reaches that segment.
func OpenStream(dir string, opts ReaderOptions) (*Reader, error) {
	r := &Reader{fs: opts.FS, dir: dir, cur: -1, decoders: opts.Decoders}
	if r.fs == nil {
		r.fs = vfs.Default
	}
	if r.decoders < 0 {
		return nil, fmt.Errorf("segment: Decoders %d, want >= 0", opts.Decoders)
	}
	if r.decoders == 0 {
		r.decoders = defaultDecoders()
	}
	ls, err := listStream(r.fs, dir)
	if err != nil {
		return nil, err
	}
	for i, l := range ls {
		if err := checkListed(dir, ls, i); err != nil {
			r.closeFiles()
			return nil, err
		}
		sf, err := openSegment(r.fs, dir, l)
		if err != nil {
			r.closeFiles()
			return nil, err
		}
		r.segs = append(r.segs, sf)
	}
	return r, nil
}

// listed is what the directory holds for one id.
type listed struct {
	id          uint32
	q, zst, idx bool
}

func listStream(fsys vfs.FS, dir string) ([]listed, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	byID := make(map[uint32]int)
	var ls []listed
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		id, kind, ok := ParseName(e.Name())
		if !ok {
			continue
		}
		i, seen := byID[id]
		if !seen {
			i = len(ls)
			byID[id] = i
			ls = append(ls, listed{id: id})
		}
		switch kind {
		case KindSegment:
			ls[i].q = true
		case KindCompressed:
			ls[i].zst = true
		case KindIndex:
			ls[i].idx = true
		}
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].id < ls[j].id })
	return ls, nil
}

// checkListed reports a gap before ls[i], or an index with no data.
func checkListed(dir string, ls []listed, i int) error {
	l := ls[i]
	if i > 0 && l.id != ls[i-1].id+1 {
		missing := ls[i-1].id + 1
		return &CorruptionError{Path: filepath.Join(dir, Name(missing)),
			Err: detailf(ErrMissingSegment, "no segment %d (the stream has %d, then %d)", missing, ls[i-1].id, l.id)}
	}
	if !l.q && !l.zst {
		return &CorruptionError{Path: filepath.Join(dir, CompressedName(l.id)),
			Err: detailf(ErrMissingSegment, "index %s without data", IndexName(l.id))}
	}
	return nil
}

// openSegment opens the preferred file of one segment and reads its index.
func openSegment(fsys vfs.FS, dir string, l listed) (*segFile, error) {
	sf := &segFile{SegmentFile: SegmentFile{ID: l.id}}
	if l.q {
		p := filepath.Join(dir, Name(l.id))
		f, err := fsys.Open(p)
		if err == nil {
			st, err := f.Stat()
			if err != nil {
				f.Close()
				return nil, err
			}
			sf.f, sf.Path, sf.Size, sf.DataSize = f, p, st.Size(), st.Size()
			return sf, nil
		}
		// The .q can vanish between listing and opening when a compression
		// finishes; its .q.zst and index were published before.
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	zp := filepath.Join(dir, CompressedName(l.id))
	ip := filepath.Join(dir, IndexName(l.id))
	f, err := fsys.Open(zp)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	sf.f, sf.Path, sf.Size, sf.Compressed, sf.IndexPath, sf.DataSize = f, zp, st.Size(), true, ip, -1
	b, err := vfs.ReadFile(fsys, ip)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		sf.err = &CorruptionError{Path: ip, Err: detailf(ErrIndex, "missing: %s has no index", CompressedName(l.id))}
		return sf, nil
	case err != nil:
		f.Close()
		return nil, err
	}
	sf.IndexSize = int64(len(b))
	ix, err := ParseIndex(b)
	if err != nil {
		var ce *CorruptionError
		if errors.As(err, &ce) {
			ce.Path = ip
		}
		sf.err = err
		return sf, nil
	}
	if n := ix.CompressedSize(); n != sf.Size {
		sf.err = &CorruptionError{Path: zp, Offset: min(n, sf.Size),
			Err: detailf(ErrIndex, "frames in %s total %d bytes, the file has %d", IndexName(l.id), n, sf.Size)}
		return sf, nil
	}
	sf.ix, sf.DataSize = ix, ix.UncompressedSize()
	return sf, nil
}

// Segments describes the segments of the stream, in order.
func (r *Reader) Segments() []SegmentFile {
	out := make([]SegmentFile, len(r.segs))
	for i, sf := range r.segs {
		out[i] = sf.SegmentFile
	}
	return out
}

// Next returns the next record, skipping PAD records, or io.EOF at the end
// of the stream. Record.Payload is valid until the next call.
func (r *Reader) Next() (Record, error) {
	var rec Record
	if err := r.NextInto(&rec); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// NextInto is Next storing the record in *rec, for callers that read
// millions of records: the Record is filled in place instead of being
// copied out. On error *rec is unspecified.
func (r *Reader) NextInto(rec *Record) error {
	for {
		if r.err != nil {
			return r.err
		}
		err := r.sc.read(rec)
		if err == nil {
			if rec.TypeID == TypePad {
				continue
			}
			return nil
		}
		if err != io.EOF {
			r.err = err
			return err
		}
		if r.cur+1 >= len(r.segs) {
			return io.EOF
		}
		if err := r.enter(r.cur+1, HeaderSize); err != nil {
			r.err = err
			return err
		}
	}
}

// Seek positions the reader at the record at offset of segment segmentID,
// a boundary returned by Writer.Append or Record.Offset (or the segment's
// DataSize, its end). Offsets are in the uncompressed segment; on a .q.zst
// the index finds the frame to start decoding from. Seek clears a sticky
// error. Seeking to a 64-aligned offset that is not a record boundary is
// not detected here; Next then reports corruption.
func (r *Reader) Seek(segmentID uint32, offset int64) error {
	if r.closed {
		return ErrReaderClosed
	}
	if len(r.segs) == 0 || segmentID < r.segs[0].ID || segmentID > r.segs[len(r.segs)-1].ID {
		return fmt.Errorf("segment: seek: no segment %d in %s", segmentID, r.dir)
	}
	i := int(segmentID - r.segs[0].ID)
	sf := r.segs[i]
	if sf.err != nil {
		return sf.err
	}
	if offset < HeaderSize || offset%HeaderSize != 0 || offset > sf.DataSize {
		return fmt.Errorf("segment: seek: offset %d is not a record boundary of %s (%d bytes)", offset, sf.Path, sf.DataSize)
	}
	r.err = nil
	if err := r.enter(i, offset); err != nil {
		r.err = err
		return err
	}
	return nil
}

// enter makes segment i current, positioned at off, checking its header
// the first time.
func (r *Reader) enter(i int, off int64) error {
	r.sc.drop()
	r.zs.stop()
	r.cur = i
	sf := r.segs[i]
	if sf.err != nil {
		r.sc.reset(nil, sf.Path, sf.ID, 0)
		return sf.err
	}
	var src source
	if sf.Compressed {
		if r.dec == nil {
			if r.decoders == 0 {
				r.decoders = defaultDecoders()
			}
			dec, err := newDecoder(r.decoders + 1) // the caller decodes too
			if err != nil {
				return err
			}
			r.dec = dec
		}
		r.zs.init(sf.f, sf.Path, sf.ix, r.dec, r.decoders)
		src = &r.zs
	} else {
		r.qs.init(sf.f, sf.Path, sf.Size)
		src = &r.qs
	}
	r.sc.reset(src, sf.Path, sf.ID, sf.DataSize)
	r.sc.seqKnown = false
	if !sf.hdrChecked {
		if err := r.checkHeader(sf, off); err != nil {
			return err
		}
		sf.hdrChecked = true
		return nil
	}
	return r.sc.seek(off)
}

// checkHeader checks the header of the current segment sf and leaves the
// scanner at off (or dead). The header is read by itself, not with the
// block that holds it: a reader that opens a stream to seek somewhere
// (replay.BookAt, via a checkpoint) would otherwise read a .q block or
// decode .q.zst frames ahead only to look at 64 bytes. A .q.zst whose first
// frame holds off too is read through the scanner, which then goes on from
// the frame it has.
func (r *Reader) checkHeader(sf *segFile, off int64) error {
	sc := &r.sc
	direct := sf.DataSize >= HeaderSize
	if sf.Compressed {
		e := sf.ix.Entries
		direct = direct && e[0].UncompressedSize >= HeaderSize && sf.ix.Find(off) > 0
	}
	if !direct {
		if err := sc.seek(0); err != nil {
			return err
		}
		err := sc.header()
		if sc.dead != nil {
			return err
		}
		if err2 := sc.skip(off); err2 != nil {
			return err2
		}
		return err
	}
	var h [HeaderSize]byte
	if err := r.readHeader(sf, h[:]); err != nil {
		return sc.fatalIO(err)
	}
	err := sc.headerBytes(h[:])
	if sc.dead != nil {
		return err
	}
	if err2 := sc.seek(off); err2 != nil {
		return err2
	}
	return err
}

// readHeader reads the first HeaderSize bytes of segment sf: one small read
// of a .q, or a decode of frame 0 alone of a .q.zst.
func (r *Reader) readHeader(sf *segFile, h []byte) error {
	if !sf.Compressed {
		n, err := sf.f.ReadAt(h, 0)
		if n < len(h) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("segment %s: read at 0: %w", sf.Path, err)
		}
		return nil
	}
	b, err := r.zs.decodeSync(0)
	if err != nil {
		return err
	}
	copy(h, b)
	r.zs.keep(b)
	return nil
}

// Close stops any read-ahead and closes the files.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.err = ErrReaderClosed
	r.sc.drop()
	r.zs.stop()
	if r.dec != nil {
		r.dec.Close()
	}
	return r.closeFiles()
}

func (r *Reader) closeFiles() error {
	var first error
	for _, sf := range r.segs {
		if err := sf.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
