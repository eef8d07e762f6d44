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

// colSource decodes a .q.col block by block, on the caller's goroutine,
// into one reused buffer (enough, as for qSource: the scanner copies a
// straddling tail out before it asks for the next block).
type colSource struct {
	bf     BlockFile
	blocks []BlockInfo
	path   string
	cur    int // the next block next returns
	buf    []byte
}

func (s *colSource) init(bf BlockFile, path string) {
	s.bf, s.blocks, s.path, s.cur = bf, bf.Blocks(), path, 0
}

func (s *colSource) start(off int64) error { s.cur = findBlock(s.blocks, off); return nil }

func (s *colSource) next() ([]byte, int64, error) {
	if s.cur >= len(s.blocks) {
		return nil, 0, io.ErrUnexpectedEOF
	}
	i := s.cur
	s.cur++ // a bad block too: checkRest goes on after it
	b, err := s.decode(i)
	return b, s.blocks[i].QOffset, err
}

// decode decodes block i into the buffer, checking its length.
func (s *colSource) decode(i int) ([]byte, error) {
	b, err := s.bf.DecodeBlock(i, s.buf[:0])
	if err != nil {
		return nil, codecDamage(err, s.path, fmt.Sprintf("block %d", i))
	}
	s.buf = b
	if e := s.blocks[i]; int64(len(b)) != e.QLen {
		return nil, &CorruptionError{Path: s.path, Offset: e.CompOffset,
			Err: detailf(ErrBlock, "block %d decodes to %d bytes, its index entry says %d", i, len(b), e.QLen)}
	}
	return b, nil
}

func (s *colSource) release([]byte) {}
func (s *colSource) stop()          {}

// checkRest decodes the blocks the scanner never asked for, so that
// VerifyStream checks every block even when damage stopped the record scan
// early. It returns the first error.
func (s *colSource) checkRest() error {
	for ; s.cur < len(s.blocks); s.cur++ {
		if _, err := s.decode(s.cur); err != nil {
			s.cur++
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
