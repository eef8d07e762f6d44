package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/chronicle-archive/chronicle/vfs"
)

// BlockCodec is a compressed form of a sealed .q stored as NNNNNNNNN.q.col,
// cut into blocks that decode alone. The codec is plugged in from above
// (ReaderOptions.Codec, CompressOptions.Codec): this package frames opaque
// payloads, while a codec may know what they mean (package columnar, via
// its adapter columnar/colseg).
type BlockCodec interface {
	// Name names the codec in messages ("columnar").
	Name() string
	// Ext is the file name suffix; it must be ".q.col", the one ParseName
	// knows.
	Ext() string
	// Encode appends the compressed form of the segment file q to dst.
	Encode(dst, q []byte) ([]byte, error)
	// Open reads the block index of the compressed file r of size bytes.
	// r stays in use by the BlockFile.
	Open(r io.ReaderAt, size int64) (BlockFile, error)
}

// BlockFile is an open compressed segment. Its blocks, in order, restore
// the .q from offset 0 to QLen contiguously, each 1..MaxBlockSize bytes
// (the reader checks this). Open and DecodeBlock report damage as a
// *CorruptionError whose Offset is in the compressed file (Path may be
// empty: the reader fills it in); any other error is taken for I/O. A
// BlockFile need not be safe for concurrent use.
type BlockFile interface {
	Blocks() []BlockInfo
	QLen() int64
	// DecodeBlock appends the .q bytes [QOffset, QOffset+QLen) of block i
	// to dst.
	DecodeBlock(i int, dst []byte) ([]byte, error)
}

// BlockInfo is one block of a BlockFile. The seq and timestamps are those
// of the first record starting in the block (and the last one's timestamp),
// 0 in a block where none starts.
type BlockInfo struct {
	QOffset    int64 // in the .q
	QLen       int64
	CompOffset int64 // in the compressed file: where damage is reported
	CompLen    int64
	FirstSeq   uint64
	FirstTS    uint64
	LastTS     uint64
}

// ErrNoCodec is returned (wrapped, naming the file) for a .q.col segment
// when no codec was given to read, verify or write it.
var ErrNoCodec = errors.New("segment: a .q.col segment needs a codec (ReaderOptions.Codec), none was given")

// checkCodec refuses a codec whose files ParseName would not list: a
// segment compressed with it would vanish from the stream.
func checkCodec(c BlockCodec) error {
	if ext := c.Ext(); ext != sufColumnar {
		return fmt.Errorf("segment: codec %q writes %q files, want %q", c.Name(), ext, sufColumnar)
	}
	return nil
}

// codecDamage gives damage a codec reported the path of the file; other
// errors are I/O and only get the path.
func codecDamage(err error, path, what string) error {
	var ce *CorruptionError
	if errors.As(err, &ce) {
		c := *ce
		if c.Path == "" {
			c.Path = path
		}
		return &c
	}
	return fmt.Errorf("segment %s: %s: %w", path, what, err)
}

// openBlocks opens the BlockFile of the .q.col sf (whose file is open) and
// checks that its blocks restore the whole .q.
func (r *Reader) openBlocks(sf *segFile) error {
	bf, err := r.codec.Open(sf.f, sf.Size)
	if err != nil {
		return codecDamage(err, sf.Path, "open")
	}
	if err := checkBlocks(bf, sf.Path); err != nil {
		return err
	}
	sf.bf, sf.DataSize = bf, bf.QLen()
	return nil
}

func checkBlocks(bf BlockFile, path string) error {
	var off int64
	blocks := bf.Blocks()
	for i, b := range blocks {
		if b.QOffset != off || b.QLen < 1 || b.QLen > MaxBlockSize {
			return &CorruptionError{Path: path, Offset: b.CompOffset,
				Err: detailf(ErrBlock, "block %d restores .q bytes %d+%d, want offset %d and 1..%d bytes", i, b.QOffset, b.QLen, off, MaxBlockSize)}
		}
		off += b.QLen
	}
	if off != bf.QLen() {
		return &CorruptionError{Path: path, Err: detailf(ErrBlock, "%d blocks restore %d bytes of a %d-byte .q", len(blocks), off, bf.QLen())}
	}
	return nil
}

// findBlock returns the index of the block holding .q offset off, or
// len(blocks) when off is at or past the end.
func findBlock(blocks []BlockInfo, off int64) int {
	return sort.Search(len(blocks), func(i int) bool { return blocks[i].QOffset+blocks[i].QLen > off })
}

// colSource decodes a .q.col block by block. A RecordBlockFile (colseg's)
// is read by recSource (colrecords.go): CRC-free records, several blocks
// ahead on both cores. What follows is the path for any other BlockFile,
// and for VerifyStream (exact), which checks the exact .q bytes.
//
// While the scanner parses
// block i, block i+1 decodes on another goroutine, so decoding and parsing
// overlap on two cores. One block ahead only: a BlockFile is not safe for
// concurrent use, so decodes are serial anyway. After a start (a seek, or
// entering a segment) the first streamingAfter blocks decode synchronously: a reader
// that seeks and stops early (replay.BookAt) decodes no block it does not
// use, and read-ahead begins only once the reader is streaming. Two buffers suffice
// because the scanner copies a straddling tail out before it asks for the
// next block: the block next returned before is free once next is called
// again.
//
// The decode goroutine lives for one block only and always finishes on its
// own (its result channel has room), so a Reader closed without stop leaks
// nothing; every synchronous use of bf waits for it first (wait).
type colSource struct {
	bf     BlockFile
	blocks []BlockInfo
	path   string
	cur    int // the next block next returns
	bufs   [2][]byte
	last   int // bufs index next returned last
	run    int // next calls since start

	ahead    int // block decoding in the background, -1 for none
	aheadBuf int
	res      chan colResult

	// exact: decode the exact .q bytes always (VerifyStream). Otherwise a
	// RecordBlockFile is read by ra (recs set), CRC-free and further
	// ahead, and the methods below hand over to it.
	exact bool
	recs  bool
	ra    recSource
}

// streamingAfter is how many blocks a reader takes after a start before
// the next ones are decoded ahead. A book --at with checkpoints every
// 20,000 events reads about 3 blocks after its seek: from 2, read-ahead
// decoded blocks it never read (a sixth of its CPU); from 4 its median
// fell by about 1 ms (bench/bookat), and a replay of whole segments does
// not notice.
const streamingAfter = 4

type colResult struct {
	b   []byte // the grown buffer even on error, for reuse
	out []byte // nil on error
	err error
}

func (s *colSource) init(bf BlockFile, path string) {
	s.wait()
	s.ra.stop()
	rf, ok := bf.(RecordBlockFile)
	if s.recs = ok && !s.exact; s.recs {
		s.ra.init(rf, path)
	}
	if s.res == nil {
		s.res, s.ahead = make(chan colResult, 1), -1
	}
	s.bf, s.blocks, s.path, s.cur, s.run = bf, bf.Blocks(), path, 0, 0
}

// streaming reports whether the source has handed out enough blocks since
// its start to be decoding ahead.
func (s *colSource) streaming() bool {
	if s.recs {
		return s.ra.run >= streamingAfter
	}
	return s.run >= streamingAfter
}

// keepStreaming makes the source decode ahead from its first block: the
// reader goes on from the end of a segment it was streaming.
func (s *colSource) keepStreaming() {
	if s.recs {
		s.ra.run = max(s.ra.run, streamingAfter)
		return
	}
	s.run = max(s.run, streamingAfter)
}

// start positions the source at the block holding off. The first block
// after it is decoded synchronously by next, so a seek costs one block.
func (s *colSource) start(off int64) error {
	if s.recs {
		s.ra.start(off)
		return nil
	}
	s.wait()
	s.cur, s.run = findBlock(s.blocks, off), 0
	return nil
}

func (s *colSource) next() ([]byte, int64, error) {
	if s.recs {
		return s.ra.next()
	}
	if s.cur >= len(s.blocks) {
		return nil, 0, io.ErrUnexpectedEOF
	}
	i := s.cur
	s.cur++ // a bad block too: checkRest goes on after it
	var b []byte
	var err error
	if s.ahead == i {
		k := s.aheadBuf
		r := <-s.res
		s.ahead = -1
		s.bufs[k] = r.b
		b, err, s.last = r.out, r.err, k
	} else {
		s.wait()
		s.last = 1 - s.last
		b, err = s.decodeInto(i, s.last)
	}
	if s.run++; s.run >= streamingAfter && s.cur < len(s.blocks) {
		s.launch(s.cur, 1-s.last)
	}
	return b, s.blocks[i].QOffset, err
}

// launch starts decoding block i into bufs[k] in the background.
func (s *colSource) launch(i, k int) {
	s.ahead, s.aheadBuf = i, k
	buf := s.bufs[k][:0]
	go func() {
		b, out, err := s.decodeBuf(i, buf)
		s.res <- colResult{b: b, out: out, err: err}
	}()
}

// wait waits for the background decode, if any, and discards its result.
func (s *colSource) wait() {
	if s.ahead < 0 || s.res == nil {
		return
	}
	r := <-s.res
	s.bufs[s.aheadBuf] = r.b
	s.ahead = -1
}

// decode decodes block i synchronously into a buffer, checking its length
// (the reader reads segment headers with it).
func (s *colSource) decode(i int) ([]byte, error) {
	if s.recs {
		return s.ra.decodeSync(i)
	}
	s.wait()
	s.last = 1 - s.last
	return s.decodeInto(i, s.last)
}

func (s *colSource) decodeInto(i, k int) ([]byte, error) {
	b, out, err := s.decodeBuf(i, s.bufs[k][:0])
	s.bufs[k] = b
	return out, err
}

// decodeBuf decodes block i into buf. It touches no field of s but the
// read-only bf, blocks and path, so it may run in the background. It
// returns the buffer to keep (grown, even on error) and the block.
func (s *colSource) decodeBuf(i int, buf []byte) (keep, out []byte, err error) {
	b, err := s.bf.DecodeBlock(i, buf)
	if err != nil {
		if cap(b) < cap(buf) {
			b = buf
		}
		return b[:0], nil, codecDamage(err, s.path, fmt.Sprintf("block %d", i))
	}
	if e := s.blocks[i]; int64(len(b)) != e.QLen {
		return b[:0], nil, &CorruptionError{Path: s.path, Offset: e.CompOffset,
			Err: detailf(ErrBlock, "block %d decodes to %d bytes, its index entry says %d", i, len(b), e.QLen)}
	}
	return b[:0], b, nil
}

func (s *colSource) release(b []byte) {
	if s.recs {
		s.ra.release(b)
	}
}

// stop waits for the background decode: blocks handed out stay valid
// until the next call of next, as before.
func (s *colSource) stop() {
	s.wait()
	s.ra.stop()
}

// crcFree tells whether the block next returned last may hold records
// whose checksum is not set (RecordDecoder.DecodeRecords).
func (s *colSource) crcFree() bool { return s.recs && s.ra.crcFree }

// checkRest decodes the blocks the scanner never asked for, so that
// VerifyStream checks every block even when damage stopped the record scan
// early. It returns the first error.
func (s *colSource) checkRest() error {
	if s.recs {
		return s.ra.checkRest()
	}
	for s.cur < len(s.blocks) {
		i := s.cur
		s.cur++
		var err error
		if s.ahead == i {
			r := <-s.res
			s.bufs[s.aheadBuf], s.ahead, err = r.b, -1, r.err
		} else {
			_, err = s.decode(i)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// compressCodec is CompressSegment with a codec: dir/NNNNNNNNN.q becomes
// NNNNNNNNN.q.col, written as .tmp, fsynced, renamed and the directory
// fsynced before the .q is removed (and the directory fsynced again). The
// whole .q is encoded in memory, and the result decoded block by block and
// compared with the .q before anything is written.
func compressCodec(fsys vfs.FS, dir string, id uint32, c BlockCodec) error {
	if err := checkCodec(c); err != nil {
		return err
	}
	qp := filepath.Join(dir, Name(id))
	cp := filepath.Join(dir, ColumnarName(id))
	src, size, err := openSealed(fsys, qp, id, cp)
	if src == nil || err != nil {
		return err
	}
	defer func() {
		if src != nil {
			src.Close()
		}
	}()
	q := make([]byte, size)
	if n, err := src.ReadAt(q, 0); n < len(q) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("segment %s: read: %w", qp, err)
	}
	out, err := c.Encode(nil, q)
	if err != nil {
		return fmt.Errorf("segment %s: %s encode: %w", qp, c.Name(), err)
	}
	// The .q is removed once this succeeds: make sure the blocks give it
	// back before trusting them.
	if err := roundTrip(c, out, q, cp); err != nil {
		return err
	}
	tmp := cp + sufTmp
	if err := writeSynced(fsys, tmp, out); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if err := fsys.Rename(tmp, cp); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if err := fsys.SyncDir(dir); err != nil {
		return err
	}
	return dropSource(fsys, dir, &src, qp)
}

// roundTrip decodes every block of the encoded out and compares it with q.
func roundTrip(c BlockCodec, out, q []byte, path string) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("segment: %s round trip of %s failed: %s", c.Name(), path, fmt.Sprintf(format, args...))
	}
	bf, err := c.Open(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		return fail("open: %v", err)
	}
	if err := checkBlocks(bf, path); err != nil {
		return fail("%v", err)
	}
	if bf.QLen() != int64(len(q)) {
		return fail("it restores %d bytes of %d", bf.QLen(), len(q))
	}
	var buf []byte
	for i, b := range bf.Blocks() {
		if buf, err = bf.DecodeBlock(i, buf[:0]); err != nil {
			return fail("block %d: %v", i, err)
		}
		if !bytes.Equal(buf, q[b.QOffset:b.QOffset+b.QLen]) {
			return fail("block %d differs from .q bytes %d+%d", i, b.QOffset, b.QLen)
		}
	}
	return nil
}

// checkColumnarSpec refuses a .q.col spec that cannot be read.
func checkColumnarSpec(dir string, sp SegmentSpec, c BlockCodec) error {
	switch {
	case !sp.Columnar:
		return nil
	case sp.Compressed:
		return fmt.Errorf("segment: OpenFiles %s: segment %d is both Compressed and Columnar", dir, sp.ID)
	case c == nil:
		return fmt.Errorf("segment %s: %w", filepath.Join(dir, ColumnarName(sp.ID)), ErrNoCodec)
	}
	return nil
}
