package segment

import (
	"encoding/binary"
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

// ErrReplaced is returned (wrapped, naming the directory) when a Reader
// has to open a segment file after the stream directory was replaced, as a
// --force import or a compression does: the file now there belongs to
// another version, so reading on would mix two streams. Reading the stream
// again gets the new version whole.
var ErrReplaced = errors.New("segment: the stream directory was replaced while being read")

// MaxOpenSegments is how many segment files a Reader holds open at once
// (plus, for a moment, the index of a .q.zst it opens). It opens them in
// batches as it moves on, so a stream of any length reads under a small
// file limit. A stream of at most this many segments is
// opened whole by OpenFiles and then reads one version whatever happens to
// the directory; a longer one fails with ErrReplaced if the directory is
// replaced before the reader has opened its last batch (the replaced
// version's files are removed, so they cannot be opened any more).
const MaxOpenSegments = 16

// ReaderOptions configures OpenStream. The zero value is valid.
type ReaderOptions struct {
	// FS is the file system; vfs.Default when nil.
	FS vfs.FS
	// Decoders is how many goroutines decompress a .q.zst, or decode a
	// .q.col, ahead of the caller. 0 means GOMAXPROCS-1 (at least 1, at
	// most 4), leaving a core to the caller, which also decodes blocks
	// while the one it needs is not ready.
	Decoders int
	// Codec reads .q.col segments; without it, a stream with one is an
	// error (ErrNoCodec).
	Codec BlockCodec
}

// SegmentFile describes one segment of an open stream.
type SegmentFile struct {
	ID         uint32
	Path       string // the file read: NNNNNNNNN.q, NNNNNNNNN.q.zst or NNNNNNNNN.q.col
	Compressed bool   // a .q.zst
	Columnar   bool   // a .q.col
	Size       int64  // of Path on disk
	IndexPath  string // NNNNNNNNN.q.zst.idx when Compressed
	IndexSize  int64
	// DataSize is the size of the uncompressed segment, the range of
	// record offsets; -1 when the index is missing or damaged, or not read
	// yet (a .q.zst or .q.col the reader has not reached).
	DataSize int64
}

// SegmentSpec is one segment as a stream's manifest describes it: what
// OpenFiles expects to find.
type SegmentSpec struct {
	ID         uint32
	Compressed bool
	Columnar   bool  // NNNNNNNNN.q.col, read with ReaderOptions.Codec
	Size       int64 // of NNNNNNNNN.q, or of the .q.zst or .q.col
	// IndexSize is the size of NNNNNNNNN.q.zst.idx; -1 when it is absent
	// (reported when the reader reaches the segment).
	IndexSize int64
}

type segFile struct {
	SegmentFile
	noIndex    bool      // a .q.zst without its .idx
	f          vfs.File  // nil while closed
	ix         *Index    // kept once read: a few bytes per MiB of data
	bf         BlockFile // of a .q.col while f is open
	err        error     // damage found at open, reported when the segment is reached
	hdrChecked bool
}

func newSegFile(dir string, sp SegmentSpec) *segFile {
	sf := &segFile{SegmentFile: SegmentFile{ID: sp.ID, Compressed: sp.Compressed, Columnar: sp.Columnar, Size: sp.Size, DataSize: sp.Size}}
	sf.Path = filepath.Join(dir, Name(sp.ID))
	if sp.Compressed {
		sf.Path, sf.IndexPath = filepath.Join(dir, CompressedName(sp.ID)), filepath.Join(dir, IndexName(sp.ID))
		sf.IndexSize, sf.noIndex, sf.DataSize = max(0, sp.IndexSize), sp.IndexSize < 0, -1
	}
	if sp.Columnar {
		sf.Path, sf.DataSize = filepath.Join(dir, ColumnarName(sp.ID)), -1
	}
	return sf
}

// openSegment opens one listed segment by itself (for VerifyStream).
func openSegment(fsys vfs.FS, dir string, l listed) (*segFile, error) {
	sf := newSegFile(dir, l.spec)
	r := &Reader{fs: fsys, dir: dir}
	if err := r.openSegment(sf); err != nil {
		return nil, err
	}
	return sf, nil
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

	// The directory as it was at open: held open so that its inode number
	// cannot be reused by a new directory, and compared with what dir names
	// after each batch of segment files is opened. nil on a file system
	// that cannot open directories (an in-memory test FS): no check.
	dirF    vfs.File
	dirInfo fs.FileInfo

	sc       scanner
	qs       qSource
	zs       zstSource
	cs       colSource
	dec      *zstd.Decoder
	decoders int
	codec    BlockCodec

	err    error
	closed bool
}

// OpenStream lists dir and reads the segment files in it: *.tmp and files
// that are not segments (such as meta.json) are ignored; NNNNNNNNN.q is
// preferred, else NNNNNNNNN.q.zst with NNNNNNNNN.q.zst.idx, else
// NNNNNNNNN.q.col (which needs ReaderOptions.Codec). The ids must be
// contiguous: a gap is a *CorruptionError naming the first missing segment.
// A damaged or missing index is reported when the reader reaches that
// segment. Files are opened as OpenFiles does, with the sizes listed.
func OpenStream(dir string, opts ReaderOptions) (*Reader, error) {
	fsys := vfs.OrDefault(opts.FS)
	ls, err := listStream(fsys, dir)
	if err != nil {
		return nil, err
	}
	specs := make([]SegmentSpec, 0, len(ls))
	for i, l := range ls {
		if err := checkListed(dir, ls, i); err != nil {
			return nil, err
		}
		specs = append(specs, l.spec)
	}
	return OpenFiles(dir, specs, opts)
}

// OpenFiles opens a stream directory whose segments are known (from its
// manifest): specs, in order, with contiguous ids. The first
// MaxOpenSegments files are opened now, the others as the reader reaches
// them; every file must have the size its spec gives, or it is a
// *CorruptionError naming it (hashing every byte is VerifyStream's job).
func OpenFiles(dir string, specs []SegmentSpec, opts ReaderOptions) (*Reader, error) {
	r := &Reader{fs: vfs.OrDefault(opts.FS), dir: dir, cur: -1, decoders: opts.Decoders, codec: opts.Codec}
	if r.decoders < 0 {
		return nil, fmt.Errorf("segment: Decoders %d, want >= 0", opts.Decoders)
	}
	if r.codec != nil {
		if err := checkCodec(r.codec); err != nil {
			return nil, err
		}
	}
	if r.decoders == 0 {
		r.decoders = defaultDecoders()
	}
	r.cs.ra.decoders = r.decoders
	for i, sp := range specs {
		if i > 0 && sp.ID != specs[i-1].ID+1 {
			return nil, fmt.Errorf("segment: OpenFiles %s: segment ids %d, %d are not contiguous", dir, specs[i-1].ID, sp.ID)
		}
		if err := checkColumnarSpec(dir, sp, r.codec); err != nil {
			return nil, err
		}
		r.segs = append(r.segs, newSegFile(dir, sp))
	}
	if d, err := r.fs.Open(dir); err == nil {
		if st, err := d.Stat(); err == nil && st.IsDir() {
			r.dirF, r.dirInfo = d, st
		} else {
			d.Close()
		}
	}
	if len(r.segs) > 0 {
		if err := r.openFrom(0); err != nil {
			r.closeDir()
			return nil, err
		}
	}
	return r, nil
}

// listed is what the directory holds for one id.
type listed struct {
	id               uint32
	q, zst, idx, col bool
	spec             SegmentSpec // the preferred form
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
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		i, seen := byID[id]
		if !seen {
			i = len(ls)
			byID[id] = i
			ls = append(ls, listed{id: id, spec: SegmentSpec{ID: id, IndexSize: -1}})
		}
		l := &ls[i]
		switch kind {
		case KindSegment:
			l.q = true
			l.spec.Compressed, l.spec.Columnar, l.spec.Size = false, false, info.Size()
		case KindCompressed:
			l.zst = true
			if !l.q {
				l.spec.Compressed, l.spec.Columnar, l.spec.Size = true, false, info.Size()
			}
		case KindColumnar:
			l.col = true
			if !l.q && !l.zst {
				l.spec.Columnar, l.spec.Size = true, info.Size()
			}
		case KindIndex:
			l.idx = true
			l.spec.IndexSize = info.Size()
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
	if !l.q && !l.zst && !l.col {
		return &CorruptionError{Path: filepath.Join(dir, CompressedName(l.id)),
			Err: detailf(ErrMissingSegment, "index %s without data", IndexName(l.id))}
	}
	return nil
}

// openFrom makes segments i.. (up to MaxOpenSegments of them) the open
// ones, closing the others, unless segment i is open already.
func (r *Reader) openFrom(i int) error {
	if r.segs[i].f != nil {
		return nil
	}
	r.closeFiles()
	for _, sf := range r.segs[i:min(len(r.segs), i+MaxOpenSegments)] {
		if err := r.openSegment(sf); err != nil {
			r.closeFiles()
			return err
		}
	}
	// The files were opened before this check: if dir still names the
	// directory of the open, they are that version's.
	if err := r.checkDir(); err != nil {
		r.closeFiles()
		return err
	}
	return nil
}

// checkDir reports ErrReplaced if dir no longer names the directory the
// reader was opened on.
func (r *Reader) checkDir() error {
	if r.dirInfo == nil {
		return nil
	}
	st, err := r.fs.Stat(r.dir)
	if err == nil && vfs.SameFile(r.dirInfo, st) {
		return nil
	}
	return fmt.Errorf("%s: %w (by a concurrent import --force, compress or index): read it again", r.dir, ErrReplaced)
}

// openSegment opens segment sf's file, checks its size against the spec
// and reads its index once.
func (r *Reader) openSegment(sf *segFile) error {
	f, err := r.fs.Open(sf.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if derr := r.checkDir(); derr != nil {
				return derr
			}
			return &CorruptionError{Path: sf.Path, Err: detailf(ErrMissingSegment, "missing: the stream's manifest lists it")}
		}
		return err
	}
	st, err := f.Stat()
	if err == nil {
		err = r.checkSize(sf.Path, st.Size(), sf.Size)
	}
	if err != nil {
		f.Close()
		return err
	}
	sf.f = f
	switch {
	case sf.err != nil:
		return nil
	case sf.Columnar:
		sf.err = r.openBlocks(sf) // at every open: the BlockFile reads f
	case sf.Compressed && sf.ix == nil:
		sf.err = r.readIndex(sf)
	default:
		return nil
	}
	if sf.err != nil && !IsCorruption(sf.err) {
		f.Close()
		sf.f = nil
		err, sf.err = sf.err, nil
		return err
	}
	return nil
}

// checkSize compares a file's size with the one expected of it.
func (r *Reader) checkSize(path string, got, want int64) error {
	if got == want {
		return nil
	}
	if err := r.checkDir(); err != nil {
		return err
	}
	kind := ErrTruncated
	if got > want {
		kind = ErrTrailingData
	}
	return &CorruptionError{Path: path, Offset: min(got, want),
		Err: detailf(kind, "%d bytes, the stream's manifest says %d", got, want)}
}

// readIndex reads and checks the index of the compressed segment sf. Damage
// is a *CorruptionError; anything else is I/O.
func (r *Reader) readIndex(sf *segFile) error {
	var b []byte
	var err error
	if !sf.noIndex {
		b, err = vfs.ReadFile(r.fs, sf.IndexPath)
	}
	switch {
	case sf.noIndex || errors.Is(err, fs.ErrNotExist):
		return &CorruptionError{Path: sf.IndexPath, Err: detailf(ErrIndex, "missing: %s has no index", filepath.Base(sf.Path))}
	case err != nil:
		return err
	}
	if err := r.checkSize(sf.IndexPath, int64(len(b)), sf.IndexSize); err != nil {
		return err
	}
	ix, err := ParseIndex(b)
	if err != nil {
		var ce *CorruptionError
		if errors.As(err, &ce) {
			ce.Path = sf.IndexPath
		}
		return err
	}
	if n := ix.CompressedSize(); n != sf.Size {
		return &CorruptionError{Path: sf.Path, Offset: min(n, sf.Size),
			Err: detailf(ErrIndex, "frames in %s total %d bytes, the file has %d", filepath.Base(sf.IndexPath), n, sf.Size)}
	}
	sf.ix, sf.DataSize = ix, ix.UncompressedSize()
	return nil
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
//
// Its fast path is scanner.read's, written out here: a replay calls this
// for every record, and one call level fewer is a few percent of what a
// record costs. The rest (a record that straddles blocks, the end of a
// segment, errors, PAD records) is nextSlow.
func (r *Reader) NextInto(rec *Record) error {
	s := &r.sc
	if r.err != nil || s.dead != nil {
		return r.nextSlow(rec, errNotRead)
	}
	rel := s.pos - s.winOff
	if rem := s.size - s.pos; rem >= HeaderSize && rel >= 0 && rel+HeaderSize <= int64(len(s.win)) {
		if commit := binary.LittleEndian.Uint32(s.win[rel:]); commit != 0 {
			plen := int64(commit) - 1
			if n := recordLen(plen); n <= rem && n <= int64(len(s.win))-rel {
				err := s.check(rec, s.win[rel:rel+n], plen)
				if err == nil && rec.TypeID != TypePad {
					return nil
				}
				return r.nextSlow(rec, err)
			}
		}
	}
	return r.nextSlow(rec, errNotRead)
}

// errNotRead tells nextSlow that NextInto has not read a record.
var errNotRead = errors.New("segment: internal: no record read")

// nextSlow is NextInto after its fast path, which read a record with
// result err (nil: a PAD record), or none (errNotRead).
func (r *Reader) nextSlow(rec *Record, err error) error {
	for {
		if err == errNotRead {
			if r.err != nil {
				return r.err
			}
			err = r.sc.read(rec)
		}
		if err == nil {
			if rec.TypeID == TypePad {
				err = errNotRead
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
		// Going on from a segment it read through: decode ahead at once,
		// not after the first blocks as after a seek (which left a core
		// idle for a few blocks at every segment of a replay). Not from
		// the stream's start: a reader of a few records (dump --limit)
		// would pay for blocks it does not read (2-3 ms).
		streaming := r.cs.streaming()
		if err := r.enter(r.cur+1, HeaderSize); err != nil {
			r.err = err
			return err
		}
		if streaming && r.segs[r.cur].Columnar {
			r.cs.keepStreaming()
		}
		err = errNotRead
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
	r.sc.drop()
	r.zs.stop()
	if err := r.openFrom(i); err != nil {
		r.err = err
		return err
	}
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
	if err := r.openFrom(i); err != nil {
		r.sc.reset(nil, r.segs[i].Path, r.segs[i].ID, 0)
		return err
	}
	sf := r.segs[i]
	if sf.err != nil {
		r.sc.reset(nil, sf.Path, sf.ID, 0)
		return sf.err
	}
	var src source
	if sf.Columnar {
		r.cs.init(sf.bf, sf.Path)
		src = &r.cs
	} else if sf.Compressed {
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
	if sf.Columnar {
		b := sf.bf.Blocks()
		direct = direct && b[0].QLen >= HeaderSize && findBlock(b, off) > 0
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
// of a .q, or a decode of frame (block) 0 alone of a .q.zst (.q.col).
func (r *Reader) readHeader(sf *segFile, h []byte) error {
	if sf.Columnar {
		b, err := r.cs.decode(0)
		if err != nil {
			return err
		}
		copy(h, b)
		return nil
	}
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
	r.qs.stop()
	r.cs.stop()
	if r.dec != nil {
		r.dec.Close()
	}
	err := r.closeFiles()
	r.closeDir()
	return err
}

func (r *Reader) closeFiles() error {
	var first error
	for _, sf := range r.segs {
		if sf.f == nil {
			continue
		}
		if err := sf.f.Close(); err != nil && first == nil {
			first = err
		}
		sf.f, sf.bf = nil, nil
	}
	return first
}

func (r *Reader) closeDir() {
	if r.dirF != nil {
		r.dirF.Close()
		r.dirF = nil
	}
}

// CheckDir returns ErrReplaced (wrapped) if the stream directory is no
// longer the one the reader opened: a caller that reads another file of
// the stream (the checkpoints) before this check knows it is of the same
// version.
func (r *Reader) CheckDir() error { return r.checkDir() }
