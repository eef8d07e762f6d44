package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/klauspost/compress/zstd"

	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// compressDir compresses every .q segment in dir (a staging directory)
// with codec (nil: zstd).
func compressDir(ctx context.Context, fsys vfs.FS, dir string, codec segment.BlockCodec) error {
	ids, err := segmentIDs(fsys, dir, segment.KindSegment)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := segment.CompressSegment(dir, id, segment.CompressOptions{FS: fsys, Codec: codec}); err != nil {
			return err
		}
	}
	return nil
}

// CodecName is meta.json's codec for segments compressed with codec.
func CodecName(codec segment.BlockCodec) string {
	if codec == nil {
		return CodecZstd
	}
	return codec.Name()
}

func segmentIDs(fsys vfs.FS, dir string, kind segment.Kind) ([]uint32, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []uint32
	for _, e := range ents {
		if id, k, ok := segment.ParseName(e.Name()); ok && k == kind {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Rewrite changes an existing stream copy-on-write: its files are
// hard-linked into a staging directory, fn edits the staging directory, and
// the result replaces the stream atomically with a fresh manifest.
func Rewrite(ctx context.Context, fsys vfs.FS, streamDir string, fn func(staging string, m *Meta) error) error {
	p, root, ok := PartitionOf(streamDir)
	if !ok {
		return fmt.Errorf("%s is not a stream directory (<root>/v1/<venue>/<symbol>/<date>/<stream>)", streamDir)
	}
	m, err := ReadMeta(fsys, streamDir)
	if err != nil {
		return err
	}
	t, err := begin(fsys, root, p)
	if err != nil {
		return err
	}
	defer t.abort()
	if err := t.linkExisting(); err != nil {
		return err
	}
	// Segment files are immutable and fn never rewrites one under the same
	// name: a linked one keeps its manifest entry. Taking the entry rather
	// than hashing the file again also keeps damage visible to verify.
	known := map[string]FileEntry{}
	for _, f := range m.Files {
		if _, _, ok := segment.ParseName(f.Name); ok {
			known[f.Name] = f
		}
	}
	if err := fn(t.staging, m); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.publishKnown(m, known)
}

// Compress replaces every .q segment of a stream with its compressed
// form: NNNNNNNNN.q.col by the Options' Codec, or without one .q.zst +
// .q.zst.idx. It publishes one segment at a time, each swap freeing that
// segment's .q, so it needs free space for one compressed segment, not for
// the whole stream. Readers see a complete stream at every step (a reader
// takes NNNNNNNNN.q or its compressed form alike); meta.json says
// compressed, and names the codec, once the last segment is. A killed run
// leaves a readable stream, and rerunning it finishes the job with the
// same bytes. A stream compressed (even in part) with the other codec is
// refused: Decompress it first.
func Compress(ctx context.Context, fsys vfs.FS, streamDir string, opts ...Options) error {
	fsys = vfs.OrDefault(fsys)
	codec := codecOf(opts)
	other, name := segment.KindColumnar, CodecName(codec)
	if codec != nil {
		other = segment.KindCompressed
	}
	for done := false; !done; {
		err := Rewrite(ctx, fsys, filepath.Clean(streamDir), func(staging string, m *Meta) error {
			if ids, err := segmentIDs(fsys, staging, other); err != nil || len(ids) > 0 {
				if err == nil {
					err = fmt.Errorf("%s: %d segments are %s already (first %s); decompress the stream before compressing it with %s",
						streamDir, len(ids), other, filepath.Join(streamDir, kindName(other, ids[0])), name)
				}
				return err
			}
			ids, err := segmentIDs(fsys, staging, segment.KindSegment)
			if err != nil {
				return err
			}
			if len(ids) <= 1 {
				m.Compressed, m.Codec, done = true, name, true
			}
			if len(ids) == 0 {
				return nil
			}
			return segment.CompressSegment(staging, ids[0], segment.CompressOptions{FS: fsys, Codec: codec})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Decompress writes every .q.zst or .q.col segment of a stream back as the
// exact .q it was made from (a .q.col needs the Options' Codec), one
// segment at a time as Compress does. meta.json says not compressed from
// the first step on (a stream with .q segments is not), and its manifest
// hashes each .q afresh, so in the end the stream, meta.json included, is
// the one its import wrote without compression. Damage is a
// *segment.CorruptionError naming the compressed file, which stays as it
// was (the segments before it are decompressed: a readable stream, as
// after an interrupted run).
func Decompress(ctx context.Context, fsys vfs.FS, streamDir string, opts ...Options) error {
	fsys = vfs.OrDefault(fsys)
	codec := codecOf(opts)
	for done := false; !done; {
		err := Rewrite(ctx, fsys, filepath.Clean(streamDir), func(staging string, m *Meta) error {
			zst, err := segmentIDs(fsys, staging, segment.KindCompressed)
			if err != nil {
				return err
			}
			col, err := segmentIDs(fsys, staging, segment.KindColumnar)
			if err != nil {
				return err
			}
			m.Compressed, m.Codec = false, ""
			if len(zst)+len(col) <= 1 {
				done = true
			}
			switch {
			case len(zst) > 0 && (len(col) == 0 || zst[0] < col[0]):
				return decompressZstd(fsys, staging, streamDir, zst[0])
			case len(col) > 0:
				return decompressCodec(fsys, staging, streamDir, col[0], codec)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// kindName is the file name of segment id in the form kind.
func kindName(kind segment.Kind, id uint32) string {
	switch kind {
	case segment.KindCompressed:
		return segment.CompressedName(id)
	case segment.KindColumnar:
		return segment.ColumnarName(id)
	}
	return segment.Name(id)
}

// decompressCodec writes dir/NNNNNNNNN.q from its .q.col, block by block,
// and removes the .q.col. The blocks' CRCs (checked by the codec) and
// their contiguity make damage an error, never a different .q. Errors name
// the file in the stream directory shown (dir is its staging copy).
func decompressCodec(fsys vfs.FS, dir, shown string, id uint32, codec segment.BlockCodec) error {
	path := filepath.Join(shown, segment.ColumnarName(id))
	if codec == nil {
		return fmt.Errorf("segment %s: %w", path, segment.ErrNoCodec)
	}
	f, err := fsys.Open(filepath.Join(dir, segment.ColumnarName(id)))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	bf, err := codec.Open(f, st.Size())
	if err != nil {
		return damageAt(err, path)
	}
	var buf []byte
	err = writeQ(fsys, dir, id, func(w io.Writer) error {
		var off int64
		for i, b := range bf.Blocks() {
			if buf, err = bf.DecodeBlock(i, buf[:0]); err != nil {
				return damageAt(err, path)
			}
			if b.QOffset != off || int64(len(buf)) != b.QLen {
				return &segment.CorruptionError{Path: path, Offset: b.CompOffset,
					Err: fmt.Errorf("%w: block %d restores %d bytes at .q offset %d, want %d at %d", segment.ErrBlock, i, len(buf), off, b.QLen, b.QOffset)}
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
			off += b.QLen
		}
		if off != bf.QLen() {
			return &segment.CorruptionError{Path: path, Offset: -1, Err: fmt.Errorf("%w: blocks restore %d bytes of a %d-byte .q", segment.ErrBlock, off, bf.QLen())}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return fsys.Remove(filepath.Join(dir, segment.ColumnarName(id)))
}

// decompressZstd writes dir/NNNNNNNNN.q from its .q.zst, frame by frame as
// its index lists them (each frame checks its content checksum), and
// removes the .q.zst and its index. Errors name the files as
// decompressCodec's do.
func decompressZstd(fsys vfs.FS, dir, shown string, id uint32) error {
	zp, ip := filepath.Join(shown, segment.CompressedName(id)), filepath.Join(shown, segment.IndexName(id))
	zf, ixf := filepath.Join(dir, segment.CompressedName(id)), filepath.Join(dir, segment.IndexName(id))
	b, err := vfs.ReadFile(fsys, ixf)
	if err != nil {
		return err
	}
	ix, err := segment.ParseIndex(b)
	if err != nil {
		return damageAt(err, ip)
	}
	f, err := fsys.Open(zf)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return err
	} else if st.Size() != ix.CompressedSize() {
		return &segment.CorruptionError{Path: zp, Offset: min(st.Size(), ix.CompressedSize()), Err: fmt.Errorf("%w: %d bytes, its index lists %d", segment.ErrIndex, st.Size(), ix.CompressedSize())}
	}
	// As segment's reader does: a damaged frame header cannot make it
	// allocate more than a frame's worth.
	const slack = 4 << 10
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(segment.MaxBlockSize+slack))
	if err != nil {
		return err
	}
	defer dec.Close()
	var comp, out []byte
	err = writeQ(fsys, dir, id, func(w io.Writer) error {
		for _, e := range ix.Entries {
			comp = slices.Grow(comp[:0], int(e.CompressedSize))[:e.CompressedSize]
			if _, err := f.ReadAt(comp, int64(e.CompressedOffset)); err != nil {
				return fmt.Errorf("segment %s: read at %d: %w", zp, e.CompressedOffset, err)
			}
			out = slices.Grow(out[:0], int(e.UncompressedSize)+slack)
			if out, err = dec.DecodeAll(comp, out); err != nil || len(out) != int(e.UncompressedSize) {
				return &segment.CorruptionError{Path: zp, Offset: int64(e.CompressedOffset),
					Err: fmt.Errorf("%w: frame decodes to %d bytes, want %d (%v)", segment.ErrFrame, len(out), e.UncompressedSize, err)}
			}
			if _, err := w.Write(out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := fsys.Remove(zf); err != nil {
		return err
	}
	return fsys.Remove(ixf)
}

// writeQ writes dir/NNNNNNNNN.q with fill and fsyncs it. It is written in a
// staging directory, which the publish fsyncs, and which is dropped with
// a partial .q on error.
func writeQ(fsys vfs.FS, dir string, id uint32, fill func(w io.Writer) error) error {
	f, err := fsys.Create(filepath.Join(dir, segment.Name(id)))
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// damageAt is a codec's or the index parser's report of damage with path
// filled in; other errors are I/O and get the path.
func damageAt(err error, path string) error {
	var ce *segment.CorruptionError
	if !errors.As(err, &ce) {
		return fmt.Errorf("segment %s: %w", path, err)
	}
	c := *ce
	if c.Path == "" {
		c.Path = path
	}
	return &c
}
