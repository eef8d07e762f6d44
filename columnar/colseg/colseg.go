// Package colseg plugs package columnar into package segment as its
// segment.BlockCodec, so that segment reads, verifies and writes
// NNNNNNNNN.q.col files. It is separate because segment must not import
// record-aware packages, and columnar does not import segment.
package colseg

import (
	"errors"
	"fmt"
	"io"

	"github.com/chronicle-archive/chronicle/columnar"
	"github.com/chronicle-archive/chronicle/segment"
)

// Codec is the columnar segment.BlockCodec.
type Codec struct{}

var _ segment.BlockCodec = Codec{}

func (Codec) Name() string { return "columnar" }
func (Codec) Ext() string  { return ".q.col" }

func (Codec) Encode(dst, q []byte) ([]byte, error) { return columnar.Encode(dst, q) }

var _ segment.StreamEncoder = Codec{}

// EncodeTo is Encode block by block (segment.StreamEncoder), each block
// decoded again and compared before it is written.
func (Codec) EncodeTo(w io.Writer, r io.ReaderAt, size int64) error {
	return columnar.EncodeTo(w, r, size, true)
}

var _ segment.AppendEncoder = Codec{}

// NewAppend is columnar.NewAppender (segment.AppendEncoder): the segment
// writer of an import with --compress hands it the .q bytes it would have
// written.
func (Codec) NewAppend(w io.Writer) (segment.SegmentAppend, error) {
	return columnar.NewAppender(w)
}

// Open opens the columnar file. Its blocks start at .q offset 64 (the
// segment header is stored in the file header), so the BlockFile gets a
// block 0 of its own for the header: segment wants blocks covering the
// whole .q, and a reader checking the header then decodes nothing.
func (Codec) Open(r io.ReaderAt, size int64) (segment.BlockFile, error) {
	f, err := columnar.Open(r, size)
	if err != nil {
		return nil, damage(err)
	}
	cb := f.Blocks()
	blocks := make([]segment.BlockInfo, 1, 1+len(cb))
	blocks[0] = segment.BlockInfo{QLen: columnar.SegHeaderSize,
		CompOffset: columnar.HeaderSize - columnar.SegHeaderSize, CompLen: columnar.SegHeaderSize}
	for _, b := range cb {
		blocks = append(blocks, segment.BlockInfo{
			QOffset: b.QOffset, QLen: int64(b.QLen), CompOffset: b.CompOffset, CompLen: int64(b.CompLen),
			FirstSeq: b.FirstSeq, FirstTS: b.FirstTS, LastTS: b.LastTS,
		})
	}
	return &file{f: f, blocks: blocks}, nil
}

type file struct {
	f      *columnar.File
	blocks []segment.BlockInfo
}

func (f *file) Blocks() []segment.BlockInfo { return f.blocks }
func (f *file) QLen() int64                 { return f.f.QLen() }

func (f *file) DecodeBlock(i int, dst []byte) ([]byte, error) {
	if i == 0 {
		return append(dst, f.f.SegmentHeader()...), nil
	}
	b, err := f.f.DecodeBlock(i-1, dst)
	if err != nil {
		return b, damage(err)
	}
	return b, nil
}

var _ segment.RecordBlockFile = (*file)(nil)

// NewRecordDecoder gives a goroutine its own columnar.Decoder (old's, if
// it is one of ours): blocks of one file then decode on several at once.
func (f *file) NewRecordDecoder(old segment.RecordDecoder) segment.RecordDecoder {
	if o, ok := old.(*recordDecoder); ok {
		return &recordDecoder{f: f, d: o.d}
	}
	return &recordDecoder{f: f, d: new(columnar.Decoder)}
}

type recordDecoder struct {
	f *file
	d *columnar.Decoder
}

// DecodeRecords is columnar.File.DecodeRecords (CRC-free records); block
// 0, the segment header, is exact.
func (r *recordDecoder) DecodeRecords(i int, dst []byte) ([]byte, bool, error) {
	if i == 0 {
		return append(dst, r.f.f.SegmentHeader()...), false, nil
	}
	b, free, err := r.f.f.DecodeRecords(r.d, i-1, dst)
	if err != nil {
		return b, false, damage(err)
	}
	return b, free, nil
}

// damage turns columnar's report of damage into segment's, at the same
// offset of the compressed file; other errors are I/O and pass through.
func damage(err error) error {
	var ce *columnar.CorruptError
	if !errors.As(err, &ce) {
		return err
	}
	return &segment.CorruptionError{Offset: ce.Offset, Err: fmt.Errorf("%w: %w", segment.ErrBlock, err)}
}
