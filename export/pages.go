package export

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync/atomic"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// The writer builds the column chunks itself, for this package's exports
// and package snapshots' book snapshots (issue 11: handing parquet-go a
// parquet.Value per cell took several times the CSV export's time, mostly
// building the values and zstd at its default level over 16 bytes of
// PLAIN decimal each). WriteRow only converts a row's cells into a
// column-major batch (where a refusal must be reported; 1 MiB, so that
// it stays in cache: a deep book snapshot's hundred columns are a hundred
// places a row); worker goroutines, each owning a fixed share of the
// columns, turn batches into pages:
//
//   - decimals and strings as RLE_DICTIONARY: a dictionary per column
//     chunk, indices bit-packed at a whole number of bytes (zstd then
//     finds a value that comes back; one bit for two values), one RLE
//     run when a page has a single value, PLAIN decimals and
//     DELTA_BYTE_ARRAY strings once the dictionary would pass
//     maxDictEntries values or maxDictBytes bytes (unique trade ids);
//   - timestamps DELTA_BINARY_PACKED, booleans PLAIN (bit-packed);
//   - NULLs as definition levels in RLE runs;
//   - zstd at its fastest level.
//
// Memory is bounded: a fixed pool of batches of at most about batchBytes,
// pages of at most about maxPageRows rows (fewer in a file of many
// columns, see pageIdxBytes), bounded dictionaries, and at most
// maxGroupsInFlight finished row groups waiting for the output. Schema
// and footer fields (created_by, column orders, Options.Metadata) come
// from parquet-go itself, from an empty file with the same schema; pages
// are DataPageV2 with statistics and CRCs, chunks have statistics and the
// page index.

const (
	// batchRows bounds a batch's rows, batchBytes (about) its values.
	batchRows         = 8192
	batchBytes        = 1 << 20
	maxGroupsInFlight = 2
	maxDictBytes      = 1 << 20
	// pageIdxBytes bounds the dictionary indices all the columns hold for
	// their pages in the making: a file of thousands of columns (a deep
	// book snapshot) gets shorter pages.
	pageIdxBytes = 32 << 20
	// dictProbe values of a chunk show whether a dictionary pays (see
	// mostlyUnique).
	dictProbe = 4096
)

// Variables so that tests can make many pages and PLAIN pages.
var (
	maxPageRows    = 16384
	maxDictEntries = 1 << 16
)

// ParquetWriter streams rows into a zstd-compressed Parquet file, in row
// groups of at most Options.RowGroupRows rows. No allocation per row in
// steady state. Not safe for concurrent use.
type ParquetWriter struct {
	out  *bufio.Writer
	cols []Column
	tmpl format.FileMetaData

	batchCap     int
	rowGroupRows int // Options.RowGroupRows
	pageRows     int // a data page ends at the first batch end at or past it
	dictValues   int // Options.DictValues
	stripe       int // Options.Stripe
	cur          *batch
	g            *group
	free         chan *batch
	workers      []chan *batch
	owner        []int // column -> worker
	started      bool
	pending      []*group
	rows         int64  // rows written so far
	scratch      []Cell // WriteRun's row

	offset    int64
	rowGroups []format.RowGroup
	colIdx    [][]format.ColumnIndex
	offIdx    [][]format.OffsetIndex
	closed    bool
	err       error
}

// colBuf is one column of a batch; which slices are used depends on the
// kind. Index r is row r of the batch.
type colBuf struct {
	// fast: a Decimal column whose batch has no wide value, where row
	// stores a present value at the column's scale as lo[r] alone.
	fast  bool
	scale uint8 // Decimal: the column's
	// nulls are the batch's NULL rows in order (nullable columns): a
	// present value, nearly every one, costs no store, and the workers
	// find the runs of definition levels without reading a flag a row.
	nulls []uint16
	// Decimal: 128-bit two's complement, the low 64 bits in lo and the
	// high ones in hi only once a value of the batch needs them (wide: a
	// negative value, or one of 2^64 or more at the column's scale); until
	// then every hi is 0 and neither stored nor read, which halves the
	// bytes the caller's goroutine writes and a worker reads back for
	// the common value.
	lo   []uint64
	hi   []uint64 // allocated on the batch's first wide value
	wide bool
	i64  []int64  // Timestamp: µs
	flag []bool   // Bool
	end  []uint32 // String: row r is b[end[r-1]:end[r]]
	rep  []bool   // String: row r is row r-1's value (present), not copied again
	b    []byte   // String bytes
}

type batch struct {
	n    int
	cols []colBuf
	last bool // ends its row group
	g    *group
	refs atomic.Int32
}

type group struct {
	rows   int64
	chunks []*chunk
	left   atomic.Int32
	done   chan struct{}
}

// chunk is a finished column chunk: its bytes and what the footer needs.
type chunk struct {
	dict, data       []byte
	buf              []byte        // the buffer holding both, sent back on spare once written
	spare            chan<- []byte // the colEnc's
	dictUncompressed int64
	dataUncompressed int64
	numValues        int64
	pages            []format.PageLocation
	index            format.ColumnIndex
	stats            format.Statistics
	defHist          []int64
	encodings        []format.Encoding
	dictPages        int32
	plainPages       int32
	deltaPages       int32
	deltaEnc         format.Encoding // of the delta pages: by the column's kind
	err              error
}

func newWriter(w io.Writer, cols []Column, schema *parquet.Schema, o Options) (*ParquetWriter, error) {
	// At most 1<<16 values: a page's indices are uint16.
	p := &ParquetWriter{out: bufio.NewWriterSize(w, 1<<20), cols: cols, rowGroupRows: rowGroupRows, dictValues: min(maxDictEntries, 1<<16), stripe: max(1, o.Stripe)}
	if o.RowGroupRows > 0 {
		p.rowGroupRows = o.RowGroupRows
	}
	if o.DictValues > 0 {
		p.dictValues = min(o.DictValues, p.dictValues)
	}
	if err := p.template(schema, o.Metadata); err != nil {
		return nil, err
	}
	p.pageRows = maxPageRows
	if o.PageRows > 0 {
		p.pageRows = min(o.PageRows, maxPageRows)
	}
	// A page ends at a batch end: short pages want short batches. (18
	// bytes a cell was a decimal's 16 and its NULL flag; a narrow decimal
	// now takes 8, but the same rows keep the pages where they were, and
	// neither twice nor half the rows used less CPU.)
	p.batchCap = max(64, min(batchRows, batchBytes/(18*len(cols)), p.rowGroupRows, p.pageRows))
	p.pageRows = max(p.batchCap, min(p.pageRows, pageIdxBytes/(4*len(cols))))
	return p, nil
}

// template writes an empty file with parquet-go and keeps its footer.
func (p *ParquetWriter) template(schema *parquet.Schema, kv [][2]string) error {
	var buf bytes.Buffer
	opts := []parquet.WriterOption{schema, parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest})}
	for _, m := range kv {
		opts = append(opts, parquet.KeyValueMetadata(m[0], m[1]))
	}
	w := parquet.NewGenericWriter[any](&buf, opts...)
	if err := w.Close(); err != nil {
		return fmt.Errorf("export: parquet schema: %w", err)
	}
	b := buf.Bytes()
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[len(b)-8-n:len(b)-8], &p.tmpl); err != nil {
		return fmt.Errorf("export: parquet schema: %w", err)
	}
	if len(p.tmpl.Schema) != 1+len(p.cols) {
		return fmt.Errorf("export: parquet schema has %d leaves for %d columns", len(p.tmpl.Schema)-1, len(p.cols))
	}
	return nil
}

func (p *ParquetWriter) newBatch() *batch {
	c := p.batchCap
	b := &batch{cols: make([]colBuf, len(p.cols))}
	for j, col := range p.cols {
		cb := &b.cols[j]
		if col.Nullable {
			cb.nulls = make([]uint16, 0, c)
		}
		switch col.Kind {
		case Timestamp:
			cb.i64 = make([]int64, c)
		case Decimal:
			cb.lo, cb.scale = make([]uint64, c), col.Scale
		case Bool:
			cb.flag = make([]bool, c)
		case String:
			cb.end = make([]uint32, c)
			cb.rep = make([]bool, c)
		}
	}
	return b
}

// WriteRow writes one row: cells[i] is the value of column i.
func (p *ParquetWriter) WriteRow(cells []Cell) error {
	if p.err != nil {
		return p.err
	}
	if len(cells) != len(p.cols) {
		return fmt.Errorf("%w: row %d has %d cells for %d columns", ErrValue, p.rows+1, len(cells), len(p.cols))
	}
	return p.row(cells)
}

// row writes one row of len(p.cols) cells.
func (p *ParquetWriter) row(cells []Cell) error {
	if p.cur == nil {
		p.cur = p.takeBatch()
		if p.g == nil {
			p.g = p.newGroup()
		}
	}
	b := p.cur
	r := b.n
	for i := range cells {
		c, cb := &cells[i], &b.cols[i]
		if cb.fast && !c.Null && !c.Neg && c.Scale == cb.scale {
			// put's common case, without the call (a deep book snapshot
			// is a hundred of these a row).
			cb.lo[r] = c.Mag
			continue
		}
		if err := p.put(cb, i, r, c); err != nil {
			// The row does not count; undo the strings and NULLs it
			// appended.
			for j := range i {
				cb := &b.cols[j]
				if cb.end != nil {
					cb.b = cb.b[:start(cb, r)]
				}
				if isNull(cb, r) {
					cb.nulls = cb.nulls[:len(cb.nulls)-1]
				}
			}
			return fmt.Errorf("%w: row %d, column %q: %v", ErrValue, p.rows+1, p.cols[i].Name, err)
		}
	}
	p.added(1)
	return p.err
}

// added counts n rows just stored in the current batch and hands the
// batch over when it or its row group is full.
func (p *ParquetWriter) added(n int) {
	b := p.cur
	b.n += n
	p.rows += int64(n)
	p.g.rows += int64(n)
	if p.g.rows == int64(p.rowGroupRows) {
		b.last = true
	}
	if b.n == p.batchCap || b.last {
		p.submit()
	}
}

// WriteRun writes n = len(mags)/len(vary) rows that differ only in the
// magnitudes of the Decimal columns vary: row r is cells, with
// cells[vary[k]].Mag = mags[r*len(vary)+k]. That is a book event's levels
// (the cells of one side, the prices and amounts varying); each row after
// a batch's first is copied column by column, a fraction of WriteRow's
// cost. A value that cannot be stored refuses the whole run: nothing of
// it is written.
func (p *ParquetWriter) WriteRun(cells []Cell, vary []int, mags []uint64) error {
	if p.err != nil {
		return p.err
	}
	if len(cells) != len(p.cols) {
		return fmt.Errorf("%w: row %d has %d cells for %d columns", ErrValue, p.rows+1, len(cells), len(p.cols))
	}
	if len(vary) == 0 || len(mags)%len(vary) != 0 {
		return fmt.Errorf("%w: a run of %d magnitudes for %d columns", ErrValue, len(mags), len(vary))
	}
	nv := len(vary)
	n := len(mags) / nv
	if n == 0 {
		return nil
	}
	for k, j := range vary {
		if j < 0 || j >= len(cells) || p.cols[j].Kind != Decimal || cells[j].Null {
			return fmt.Errorf("%w: a run varies column %d, not a Decimal or NULL", ErrValue, j)
		}
		// Only a value at more decimals than its column can be refused:
		// check them all first (the first row checks the other cells).
		if c := &cells[j]; c.Scale > p.cols[j].Scale {
			for r := 1; r < n; r++ {
				v := *c
				v.Mag = mags[r*nv+k]
				if _, err := toDecimal(&v, p.cols[j].Scale); err != nil {
					return fmt.Errorf("%w: row %d, column %q: %v", ErrValue, p.rows+int64(r)+1, p.cols[j].Name, err)
				}
			}
		}
	}
	p.scratch = append(p.scratch[:0], cells...)
	for r := 0; r < n; {
		// A batch's first row goes through row (that checks the cells and
		// gives the copies a row to copy); the next ones are copies.
		for k, j := range vary {
			p.scratch[j].Mag = mags[r*nv+k]
		}
		if err := p.row(p.scratch); err != nil {
			return err
		}
		r++
		b := p.cur
		if b == nil || r == n {
			continue
		}
		m := min(n-r, p.batchCap-b.n, p.rowGroupRows-int(p.g.rows))
		p.copyRows(b, m, vary, mags[r*nv:(r+m)*nv])
		r += m
		p.added(m)
	}
	return p.err
}

// copyRows stores m copies of the batch's last row after it, the columns
// vary taking the magnitudes mags instead (m rows of len(vary) values, at
// their cells' Scale and sign, already checked). The result is what row
// would have stored for the same cells.
func (p *ParquetWriter) copyRows(b *batch, m int, vary []int, mags []uint64) {
	src, lo, hi := b.n-1, b.n, b.n+m
	for j := range b.cols {
		cb := &b.cols[j]
		null := isNull(cb, src)
		if null {
			for r := lo; r < hi; r++ {
				cb.nulls = append(cb.nulls, uint16(r))
			}
		}
		switch p.cols[j].Kind {
		case String:
			fill(cb.end[lo:hi], cb.end[src])
			fill(cb.rep[lo:hi], !null)
		case Timestamp:
			fill(cb.i64[lo:hi], cb.i64[src])
		case Bool:
			fill(cb.flag[lo:hi], cb.flag[src])
		case Decimal:
			fill(cb.lo[lo:hi], cb.lo[src])
			if cb.wide {
				fill(cb.hi[lo:hi], cb.hi[src])
			}
		}
	}
	for k, j := range vary {
		cb, c, to := &b.cols[j], &p.scratch[j], p.cols[j].Scale
		if c.Scale == to && !c.Neg {
			dst := cb.lo[lo:hi]
			for r := range dst {
				dst[r] = mags[r*len(vary)+k]
			}
			if cb.wide {
				clear(cb.hi[lo:hi])
			}
			continue
		}
		v := *c
		for r := lo; r < hi; r++ {
			v.Mag = mags[(r-lo)*len(vary)+k]
			d, _ := toDecimal(&v, to) // checked by WriteRun
			cb.setDec(r, d)
		}
	}
}

// isNull tells whether row r, the batch's last (or the one being
// stored), is NULL.
func isNull(cb *colBuf, r int) bool {
	n := len(cb.nulls)
	return n > 0 && int(cb.nulls[n-1]) == r
}

// setDec stores v as row r of a Decimal column.
func (cb *colBuf) setDec(r int, v [2]uint64) {
	cb.lo[r] = v[1]
	if v[0] != 0 && !cb.wide {
		// The batch's first wide value: the rows before it are not.
		if cb.hi == nil {
			cb.hi = make([]uint64, len(cb.lo))
		}
		clear(cb.hi[:r])
		cb.wide, cb.fast = true, false
	}
	if cb.wide {
		cb.hi[r] = v[0]
	}
}

func fill[T any](s []T, v T) {
	for i := range s {
		s[i] = v
	}
}

func start(cb *colBuf, r int) uint32 {
	if r == 0 {
		return 0
	}
	return cb.end[r-1]
}

// put stores cell c as row r of column i.
func (p *ParquetWriter) put(cb *colBuf, i, r int, c *Cell) error {
	col := &p.cols[i]
	if c.Null {
		if !col.Nullable {
			return errors.New("null in a column that is not nullable")
		}
		cb.nulls = append(cb.nulls, uint16(r))
		if cb.end != nil {
			cb.end[r], cb.rep[r] = start(cb, r), false
		}
		return nil
	}
	switch col.Kind {
	case String:
		// Exchange, symbol and side mostly repeat: a comparison here saves
		// the copy, and the worker's comparison. (The last bytes first:
		// unique ids counting up differ there, and bytes.Equal is a call.)
		if r > 0 && !isNull(cb, r-1) && sameBytes(c.B, cb.b[start(cb, r-1):cb.end[r-1]]) {
			cb.end[r], cb.rep[r] = cb.end[r-1], true
			break
		}
		cb.rep[r] = false
		if len(cb.b)+len(c.B) > 1<<32-1 {
			return errors.New("string too long") // not reachable with bounded batches
		}
		cb.b = append(cb.b, c.B...)
		cb.end[r] = uint32(len(cb.b))
	case Timestamp:
		if c.Mag%1000 != 0 {
			return fmt.Errorf("timestamp %d ns is not a whole µs", c.Mag)
		}
		cb.i64[r] = int64(c.Mag / 1000)
	case Decimal:
		if c.Scale == col.Scale && !c.Neg {
			cb.setDec(r, [2]uint64{0, c.Mag}) // the common case, without a call
			break
		}
		v, err := toDecimal(c, col.Scale)
		if err != nil {
			return err
		}
		cb.setDec(r, v)
	case Bool:
		cb.flag[r] = c.Bool
	}
	return nil
}

func sameBytes(a, b []byte) bool {
	n := len(a)
	return n == len(b) && (n == 0 || a[n-1] == b[n-1] && bytes.Equal(a, b))
}

func (p *ParquetWriter) newGroup() *group {
	return &group{chunks: make([]*chunk, len(p.cols)), done: make(chan struct{})}
}

func (p *ParquetWriter) takeBatch() *batch {
	var b *batch
	if !p.started {
		b = p.newBatch()
	} else {
		b = <-p.free
	}
	b.n, b.last, b.g = 0, false, nil
	for j := range b.cols {
		cb := &b.cols[j]
		cb.b, cb.nulls, cb.wide, cb.fast = cb.b[:0], cb.nulls[:0], false, cb.lo != nil
	}
	return b
}

// cost estimates a column's encoding work, to share columns out.
func cost(c Column) int {
	switch c.Kind {
	case Decimal, String:
		return 3
	}
	return 1
}

// start launches the workers and shares the columns out among them, a
// stripe of Options.Stripe columns at a time, each to the least loaded
// so far.
func (p *ParquetWriter) start() {
	p.started = true
	nw := min(max(runtime.GOMAXPROCS(0), 1), 4, len(p.cols))
	pool := nw + 2
	p.free = make(chan *batch, pool)
	for range pool - 1 { // the one being filled is the last
		p.free <- p.newBatch()
	}
	load := make([]int, nw)
	p.owner = make([]int, len(p.cols))
	for j0 := 0; j0 < len(p.cols); j0 += p.stripe {
		w := 0
		for k := range load {
			if load[k] < load[w] {
				w = k
			}
		}
		for j := j0; j < min(j0+p.stripe, len(p.cols)); j++ {
			p.owner[j] = w
			load[w] += cost(p.cols[j])
		}
	}
	for w := range nw {
		in := make(chan *batch, pool)
		p.workers = append(p.workers, in)
		z := newZstd()
		var cols []*colEnc
		for j := range p.cols {
			if p.owner[j] == w {
				cols = append(cols, newColEnc(p, j, z))
			}
		}
		go p.work(in, cols)
	}
}

// newZstd returns an encoder with the settings of parquet-go's zstd codec
// but the fastest level. Each worker keeps its own: a new encoder costs
// far more than compressing a page.
func newZstd() *kzstd.Encoder {
	e, err := kzstd.NewWriter(nil, kzstd.WithEncoderConcurrency(1), kzstd.WithEncoderLevel(kzstd.SpeedFastest),
		kzstd.WithZeroFrames(true), kzstd.WithEncoderCRC(false))
	if err != nil {
		panic(err) // only for invalid options
	}
	return e
}

func (p *ParquetWriter) work(in <-chan *batch, cols []*colEnc) {
	for b := range in {
		g := b.g
		for _, c := range cols {
			c.add(b)
			if c.pageRows >= p.pageRows {
				c.flush()
			}
		}
		if b.last {
			for _, c := range cols {
				g.chunks[c.col] = c.finish()
			}
			if g.left.Add(-1) == 0 {
				close(g.done)
			}
		}
		if b.refs.Add(-1) == 0 {
			p.free <- b
		}
	}
}

// submit hands the current batch to the workers and writes the row
// groups they have finished.
func (p *ParquetWriter) submit() {
	if !p.started {
		p.start()
	}
	b := p.cur
	b.g = p.g
	b.refs.Store(int32(len(p.workers)))
	if b.last {
		p.g.left.Store(int32(len(p.workers)))
	}
	for _, in := range p.workers {
		in <- b
	}
	p.cur = nil
	if b.last {
		p.pending = append(p.pending, p.g)
		p.g = nil
	}
	for len(p.pending) > 0 && p.err == nil {
		g := p.pending[0]
		if len(p.pending) <= maxGroupsInFlight {
			select {
			case <-g.done:
			default:
				return
			}
		}
		<-g.done
		p.pending = p.pending[1:]
		p.err = p.writeGroup(g)
	}
}

// Close writes the buffered rows and the footer. It does not close the
// underlying writer.
func (p *ParquetWriter) Close() error {
	if p.err != nil {
		p.abort()
		return p.err
	}
	if p.g != nil && p.g.rows > 0 {
		if p.cur == nil {
			p.cur = p.takeBatch()
		}
		p.cur.last = true
		p.submit()
	}
	for _, g := range p.pending {
		if p.err != nil {
			break
		}
		<-g.done
		p.err = p.writeGroup(g)
	}
	p.pending = nil
	p.abort()
	if p.err == nil {
		p.err = p.writeFooter()
	}
	if p.err == nil {
		p.err = p.out.Flush()
	}
	if p.err != nil {
		return p.err
	}
	p.err = errors.New("export: writer closed")
	return nil
}

// Abort gives the file up: it stops the workers (they finish the batches
// they have) and writes nothing more. After Close it does nothing; after
// Abort, Close returns an error.
func (p *ParquetWriter) Abort() {
	if p.err == nil {
		p.err = errors.New("export: writer aborted")
	}
	p.abort()
}

// abort stops the workers (they finish the batches they have).
func (p *ParquetWriter) abort() {
	if !p.closed {
		p.closed = true
		for _, in := range p.workers {
			close(in)
		}
	}
}

func (p *ParquetWriter) emit(b []byte) error {
	_, err := p.out.Write(b)
	p.offset += int64(len(b))
	if err != nil {
		return fmt.Errorf("export: parquet output at byte %d: %w", p.offset-int64(len(b)), err)
	}
	return nil
}

func (p *ParquetWriter) writeGroup(g *group) error {
	if p.offset == 0 {
		if err := p.emit([]byte("PAR1")); err != nil {
			return err
		}
	}
	if g.rows == 0 {
		return nil
	}
	rg := format.RowGroup{NumRows: g.rows, FileOffset: p.offset, Ordinal: int16(len(p.rowGroups))}
	ci := make([]format.ColumnIndex, len(p.cols))
	oi := make([]format.OffsetIndex, len(p.cols))
	for j, c := range g.chunks {
		if c.err != nil {
			return c.err
		}
		t, _ := p.tmpl.Schema[1+j].Type.Get()
		md := format.ColumnMetaData{
			Type:                  t,
			Encoding:              c.encodings,
			PathInSchema:          []string{p.tmpl.Schema[1+j].Name},
			Codec:                 format.Zstd,
			NumValues:             c.numValues,
			TotalUncompressedSize: c.dictUncompressed + c.dataUncompressed,
			TotalCompressedSize:   int64(len(c.dict) + len(c.data)),
			Statistics:            c.stats,
			SizeStatistics:        format.SizeStatistics{DefinitionLevelHistogram: c.defHist},
		}
		if c.dict != nil {
			md.DictionaryPageOffset = p.offset
			md.EncodingStats = append(md.EncodingStats, format.PageEncodingStats{PageType: format.DictionaryPage, Encoding: format.Plain, Count: 1})
			if err := p.emit(c.dict); err != nil {
				return err
			}
		}
		md.DataPageOffset = p.offset
		if c.plainPages > 0 {
			md.EncodingStats = append(md.EncodingStats, format.PageEncodingStats{PageType: format.DataPageV2, Encoding: format.Plain, Count: c.plainPages})
		}
		if c.deltaPages > 0 {
			md.EncodingStats = append(md.EncodingStats, format.PageEncodingStats{PageType: format.DataPageV2, Encoding: c.deltaEnc, Count: c.deltaPages})
		}
		if c.dictPages > 0 {
			md.EncodingStats = append(md.EncodingStats, format.PageEncodingStats{PageType: format.DataPageV2, Encoding: format.RLEDictionary, Count: c.dictPages})
		}
		for k := range c.pages {
			c.pages[k].Offset += p.offset
		}
		if err := p.emit(c.data); err != nil {
			return err
		}
		select {
		case c.spare <- c.buf:
		default:
		}
		rg.Columns = append(rg.Columns, format.ColumnChunk{MetaData: md})
		rg.TotalByteSize += md.TotalUncompressedSize
		rg.TotalCompressedSize += md.TotalCompressedSize
		ci[j] = c.index
		oi[j] = format.OffsetIndex{PageLocations: c.pages}
	}
	p.rowGroups = append(p.rowGroups, rg)
	p.colIdx = append(p.colIdx, ci)
	p.offIdx = append(p.offIdx, oi)
	return nil
}

func (p *ParquetWriter) writeFooter() error {
	if p.offset == 0 {
		if err := p.emit([]byte("PAR1")); err != nil {
			return err
		}
	}
	proto := new(thrift.CompactProtocol)
	for i := range p.rowGroups {
		for j := range p.colIdx[i] {
			b, err := thrift.Marshal(proto, &p.colIdx[i][j])
			if err != nil {
				return err
			}
			c := &p.rowGroups[i].Columns[j]
			c.ColumnIndexOffset, c.ColumnIndexLength = p.offset, int32(len(b))
			if err := p.emit(b); err != nil {
				return err
			}
		}
	}
	for i := range p.rowGroups {
		for j := range p.offIdx[i] {
			b, err := thrift.Marshal(proto, &p.offIdx[i][j])
			if err != nil {
				return err
			}
			c := &p.rowGroups[i].Columns[j]
			c.OffsetIndexOffset, c.OffsetIndexLength = p.offset, int32(len(b))
			if err := p.emit(b); err != nil {
				return err
			}
		}
	}
	md := p.tmpl
	md.RowGroups = p.rowGroups
	md.NumRows = 0
	for _, rg := range p.rowGroups {
		md.NumRows += rg.NumRows
	}
	b, err := thrift.Marshal(proto, &md)
	if err != nil {
		return err
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(b)))
	return p.emit(append(b, "PAR1"...))
}

// colEnc builds one column's chunk of the current row group. It belongs
// to one worker.
type colEnc struct {
	p    *ParquetWriter
	z    *kzstd.Encoder // the worker's
	col  int
	kind Kind
	opt  bool // nullable

	// Dictionary (Decimal, String): keys in insertion order, an
	// open-addressing table (String: of key index + 1; Decimal: see
	// slotKey).
	dkeys [][2]uint64 // Decimal
	dtab  []uint64    // Decimal's table (see slotKey)
	skeys []byte      // String: key k is skeys[send[k-1]:send[k]]
	send  []uint32
	table []uint32 // String's table
	seed  maphash.Seed
	plain bool // the dictionary is full: PLAIN (decimals) or DELTA_BYTE_ARRAY (strings) pages for the rest of the chunk

	data       []byte
	spare      chan []byte // data buffers writeGroup has written, for reuse
	pages      []format.PageLocation
	index      format.ColumnIndex
	rows       int64
	nulls      int64
	present    int64
	cmin, cmax []byte // the chunk's bounds, encoded as statistics
	dataRaw    int64
	dictPages  int32
	plainPages int32
	deltaPages int32
	err        error

	// The page being built.
	pageRows   int
	has        bool
	dmin, dmax [2]uint64 // Decimal bounds; Timestamp in [1]
	bmin, bmax bool      // Bool bounds
	smin, smax []byte    // String bounds
	lastIdx    uint32
	lastD      [2]uint64
	same       bool     // every index of the page is lastIdx
	idx        []uint16 // dictionary indices of the page's present values (a dictionary has at most 1<<16 values)
	nplain     int      // String: values in a DELTA_BYTE_ARRAY page
	pre, suf   []int64  // its prefix and suffix lengths
	sb         []byte   // its suffixes
	prev       []byte   // its last value
	dvals      int      // values of the chunk in dictionary pages
	raw        []byte   // PLAIN values; then the page
	bools      []bool
	ts         []int64 // Timestamp: the page's present values
	defs       []byte  // definition levels before the open run
	run        int
	cur        bool
	levels     []byte // the page's definition levels, encoded
	zbuf       []byte
	dense      []bool // see denseNulls
}

func newColEnc(p *ParquetWriter, j int, z *kzstd.Encoder) *colEnc {
	c := &colEnc{p: p, z: z, col: j, kind: p.cols[j].Kind, opt: p.cols[j].Nullable, seed: maphash.MakeSeed(),
		spare: make(chan []byte, maxGroupsInFlight+2)}
	// A page's buffers at their full size at once, not grown by append
	// (a few times their size in garbage a column).
	rows := p.pageRows + p.batchCap
	switch c.kind {
	case Decimal, String:
		c.idx = make([]uint16, 0, rows)
		c.raw = make([]byte, 0, 2*rows+16)
		c.zbuf = make([]byte, 0, 2*rows+64)
	case Timestamp:
		c.ts = make([]int64, 0, rows)
	}
	c.reset()
	return c
}

func (c *colEnc) reset() {
	c.dkeys, c.skeys, c.send = c.dkeys[:0], c.skeys[:0], c.send[:0]
	switch {
	case c.kind == String && len(c.table) == 0:
		c.table = make([]uint32, 1024)
	case c.kind == String:
		clear(c.table)
	case c.kind == Decimal && len(c.dtab) == 0:
		c.dtab = make([]uint64, 1024)
	case c.kind == Decimal:
		clear(c.dtab)
	}
	// A buffer writeGroup is done with, else a new one: the next chunk
	// is about as large as this one (no doubling garbage).
	select {
	case b := <-c.spare:
		c.data = b[:0]
	default:
		c.data = make([]byte, 0, len(c.data)+len(c.data)/8)
	}
	c.pages = nil
	c.index = format.ColumnIndex{}
	c.rows, c.nulls, c.present, c.dataRaw = 0, 0, 0, 0
	c.cmin, c.cmax = nil, nil
	c.err = nil
	c.plain, c.dictPages, c.plainPages, c.deltaPages, c.dvals = c.kind == Timestamp, 0, 0, 0, 0
	c.resetPage()
}

func (c *colEnc) resetPage() {
	c.pageRows, c.has, c.run, c.same, c.nplain = 0, false, 0, true, 0
	c.idx, c.raw, c.defs, c.bools, c.ts = c.idx[:0], c.raw[:0], c.defs[:0], c.bools[:0], c.ts[:0]
	c.pre, c.suf, c.sb, c.prev = c.pre[:0], c.suf[:0], c.sb[:0], c.prev[:0]
	c.smin, c.smax = c.smin[:0], c.smax[:0]
}

// add appends the batch's rows of the column to the page being built.
func (c *colEnc) add(b *batch) {
	n := b.n
	if n == 0 {
		return
	}
	cb := &b.cols[c.col]
	// Before the batch's definition levels, which go with its values.
	if !c.plain && c.kind != Bool && c.dictFull(cb, n) {
		c.flush()
		c.plain = true
	}
	if c.opt {
		// Runs of present rows between the NULL ones.
		next := 0
		for _, r := range cb.nulls {
			c.addLevels(true, int(r)-next)
			c.addLevels(false, 1)
			next = int(r) + 1
		}
		c.addLevels(true, n-next)
	}
	switch c.kind {
	case Timestamp, Decimal:
		c.addNumbers(cb, n)
	case Bool:
		null := c.denseNulls(cb, n)
		for r, v := range cb.flag[:n] {
			if null != nil && null[r] {
				continue
			}
			c.bools = append(c.bools, v)
			if !c.has {
				c.bmin, c.bmax, c.has = v, v, true
			} else {
				c.bmin, c.bmax = c.bmin && v, c.bmax || v
			}
		}
	case String:
		c.addStrings(cb, n)
	}
	c.pageRows += n
}

// addLevels adds k definition levels, all present or all NULL, to the
// page's RLE runs.
func (c *colEnc) addLevels(present bool, k int) {
	if k == 0 {
		return
	}
	if c.run == 0 {
		c.cur = present
	} else if present != c.cur {
		c.defs = appendRun(c.defs, c.run, c.cur)
		c.run, c.cur = 0, present
	}
	c.run += k
}

// denseNulls returns a NULL flag for each of the batch's n rows, nil in a
// column that is not nullable: for the kinds other than narrow decimals.
func (c *colEnc) denseNulls(cb *colBuf, n int) []bool {
	if !c.opt {
		return nil
	}
	if cap(c.dense) < n {
		c.dense = make([]bool, c.p.batchCap)
	}
	d := c.dense[:n]
	clear(d)
	for _, r := range cb.nulls {
		d[r] = true
	}
	return d
}

// addNumbers adds decimals or timestamps.
func (c *colEnc) addNumbers(cb *colBuf, n int) {
	if c.kind == Timestamp {
		c.addTimestamps(cb, n)
		return
	}
	if !cb.wide {
		c.addNarrow(cb, n)
		return
	}
	// A value often stays from one row to the next: then neither the
	// dictionary nor the bounds need looking at.
	idx, has, last, lastIdx, same := c.idx, c.has, c.lastD, c.lastIdx, c.same
	pmin, pmax := c.dmin, c.dmax
	null := c.denseNulls(cb, n)
	for r := range n {
		if null != nil && null[r] {
			continue
		}
		v := [2]uint64{cb.hi[r], cb.lo[r]}
		if c.plain {
			c.raw = be128(c.raw, v)
		} else if has && v == last {
			idx = append(idx, uint16(lastIdx))
			continue
		} else {
			k := c.lookupDec(v)
			same = same && (!has || k == lastIdx)
			lastIdx = k
			idx = append(idx, uint16(k))
		}
		if !has || lessDec(v, pmin) {
			pmin = v
		}
		if !has || lessDec(pmax, v) {
			pmax = v
		}
		has, last = true, v
	}
	c.dvals += len(idx) - len(c.idx)
	c.idx, c.has, c.lastD, c.lastIdx, c.same, c.dmin, c.dmax = idx, has, last, lastIdx, same, pmin, pmax
}

// addNarrow is addNumbers for a batch of decimals whose high 64 bits are
// all 0 (cb.wide false): values compared, looked up and bounded as
// uint64, the bounds merged with the page's once at the end.
func (c *colEnc) addNarrow(cb *colBuf, n int) {
	idx, has, lastIdx, same := c.idx, c.has, c.lastIdx, c.same
	// last is the page's last value when it is narrow (lastOK).
	last, lastOK := c.lastD[1], c.has && c.lastD[0] == 0
	var vmin, vmax uint64 = ^uint64(0), 0
	seen := false // a value went through the dictionary or PLAIN
	// The runs of present rows between the NULL ones (nulls, then n).
	from := 0
	for seg := 0; seg <= len(cb.nulls); seg++ {
		to := n
		if seg < len(cb.nulls) {
			to = int(cb.nulls[seg])
		}
		for _, v := range cb.lo[from:to] {
			if c.plain {
				c.raw = be128(c.raw, [2]uint64{0, v})
			} else if lastOK && v == last {
				idx = append(idx, uint16(lastIdx))
				continue
			} else {
				k := c.lookupNarrow(v)
				same = same && (!has || k == lastIdx)
				lastIdx = k
				idx = append(idx, uint16(k))
			}
			vmin, vmax = min(vmin, v), max(vmax, v)
			seen, has, last, lastOK = true, true, v, true
		}
		from = to + 1
	}
	if seen {
		if lo := [2]uint64{0, vmin}; !c.has || lessDec(lo, c.dmin) {
			c.dmin = lo
		}
		if hi := [2]uint64{0, vmax}; !c.has || lessDec(c.dmax, hi) {
			c.dmax = hi
		}
		c.lastD = [2]uint64{0, last}
	}
	c.dvals += len(idx) - len(c.idx)
	c.idx, c.has, c.lastIdx, c.same = idx, has, lastIdx, same
}

// dictFull tells whether the batch could overfill the dictionary, or a
// dictionary does not pay: then the page ends before the batch and the
// chunk's further values are PLAIN.
func (c *colEnc) dictFull(cb *colBuf, n int) bool {
	switch c.kind {
	case Decimal:
		return len(c.dkeys)+n > c.p.dictValues
	case Timestamp:
		return false // always PLAIN (see addTimestamps)
	}
	return len(c.send)+n > c.p.dictValues || len(c.skeys)+len(cb.b) > maxDictBytes || c.mostlyUnique()
}

// mostlyUnique tells whether the chunk's dictionary has past dictProbe
// values and more than half of them distinct (trade ids): then hashing every value buys little or nothing, and the
// rest of the chunk goes PLAIN.
func (c *colEnc) mostlyUnique() bool {
	return c.dvals >= dictProbe && 2*c.dictLen() > c.dvals
}

// addTimestamps adds timestamps, always DELTA_BINARY_PACKED: sorted
// times take a byte or two each, where PLAIN took 8 bytes through zstd
// (three quarters of a book file's zstd input) and a dictionary's
// indices compressed worse than PLAIN.
func (c *colEnc) addTimestamps(cb *colBuf, n int) {
	lo, hi := int64(c.dmin[1]), int64(c.dmax[1])
	null := c.denseNulls(cb, n)
	for r, t := range cb.i64[:n] {
		if null != nil && null[r] {
			continue
		}
		c.ts = append(c.ts, t)
		if !c.has {
			lo, hi, c.has = t, t, true
		}
		lo, hi = min(lo, t), max(hi, t)
	}
	c.dmin[1], c.dmax[1] = uint64(lo), uint64(hi)
}

func (c *colEnc) addStrings(cb *colBuf, n int) {
	var s0 uint32
	var last []byte
	has := c.has
	if has && !c.plain {
		last = c.key(c.lastIdx)
	}
	null := c.denseNulls(cb, n)
	for r, e := range cb.end[:n] {
		if cb.rep[r] { // row r-1's value: last
			if c.plain {
				c.addDBA(c.prev) // the page's last value
			} else {
				c.idx = append(c.idx, uint16(c.lastIdx))
				c.dvals++
			}
			continue
		}
		v := cb.b[s0:e]
		s0 = e
		if null != nil && null[r] {
			continue
		}
		if c.plain {
			c.addDBA(v)
		} else if has && bytes.Equal(v, last) {
			c.idx = append(c.idx, uint16(c.lastIdx))
			c.dvals++
			continue
		} else {
			k := c.lookupStr(v)
			c.same = c.same && (!has || k == c.lastIdx)
			c.lastIdx = k
			c.idx = append(c.idx, uint16(k))
			c.dvals++
			last = v
		}
		if !has || bytes.Compare(v, c.smin) < 0 {
			c.smin = append(c.smin[:0], v...)
		}
		if !has || bytes.Compare(c.smax, v) < 0 {
			c.smax = append(c.smax[:0], v...)
		}
		has = true
	}
	c.has = has
}

// addDBA adds v to a DELTA_BYTE_ARRAY page (strings without a
// dictionary): the length of the prefix it shares with the page's last
// value, and the rest. Unique ids that count up then take two or three
// bytes each, not their length and all their digits: a seventh of the
// bytes zstd has to go through.
func (c *colEnc) addDBA(v []byte) {
	p := 0
	for p < len(v) && p < len(c.prev) && v[p] == c.prev[p] {
		p++
	}
	c.pre = append(c.pre, int64(p))
	c.suf = append(c.suf, int64(len(v)-p))
	c.sb = append(c.sb, v[p:]...)
	c.prev = append(c.prev[:0], v...)
	c.nplain++
}

func (c *colEnc) key(k uint32) []byte {
	var s uint32
	if k > 0 {
		s = c.send[k-1]
	}
	return c.skeys[s:c.send[k]]
}

func hashDec(v [2]uint64) uint64 { return (v[1]*0x9E3779B97F4A7C15 ^ v[0]*0xC2B2AE3D27D4EB4F) >> 17 }

// A Decimal dictionary's table is of uint64 slots: 0 is free, else
// key<<idxBits | the value's index. A value v of the common kind (high 64
// bits 0, v < keyOther-1) has key v+1, so that it is found without
// reading dkeys (a cache miss per lookup); any other value has key
// keyOther and is compared with dkeys[index]. Eight bytes a slot, not 16:
// the tables of a worker's fifty book levels take half the cache (a
// lookup's time is mostly a miss in them; 2-3% less CPU for a depth-25
// snapshot file).
const (
	idxBits  = 16 // a dictionary has at most 1<<16 values
	idxMask  = 1<<idxBits - 1
	keyOther = 1<<(64-idxBits) - 1
)

// slotKey returns the key of v in a slot.
func slotKey(v [2]uint64) uint64 {
	if v[0] == 0 && v[1] < keyOther-1 {
		return v[1] + 1
	}
	return keyOther
}

// lookupDec returns v's dictionary index, adding it if new.
func (c *colEnc) lookupDec(v [2]uint64) uint32 {
	key := slotKey(v)
	if key != keyOther {
		return c.lookupNarrow(v[1])
	}
	mask := uint64(len(c.dtab) - 1)
	for i := hashDec(v) & mask; ; i = (i + 1) & mask {
		e := c.dtab[i]
		if e == 0 {
			return c.addDec(i, v)
		}
		if e>>idxBits == keyOther && c.dkeys[e&idxMask] == v {
			return uint32(e & idxMask)
		}
	}
}

// lookupNarrow is lookupDec of [2]uint64{0, v}.
func (c *colEnc) lookupNarrow(v uint64) uint32 {
	if v >= keyOther-1 {
		return c.lookupDec([2]uint64{0, v})
	}
	want := (v + 1) << idxBits
	mask := uint64(len(c.dtab) - 1)
	for i := hashDec([2]uint64{0, v}) & mask; ; i = (i + 1) & mask {
		e := c.dtab[i]
		if e == 0 {
			return c.addDec(i, [2]uint64{0, v})
		}
		if e&^idxMask == want {
			return uint32(e & idxMask)
		}
	}
}

// addDec adds v to the dictionary in the free slot i.
func (c *colEnc) addDec(i uint64, v [2]uint64) uint32 {
	k := len(c.dkeys)
	c.dkeys = append(c.dkeys, v)
	c.dtab[i] = slotKey(v)<<idxBits | uint64(k)
	if 2*len(c.dkeys) > len(c.dtab) {
		c.grow(len(c.dkeys))
	}
	return uint32(k)
}

// lookupStr returns v's dictionary index, adding it if new.
func (c *colEnc) lookupStr(v []byte) uint32 {
	mask := uint64(len(c.table) - 1)
	for i := maphash.Bytes(c.seed, v) & mask; ; i = (i + 1) & mask {
		e := c.table[i]
		if e == 0 {
			c.skeys = append(c.skeys, v...)
			c.send = append(c.send, uint32(len(c.skeys)))
			c.table[i] = uint32(len(c.send))
			if 2*len(c.send) > len(c.table) {
				c.grow(len(c.send))
			}
			return uint32(len(c.send) - 1)
		}
		if bytes.Equal(c.key(e-1), v) {
			return e - 1
		}
	}
}

func (c *colEnc) grow(n int) {
	if c.kind == Decimal {
		c.dtab = make([]uint64, 2*len(c.dtab))
		mask := uint64(len(c.dtab) - 1)
		for k, v := range c.dkeys[:n] {
			i := hashDec(v) & mask
			for c.dtab[i] != 0 {
				i = (i + 1) & mask
			}
			c.dtab[i] = slotKey(v)<<idxBits | uint64(k)
		}
		return
	}
	c.table = make([]uint32, 2*len(c.table))
	mask := uint64(len(c.table) - 1)
	for k := range n {
		i := maphash.Bytes(c.seed, c.key(uint32(k))) & mask
		for c.table[i] != 0 {
			i = (i + 1) & mask
		}
		c.table[i] = uint32(k + 1)
	}
}

func (c *colEnc) dictLen() int {
	if c.kind != String {
		return len(c.dkeys)
	}
	return len(c.send)
}

// flush writes the page being built.
func (c *colEnc) flush() {
	n := c.pageRows
	if n == 0 || c.err != nil {
		return
	}
	// Definition levels go uncompressed in front of the values (V2).
	levels := c.levels[:0]
	if c.opt {
		levels = appendRun(append(levels, c.defs...), c.run, c.cur)
	}
	defLen := len(levels)
	enc := format.Plain
	var vals []byte
	present := 0
	switch {
	case c.kind == Bool:
		present = len(c.bools)
		vals = appendBools(c.raw[:0], c.bools)
	case c.kind == Timestamp && len(c.ts) > 0:
		enc = format.DeltaBinaryPacked
		present = len(c.ts)
		vals = appendDelta(c.raw[:0], c.ts)
	case c.kind == Timestamp:
		vals = c.raw[:0]
	case c.plain && c.kind == Decimal:
		present = len(c.raw) / 16
		vals = c.raw
	case c.plain && c.nplain > 0: // String
		enc = format.DeltaByteArray
		present = c.nplain
		vals = appendDelta(c.raw[:0], c.pre)
		vals = appendDelta(vals, c.suf)
		vals = append(vals, c.sb...)
	case c.plain:
		vals = c.raw[:0]
	case len(c.idx) == 0:
		// No values: PLAIN, as a chunk of NULLs has no dictionary for an
		// RLE_DICTIONARY page to refer to (DuckDB refuses one).
		vals = c.raw[:0]
	default:
		enc = format.RLEDictionary
		present = len(c.idx)
		vals = c.raw[:0]
		// Whole bytes, not the fewest bits: zstd then sees a value
		// that comes back as the same bytes. But one bit for two values
		// (a book's sides): an eighth of zstd's input, and a smaller
		// file (three sides of trades at 2 bits compress worse than
		// bytes do).
		w := (max(1, bits.Len(uint(c.dictLen()-1))) + 7) / 8 * 8
		if c.dictLen() <= 2 {
			w = 1
		}
		vals = append(vals, byte(w))
		if c.same {
			vals = appendRLE(vals, present, c.lastIdx, w)
		} else {
			vals = appendBitPacked(vals, c.idx, w)
		}
	}
	nulls := n - present
	c.levels, c.raw = levels[:0], vals[:0]
	z := c.z.EncodeAll(vals, c.zbuf[:0])
	c.zbuf = z
	st := c.pageStats(nulls)
	h := format.PageHeader{
		Type:                 format.DataPageV2,
		UncompressedPageSize: int32(defLen + len(vals)),
		CompressedPageSize:   int32(defLen + len(z)),
		CRC:                  int32(crc32.Update(crc32.ChecksumIEEE(levels), crc32.IEEETable, z)),
		DataPageHeaderV2: thrift.New(format.DataPageHeaderV2{
			NumValues: int32(n), NumNulls: int32(nulls), NumRows: int32(n), Encoding: enc,
			DefinitionLevelsByteLength: int32(defLen), IsCompressed: thrift.New(true), Statistics: st,
		}),
	}
	hb, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		c.err = err
		return
	}
	switch enc {
	case format.Plain:
		c.plainPages++
	case format.DeltaBinaryPacked, format.DeltaByteArray:
		c.deltaPages++
	default:
		c.dictPages++
	}
	c.pages = append(c.pages, format.PageLocation{Offset: int64(len(c.data)), CompressedPageSize: int32(len(hb)) + h.CompressedPageSize, FirstRowIndex: c.rows})
	if need := len(c.data) + len(hb) + defLen + len(z); need > cap(c.data) {
		// Once to what the chunk will likely need (its bytes a row so
		// far times a row group's rows), not by append's doublings.
		est := int64(need) * int64(c.p.rowGroupRows) / (c.rows + int64(n)) * 9 / 8
		c.data = slices.Grow(c.data, max(need, int(min(est, 1<<30)))-len(c.data))
	}
	c.data = append(c.data, hb...)
	c.data = append(c.data, levels...)
	c.data = append(c.data, z...)
	c.dataRaw += int64(len(hb) + defLen + len(vals))
	c.index.NullPages = append(c.index.NullPages, !c.has)
	c.index.MinValues = append(c.index.MinValues, st.MinValue)
	c.index.MaxValues = append(c.index.MaxValues, st.MaxValue)
	c.index.NullCounts = append(c.index.NullCounts, int64(nulls))
	if c.has {
		if c.cmin == nil || c.less(st.MinValue, c.cmin) {
			c.cmin = st.MinValue
		}
		if c.cmax == nil || c.less(c.cmax, st.MaxValue) {
			c.cmax = st.MaxValue
		}
	}
	c.rows += int64(n)
	c.nulls += int64(nulls)
	c.present += int64(present)
	c.resetPage()
}

// pageStats returns the page's statistics in the column's physical
// encoding (fresh slices: the page index keeps them).
func (c *colEnc) pageStats(nulls int) format.Statistics {
	st := format.Statistics{NullCount: int64(nulls)}
	if !c.has {
		return st
	}
	switch c.kind {
	case String:
		// Non-nil even when empty: a nil value is an absent one.
		st.MinValue = append(make([]byte, 0, len(c.smin)), c.smin...)
		st.MaxValue = append(make([]byte, 0, len(c.smax)), c.smax...)
	case Timestamp:
		st.MinValue = binary.LittleEndian.AppendUint64(nil, c.dmin[1])
		st.MaxValue = binary.LittleEndian.AppendUint64(nil, c.dmax[1])
	case Decimal:
		st.MinValue, st.MaxValue = be128(nil, c.dmin), be128(nil, c.dmax)
	case Bool:
		st.MinValue, st.MaxValue = []byte{b2u(c.bmin)}, []byte{b2u(c.bmax)}
	}
	return st
}

// less orders two encoded statistics values of the column.
func (c *colEnc) less(a, b []byte) bool {
	switch c.kind {
	case Timestamp:
		return int64(binary.LittleEndian.Uint64(a)) < int64(binary.LittleEndian.Uint64(b))
	case Decimal:
		return lessDec([2]uint64{binary.BigEndian.Uint64(a), binary.BigEndian.Uint64(a[8:])},
			[2]uint64{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])})
	}
	return bytes.Compare(a, b) < 0 // String, Bool
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// finish returns the row group's chunk of this column and resets for the
// next row group.
func (c *colEnc) finish() *chunk {
	c.flush()
	ch := &chunk{data: c.data, pages: c.pages, numValues: c.rows, dataUncompressed: c.dataRaw,
		dictPages: c.dictPages, plainPages: c.plainPages, deltaPages: c.deltaPages}
	if c.err != nil {
		ch.err = fmt.Errorf("export: parquet column %q: %w", c.p.cols[c.col].Name, c.err)
		c.reset()
		return ch
	}
	ch.index = c.index
	ch.stats = format.Statistics{NullCount: c.nulls}
	if c.present > 0 {
		ch.stats.MinValue, ch.stats.MaxValue = c.cmin, c.cmax
	}
	ch.encodings = []format.Encoding{format.Plain}
	ch.deltaEnc = format.DeltaBinaryPacked
	if c.kind == String {
		ch.deltaEnc = format.DeltaByteArray
	}
	if c.deltaPages > 0 {
		ch.encodings = append(ch.encodings, ch.deltaEnc)
	}
	if c.opt {
		ch.encodings = append(ch.encodings, format.RLE)
		ch.defHist = []int64{c.nulls, c.present}
	}
	if n := c.dictLen(); n > 0 {
		ch.encodings = append(ch.encodings, format.RLEDictionary)
		raw := c.raw[:0]
		switch c.kind {
		case Decimal:
			for _, k := range c.dkeys {
				raw = be128(raw, k)
			}
		default:
			for k := range n {
				v := c.key(uint32(k))
				raw = binary.LittleEndian.AppendUint32(raw, uint32(len(v)))
				raw = append(raw, v...)
			}
		}
		c.raw = raw[:0]
		// The dictionary page goes after the data pages in the same
		// buffer (writeGroup writes it first), so that the buffer
		// comes back whole (c.spare).
		end := len(c.data)
		z := c.z.EncodeAll(raw, c.zbuf[:0])
		c.zbuf = z
		var page []byte
		page, ch.dictUncompressed, ch.err = dictPage(c.data, z, len(raw), n)
		ch.data, ch.dict = page[:end:end], page[end:]
		c.data = page
	}
	ch.buf, ch.spare = c.data, c.spare
	c.reset()
	return ch
}

// dictPage appends a dictionary page of n values, z compressed from
// rawLen bytes, to dst.
func dictPage(dst, z []byte, rawLen, n int) (out []byte, uncompressed int64, err error) {
	h := format.PageHeader{
		Type: format.DictionaryPage, UncompressedPageSize: int32(rawLen), CompressedPageSize: int32(len(z)),
		CRC:                  int32(crc32.ChecksumIEEE(z)),
		DictionaryPageHeader: thrift.New(format.DictionaryPageHeader{NumValues: int32(n), Encoding: format.Plain}),
	}
	hb, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		return dst, 0, err
	}
	return append(append(dst, hb...), z...), int64(len(hb) + rawLen), nil
}

func be128(dst []byte, v [2]uint64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, v[0])
	return binary.BigEndian.AppendUint64(dst, v[1])
}

// lessDec orders 128-bit two's complement values, as DECIMAL's signed
// order wants.
func lessDec(a, b [2]uint64) bool {
	return int64(a[0]) < int64(b[0]) || a[0] == b[0] && a[1] < b[1]
}

// appendRun appends an RLE run of n definition levels (bit width 1).
func appendRun(dst []byte, n int, present bool) []byte {
	if n == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(n)<<1)
	return append(dst, b2u(present))
}

// appendRLE appends an RLE run of n copies of v, bit width w.
func appendRLE(dst []byte, n int, v uint32, w int) []byte {
	dst = binary.AppendUvarint(dst, uint64(n)<<1)
	for range (w + 7) / 8 {
		dst = append(dst, byte(v))
		v >>= 8
	}
	return dst
}

// appendBitPacked appends idx as one bit-packed run of width w, at most 4
// or a multiple of 8 (the last group of 8 padded with zeros): LSB first,
// as the hybrid encoding wants, which for whole bytes is little-endian.
func appendBitPacked(dst []byte, idx []uint16, w int) []byte {
	groups := (len(idx) + 7) / 8
	dst = binary.AppendUvarint(dst, uint64(groups)<<1|1)
	switch w {
	case 8:
		for _, v := range idx {
			dst = append(dst, byte(v))
		}
	case 16:
		for _, v := range idx {
			dst = append(dst, byte(v), byte(v>>8))
		}
	case 1, 2, 3, 4:
		// Groups of 8 values in w bytes, the last padded with zeros.
		for i := 0; i < len(idx); i += 8 {
			var acc uint64
			for k, v := range idx[i:min(i+8, len(idx))] {
				acc |= uint64(v) << (k * w)
			}
			for range w {
				dst = append(dst, byte(acc))
				acc >>= 8
			}
		}
		return dst
	default:
		for _, v := range idx {
			for k := 0; k < w; k += 8 {
				dst = append(dst, byte(v>>k))
			}
		}
	}
	for range (8*groups - len(idx)) * w / 8 {
		dst = append(dst, 0)
	}
	return dst
}

// appendBools appends PLAIN booleans: bit-packed, LSB first.
func appendBools(dst []byte, v []bool) []byte {
	for i := 0; i < len(v); i += 8 {
		var x byte
		for k, b := range v[i:min(i+8, len(v))] {
			x |= b2u(b) << k
		}
		dst = append(dst, x)
	}
	return dst
}

// DELTA_BINARY_PACKED blocks: 128 values in 4 miniblocks of 32, as
// parquet-mr and Arrow write them.
const (
	deltaBlock = 128
	deltaMini  = 32
)

// appendDelta appends v DELTA_BINARY_PACKED: a header (block size,
// miniblocks per block, count, first value), then per block the least
// delta (zigzag) and one bit width per miniblock, each miniblock's deltas
// minus the least bit-packed LSB first. A last miniblock is padded to 32
// values; miniblocks after the last value have width 0 and no bytes.
func appendDelta(dst []byte, v []int64) []byte {
	dst = binary.AppendUvarint(dst, deltaBlock)
	dst = binary.AppendUvarint(dst, deltaBlock/deltaMini)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	dst = binary.AppendVarint(dst, v[0])
	var d [deltaBlock]uint64
	for i := 1; i < len(v); i += deltaBlock {
		blk := v[i-1 : min(i+deltaBlock, len(v))] // with the value before
		n := len(blk) - 1
		least := blk[1] - blk[0]
		for k := range n {
			least = min(least, blk[k+1]-blk[k]) // wrapping, as the spec's
		}
		for k := range n {
			d[k] = uint64(blk[k+1] - blk[k] - least)
		}
		dst = binary.AppendVarint(dst, least)
		widths := len(dst)
		dst = append(dst, make([]byte, deltaBlock/deltaMini)...)
		for m := 0; m*deltaMini < n; m++ {
			mini := d[m*deltaMini : (m+1)*deltaMini]
			if (m+1)*deltaMini > n {
				clear(mini[n-m*deltaMini:]) // padding: zeros
			}
			var or uint64
			for _, x := range mini {
				or |= x
			}
			w := bits.Len64(or)
			dst[widths+m] = byte(w)
			dst = appendPacked(dst, mini, w)
		}
	}
	return dst
}

// appendPacked appends the 32 values of x in w bits each, LSB first.
func appendPacked(dst []byte, x []uint64, w int) []byte {
	if w == 0 {
		return dst
	}
	var acc uint64 // bits not yet written, from the lowest
	nacc := 0
	for _, v := range x {
		acc |= v << nacc
		if nacc+w >= 64 {
			dst = binary.LittleEndian.AppendUint64(dst, acc)
			used := 64 - nacc // bits of v written
			if used < 64 {
				acc = v >> used
			} else {
				acc = 0
			}
			nacc = nacc + w - 64
		} else {
			nacc += w
		}
	}
	// 32 values of w bits are 4w bytes: whole bytes.
	for ; nacc > 0; nacc -= 8 {
		dst = append(dst, byte(acc))
		acc >>= 8
	}
	return dst
}
