package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/vfs"
	"github.com/klauspost/compress/zstd"
)

// CompressOptions configures CompressSegment. The zero value is valid.
type CompressOptions struct {
	// FS is the file system; vfs.Default when nil.
	FS vfs.FS
	// BlockSize is the uncompressed size of each frame, 1..MaxBlockSize;
	// DefaultBlockSize (1 MiB, the reference's) when 0.
	BlockSize int
	// Level is the zstd level, 1..22, mapped to the nearest klauspost
	// encoder level by zstd.EncoderLevelFromZstd; 0 means 3, the
	// reference's (zstd.SpeedDefault).
	Level int
	// Codec, when set, writes NNNNNNNNN.q.col with it instead of a .q.zst
	// and its index; BlockSize and Level are then not used.
	Codec BlockCodec
}

// CompressSegment replaces dir/NNNNNNNNN.q by NNNNNNNNN.q.zst and
// NNNNNNNNN.q.zst.idx (see the package comment for the layout). Each block
// is compressed as its own frame, with its content size and checksum, and
// decoded again and compared before it is written. Both files are written
// as .tmp, fsynced, renamed into place (index first) and the directory
// fsynced; only then is the .q removed and the directory fsynced again.
// Readers prefer the .q while it exists, so at no point does a reader see
// a partial compressed segment.
//
// The output depends only on the .q and the options, so an interrupted run
// can simply be rerun: leftover .tmp files are overwritten, and if the .q
// is still there, the .q.zst and index are redone (replacing any from an
// earlier run) before the .q is removed. If the .q is gone and both
// compressed files exist, there is nothing to do.
//
// The segment header must be that of a sealed segment with this id; the
// records are not checked (the compressed bytes are the same bytes, damage
// and all: VerifyStream checks them).
func CompressSegment(dir string, id uint32, opts CompressOptions) error {
	fsys := opts.FS
	if fsys == nil {
		fsys = vfs.Default
	}
	if se, ok := opts.Codec.(StreamEncoder); ok {
		return compressStream(fsys, dir, id, opts.Codec, se)
	}
	if opts.Codec != nil {
		return compressCodec(fsys, dir, id, opts.Codec)
	}
	bs := opts.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if bs < 0 || bs > MaxBlockSize {
		return fmt.Errorf("segment: BlockSize %d, want 1..%d", opts.BlockSize, MaxBlockSize)
	}
	level := opts.Level
	if level == 0 {
		level = 3
	}
	if level < 1 || level > 22 {
		return fmt.Errorf("segment: Level %d, want 1..22 (0 for the default)", opts.Level)
	}
	qp := filepath.Join(dir, Name(id))
	zp := filepath.Join(dir, CompressedName(id))
	ip := filepath.Join(dir, IndexName(id))

	src, size, err := openSealed(fsys, qp, id, zp, ip)
	if src == nil || err != nil {
		return err
	}
	defer func() {
		if src != nil {
			src.Close()
		}
	}()

	zt, it := zp+sufTmp, ip+sufTmp
	published := false
	defer func() {
		if !published {
			fsys.Remove(zt)
			fsys.Remove(it)
		}
	}()
	ix, err := writeFrames(fsys, src, zt, size, bs, level)
	if err != nil {
		return err
	}
	if err := writeSynced(fsys, it, ix.Append(nil)); err != nil {
		return err
	}
	if err := fsys.Rename(it, ip); err != nil {
		return err
	}
	if err := fsys.Rename(zt, zp); err != nil {
		return err
	}
	published = true
	if err := fsys.SyncDir(dir); err != nil {
		return err
	}
	// Both compressed files are durable: the .q can go.
	return dropSource(fsys, dir, &src, qp)
}

// openSealed opens the .q at qp of segment id for compressing, refusing
// anything but a sealed segment. It returns a nil file and no error when
// the .q is gone and every one of outputs exists: an earlier run finished,
// removal of the .q included.
func openSealed(fsys vfs.FS, qp string, id uint32, outputs ...string) (vfs.File, int64, error) {
	src, err := fsys.Open(qp)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			done := true
			for _, o := range outputs {
				done = done && exists(fsys, o)
			}
			if done {
				return nil, 0, nil
			}
		}
		return nil, 0, err
	}
	st, err := src.Stat()
	if err == nil {
		err = checkSealedHeader(src, qp, id, st.Size())
	}
	if err != nil {
		src.Close()
		return nil, 0, err
	}
	return src, st.Size(), nil
}

// dropSource removes the .q at qp once what replaces it is durable, closing
// *src first (and setting it to nil for the caller's deferred close).
func dropSource(fsys vfs.FS, dir string, src *vfs.File, qp string) error {
	(*src).Close()
	*src = nil
	if err := fsys.Remove(qp); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}

func exists(fsys vfs.FS, name string) bool {
	_, err := fsys.Stat(name)
	return err == nil
}

// checkSealedHeader refuses to compress anything but a sealed segment.
func checkSealedHeader(f vfs.File, path string, id uint32, size int64) error {
	if size < HeaderSize {
		return &CorruptionError{Path: path, Err: detailf(ErrTruncated, "%d bytes, shorter than the %d-byte segment header", size, HeaderSize)}
	}
	var h [HeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return err
	}
	if probs, _ := headerProblems(nil, h[:], path, id); len(probs) > 0 {
		return probs[0]
	}
	return nil
}

// writeFrames compresses f block by block into a fsynced file tmp and
// returns the index of the frames.
func writeFrames(fsys vfs.FS, f vfs.File, tmp string, size int64, bs, level int) (*Index, error) {
	// One encoder goroutine, so that the output is deterministic and the
	// same for any GOMAXPROCS.
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	dec, err := newDecoder(1)
	if err != nil {
		return nil, err
	}
	defer dec.Close()

	out, err := fsys.Create(tmp)
	if err != nil {
		return nil, err
	}
	ix := &Index{BlockSize: uint32(bs)}
	n := int(min(int64(bs), size))
	block := make([]byte, n)
	frame := make([]byte, 0, enc.MaxEncodedSize(n))
	check := make([]byte, 0, n+zstSlack)
	var uo, co int64
	for uo < size {
		b := block[:min(int64(bs), size-uo)]
		if m, err := f.ReadAt(b, uo); m < len(b) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			out.Close()
			return nil, err
		}
		frame = enc.EncodeAll(b, frame[:0])
		// The .q is removed once this succeeds: make sure the frame gives
		// the block back before trusting it.
		check, err = dec.DecodeAll(frame, check[:0])
		if err != nil || !bytes.Equal(check, b) {
			out.Close()
			return nil, fmt.Errorf("segment: zstd round trip of block %d of %s failed (%v)", len(ix.Entries), tmp, err)
		}
		if err := writeFull(out, frame); err != nil {
			out.Close()
			return nil, err
		}
		ix.Entries = append(ix.Entries, IndexEntry{
			UncompressedOffset: uint64(uo),
			CompressedOffset:   uint64(co),
			CompressedSize:     uint32(len(frame)),
			UncompressedSize:   uint32(len(b)),
		})
		uo += int64(len(b))
		co += int64(len(frame))
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return nil, err
	}
	return ix, out.Close()
}

// writeSynced writes data to a new file name and fsyncs it.
func writeSynced(fsys vfs.FS, name string, data []byte) error {
	f, err := fsys.Create(name)
	if err != nil {
		return err
	}
	if err := writeFull(f, data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// StreamEncoder is a BlockCodec that can also encode block by block: a
// codec that has it compresses with memory of a block, not of the segment
// (CompressSegment checks for it by type assertion).
type StreamEncoder interface {
	// EncodeTo writes to w exactly the bytes Encode(nil, q) returns for the
	// segment file r of size bytes, reading r once in order. Before
	// writing a block it must decode it and compare it with the .q bytes
	// it restores: the .q is removed once the file is published.
	EncodeTo(w io.Writer, r io.ReaderAt, size int64) error
}

// An AppendEncoder is a StreamEncoder that can also encode a segment as
// it is written, before there is a .q to read (WriterOptions.Codec): an
// import with compression then never writes the .q at all.
type AppendEncoder interface {
	BlockCodec
	StreamEncoder
	// NewAppend starts the encoding of one segment, written to w.
	NewAppend(w io.Writer) (SegmentAppend, error)
}

// SegmentAppend is the encoding of one segment, fed its bytes in order.
// The result is exactly what EncodeTo writes for the same .q, except the
// first bytes: the file header, which depends on the .q's size, is
// returned by Finish to be written over what Write put there.
type SegmentAppend interface {
	// Write takes the next bytes of the .q after its 64-byte header. As
	// with EncodeTo, each block is decoded again and compared with the
	// bytes it restores before it is written.
	Write(p []byte) (int, error)
	// Finish encodes the rest and writes the end of the file, given the
	// sealed segment header and the .q's size, and returns the bytes that
	// belong at offset 0.
	Finish(header []byte, size int64) ([]byte, error)
}

// compressStream is compressCodec with a StreamEncoder: it writes segment
// id's .q.col as a .tmp, encoding the .q into it block by block (each block
// checked by the encoder), checks that the written file opens and its
// index covers the whole .q, fsyncs it, renames it into place, fsyncs the
// directory and only then removes the .q: the operations of compressCodec,
// in the same order.
func compressStream(fsys vfs.FS, dir string, id uint32, c BlockCodec, se StreamEncoder) error {
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
	tmp := cp + sufTmp
	out, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	published := false
	defer func() {
		if out != nil {
			out.Close()
		}
		if !published {
			fsys.Remove(tmp)
		}
	}()
	if err := se.EncodeTo(out, src, size); err != nil {
		return fmt.Errorf("segment %s: %s encode: %w", qp, c.Name(), err)
	}
	if err := out.Sync(); err != nil {
		return err
	}
	// The blocks were checked as they were encoded; check that the file
	// opens and its index covers the whole .q.
	st, err := out.Stat()
	if err != nil {
		return err
	}
	if err := checkEncoded(c, out, st.Size(), size, qp); err != nil {
		return err
	}
	f := out
	out = nil
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, cp); err != nil {
		return err
	}
	published = true
	if err := fsys.SyncDir(dir); err != nil {
		return err
	}
	return dropSource(fsys, dir, &src, qp)
}

// checkEncoded checks that the encoded file r opens, and that its blocks
// restore all qLen bytes of the .q at qp.
func checkEncoded(c BlockCodec, r io.ReaderAt, size, qLen int64, qp string) error {
	bf, err := c.Open(r, size)
	if err == nil {
		err = checkBlocks(bf, qp)
	}
	if err == nil && bf.QLen() != qLen {
		err = fmt.Errorf("it restores %d bytes of %d", bf.QLen(), qLen)
	}
	if err != nil {
		return fmt.Errorf("segment: %s round trip of %s failed: %v", c.Name(), qp, err)
	}
	return nil
}
