package snapshots

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"runtime"
	"sync/atomic"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
)

// The snapshot Parquet writer builds the column chunks itself instead of
// handing rows to parquet-go value by value (issue 11: that path took 4.6x
// the time of the CSV export, a third of it zstd over 16 bytes of PLAIN
// decimal per value, most of the rest building parquet.Values). The
// caller's goroutine only copies each row's fixed-point values into a
// column-major batch; worker goroutines, each owning a fixed share of the
// columns, turn batches into pages:
//
//   - decimals as RLE_DICTIONARY: a dictionary per column chunk, indices
//     bit-packed at a whole number of bytes (zstd then finds a value that
//     comes back, a quarter smaller output than the fewest bits), PLAIN
//     pages once a dictionary would pass maxDictEntries;
//   - timestamps PLAIN, strings a one-entry dictionary;
//   - zstd at its fastest level, which on these pages costs a fifth of
//     the default level's time for a few percent of size.
//
// A row group's chunks are written in column order once every worker has
// finished it. Memory is bounded: a fixed pool of batches, pages of at
// most about maxPageRows rows, dictionaries of at most maxDictEntries
// values, and at most maxGroupsInFlight finished row groups waiting for
// the output.
//
// Schema and footer fields (created_by, key-value metadata, column orders)
// come from parquet-go itself, from an empty file with the same schema;
// the pages are standard DataPageV2 with page statistics, CRCs, chunk
// statistics and the page index, as parquet-go writes them. parquet-go,
// pyarrow, polars and DuckDB read every encoding used.

const (
	// batchBytes bounds a batch's value array (depth 25: 8192 rows).
	batchBytes = 8 << 20
	// pageIdxBytes bounds the dictionary indices all columns hold for
	// their pages in the making.
	pageIdxBytes = 32 << 20
	// maxGroupsInFlight finished row groups may wait for the output; the
	// caller blocks beyond that.
	maxGroupsInFlight = 2
)

// A batch holds at most maxBatch rows; a data page ends at the first
// batch end at or past maxPageRows rows (fewer at a large depth, see
// pageIdxBytes). Variables so that tests can make many of both.
var (
	maxBatch    = 8192
	maxPageRows = 16384
	// maxDictEntries bounds a column chunk's dictionary (1 MiB of values,
	// what pyarrow allows a dictionary page); past it the chunk goes on in
	// PLAIN pages.
	maxDictEntries = 1 << 16
)

// zstdCodec names the columns' codec in the schema template.
var zstdCodec = &zstd.Codec{Level: zstd.SpeedFastest}

// newZstd returns an encoder with the settings of parquet-go's zstd codec
// but the fastest level. Each worker keeps its own: the codec's pool is
// emptied by every garbage collection, and a new encoder costs far more
// than compressing a page.
func newZstd() *kzstd.Encoder {
	e, err := kzstd.NewWriter(nil, kzstd.WithEncoderConcurrency(1), kzstd.WithEncoderLevel(kzstd.SpeedFastest),
		kzstd.WithZeroFrames(true), kzstd.WithEncoderCRC(false))
	if err != nil {
		panic(err) // only for invalid options
	}
	return e
}

// batch is up to cap rows as the caller gave them: row r's asks from
// lv[r*2*depth], its bids from lv[r*2*depth+depth], nAsk[r] and nBid[r]
// of them, at scales rps[r] and rss[r], which are at most the columns'
// (the caller's goroutine rescales the rare value above them, as that is
// where an error must be reported). The workers do the rest.
type batch struct {
	n, cap     int
	ts, lts    []int64
	nAsk, nBid []uint16
	rps, rss   []uint8
	lv         []protocol.Level
	last       bool // ends its row group
	g          *group
	refs       atomic.Int32
}

// group is one row group in the making.
type group struct {
	rows   int64
	chunks []*chunk // by column, set by the owning worker
	left   atomic.Int32
	done   chan struct{} // closed when every worker has finished it
}

// chunk is a finished column chunk: its bytes and what the footer needs.
type chunk struct {
	dict, data       []byte // dictionary page (nil: none), data pages
	dictUncompressed int64  // bytes of the dictionary page as if uncompressed
	dataUncompressed int64
	numValues        int64
	pages            []format.PageLocation // offsets relative to data
	index            format.ColumnIndex
	stats            format.Statistics
	defHist          []int64 // nil: required column
	encodings        []format.Encoding
	dictPages        int32 // data pages RLE_DICTIONARY
	plainPages       int32 // data pages PLAIN
	err              error
}

type parquetWriter struct {
	out      *bufio.Writer
	depth    int
	ps, ss   uint8  // column scales
	whyScale string // a guess at how a value came to exceed them, for the error
	exchange []byte
	symbol   []byte
	ncols    int
	tmpl     format.FileMetaData // schema and footer fields from parquet-go

	batchCap int
	pageRows int // a data page ends at the first batch end at or past it
	cur      *batch
	g        *group
	free     chan *batch
	workers  []chan *batch
	nworkers int
	started  bool
	pending  []*group

	offset    int64
	rowGroups []format.RowGroup
	colIdx    [][]format.ColumnIndex
	offIdx    [][]format.OffsetIndex
	closed    bool
	err       error
}

func newParquetWriter(w io.Writer, exchange, symbol string, depth int, ps, ss uint8) *parquetWriter {
	ncols := 4 + 4*depth
	p := &parquetWriter{
		out: bufio.NewWriterSize(w, 1<<20), depth: depth, ps: ps, ss: ss,
		whyScale: "the stream's scale rose after its last event?",
		exchange: []byte(exchange), symbol: []byte(symbol), ncols: ncols,
		nworkers: min(max(runtime.GOMAXPROCS(0), 1), 4),
	}
	p.err = p.template()
	p.batchCap = min(maxBatch, max(64, batchBytes/(8*4*depth)), int(rowGroupRows))
	p.pageRows = max(p.batchCap, min(maxPageRows, pageIdxBytes/(4*ncols)))
	return p
}

// template writes an empty file with parquet-go and keeps its footer.
func (p *parquetWriter) template() error {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[any](&buf, ParquetSchema(p.depth, p.ps, p.ss),
		parquet.Compression(zstdCodec),
		parquet.KeyValueMetadata("chronicle.layout", fmt.Sprintf("tardis book_snapshot_%d", p.depth)),
	)
	if err := w.Close(); err != nil {
		return fmt.Errorf("snapshots: parquet schema: %w", err)
	}
	b := buf.Bytes()
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[len(b)-8-n:len(b)-8], &p.tmpl); err != nil {
		return fmt.Errorf("snapshots: parquet schema: %w", err)
	}
	return nil
}

func (p *parquetWriter) newBatch() *batch {
	c := p.batchCap
	nl := 4 * p.depth
	return &batch{cap: c, ts: make([]int64, c), lts: make([]int64, c),
		nAsk: make([]uint16, c), nBid: make([]uint16, c), rps: make([]uint8, c), rss: make([]uint8, c),
		lv: make([]protocol.Level, nl/2*c)}
}

func (p *parquetWriter) write(r *Row) error {
	if p.err != nil {
		return p.err
	}
	if p.cur == nil {
		p.cur = p.takeBatch()
		if p.g == nil {
			p.g = p.newGroup()
		}
	}
	b := p.cur
	i := b.n
	b.ts[i] = int64(r.Timestamp / 1000)
	b.lts[i] = int64(r.LocalTimestamp / 1000)
	na, nb := min(len(r.Asks), p.depth), min(len(r.Bids), p.depth)
	row := b.lv[i*2*p.depth : (i+1)*2*p.depth]
	copy(row, r.Asks[:na])
	copy(row[p.depth:], r.Bids[:nb])
	b.rps[i], b.rss[i] = r.PriceScale, r.SizeScale
	if r.PriceScale > p.ps || r.SizeScale > p.ss {
		if err := p.rescale(b, i, na, nb); err != nil {
			return err
		}
	}
	// The row counts only once every value converted: an error leaves it out.
	b.nAsk[i], b.nBid[i] = uint16(na), uint16(nb)
	b.n++
	p.g.rows++
	if p.g.rows == rowGroupRows {
		b.last = true
	}
	if b.n == b.cap || b.last {
		p.submit()
	}
	return p.err
}

// rescale brings row i's values down to the columns' scales. A value with
// more decimals than its column holds is an error, never a rounding.
func (p *parquetWriter) rescale(b *batch, i, na, nb int) error {
	row := b.lv[i*2*p.depth : (i+1)*2*p.depth]
	for _, lv := range [2][]protocol.Level{row[:na], row[p.depth : p.depth+nb]} {
		for l := range lv {
			for _, f := range [2]struct {
				v        *uint64
				from, to uint8
				what     string
			}{{&lv[l].Price, b.rps[i], p.ps, "price"}, {&lv[l].Size, b.rss[i], p.ss, "amount"}} {
				if f.from <= f.to {
					continue
				}
				v, err := decimal.Rescale(*f.v, f.from, f.to)
				if err != nil {
					p.err = fmt.Errorf("snapshots: %s %s has more than the %d decimals of the Parquet column (%s)",
						f.what, decimal.String(*f.v, f.from), f.to, p.whyScale)
					return p.err
				}
				*f.v = v
			}
		}
	}
	b.rps[i], b.rss[i] = min(b.rps[i], p.ps), min(b.rss[i], p.ss)
	return nil
}

func (p *parquetWriter) newGroup() *group {
	return &group{chunks: make([]*chunk, p.ncols), done: make(chan struct{})}
}

// takeBatch returns a free batch, waiting for the workers if all are busy.
func (p *parquetWriter) takeBatch() *batch {
	var b *batch
	if !p.started {
		b = p.newBatch()
	} else {
		b = <-p.free
	}
	b.n, b.last, b.g = 0, false, nil
	return b
}

// start launches the workers; each owns every column j with (j/2) mod
// nworkers == its number: with two, one has the asks, the other the bids.
func (p *parquetWriter) start() {
	p.started = true
	pool := p.nworkers + 2
	p.free = make(chan *batch, pool)
	for range pool - 1 { // the one being filled is the last
		p.free <- p.newBatch()
	}
	for w := range p.nworkers {
		in := make(chan *batch, pool)
		p.workers = append(p.workers, in)
		var cols []*colEnc
		z := newZstd()
		for j := range p.ncols {
			if (j/2)%p.nworkers == w {
				cols = append(cols, newColEnc(p, j, z))
			}
		}
		go p.work(in, cols)
	}
}

func (p *parquetWriter) work(in <-chan *batch, cols []*colEnc) {
	for b := range in {
		g := b.g
		// A column at a time through the whole batch: its dictionary stays
		// in cache (blocks of rows through every column were slower).
		for _, c := range cols {
			c.add(b, 0, b.n)
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

// submit hands the current batch to the workers.
func (p *parquetWriter) submit() {
	if !p.started {
		p.start()
	}
	b := p.cur
	b.g = p.g
	b.refs.Store(int32(p.nworkers))
	if b.last {
		p.g.left.Store(int32(p.nworkers))
	}
	for _, in := range p.workers {
		in <- b
	}
	p.cur = nil
	if b.last {
		p.pending = append(p.pending, p.g)
		p.g = nil
	}
	// Write what is finished; wait only when too much is.
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

func (p *parquetWriter) close() error {
	if p.err != nil {
		p.abort()
		return p.err
	}
	if p.cur != nil || p.g != nil {
		if p.cur == nil {
			p.cur = p.takeBatch()
		}
		if p.g == nil {
			p.g = p.newGroup()
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
	if p.err != nil {
		return p.err
	}
	p.err = p.writeFooter()
	if p.err == nil {
		p.err = p.out.Flush()
	}
	return p.err
}

// abort stops the workers (they finish the batches they have).
func (p *parquetWriter) abort() {
	if !p.closed {
		p.closed = true
		for _, in := range p.workers {
			close(in)
		}
	}
}

func (p *parquetWriter) emit(b []byte) error {
	_, err := p.out.Write(b)
	p.offset += int64(len(b))
	return err
}

func (p *parquetWriter) writeGroup(g *group) error {
	if p.offset == 0 {
		if err := p.emit([]byte("PAR1")); err != nil {
			return err
		}
	}
	if g.rows == 0 {
		return nil
	}
	rg := format.RowGroup{NumRows: g.rows, FileOffset: p.offset, Ordinal: int16(len(p.rowGroups))}
	ci := make([]format.ColumnIndex, p.ncols)
	oi := make([]format.OffsetIndex, p.ncols)
	for j, c := range g.chunks {
		if c.err != nil {
			return c.err
		}
		md := format.ColumnMetaData{
			Type:                  format.Type(p.tmplType(j)),
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
		if c.dictPages > 0 {
			md.EncodingStats = append(md.EncodingStats, format.PageEncodingStats{PageType: format.DataPageV2, Encoding: format.RLEDictionary, Count: c.dictPages})
		}
		for k := range c.pages {
			c.pages[k].Offset += p.offset
		}
		if err := p.emit(c.data); err != nil {
			return err
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

func (p *parquetWriter) tmplType(j int) format.Type {
	t, _ := p.tmpl.Schema[1+j].Type.Get()
	return t
}

func (p *parquetWriter) writeFooter() error {
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

// Column kinds of the encoder.
const (
	kindString = iota
	kindTimestamp
	kindDecimal
)

// colEnc builds one column's chunk of the current row group. It belongs
// to one worker.
type colEnc struct {
	p      *parquetWriter
	z      *kzstd.Encoder // the worker's
	col    int
	kind   int
	lvl    int  // decimal: the level column (4i + 2*side + amount)
	ask    bool // decimal: an asks column
	amount bool // decimal: an amount column

	// Decimal dictionary: keys in insertion order, an open-addressing table
	// of key index + 1.
	keys  [][2]uint64 // hi, lo
	table []uint32

	data     []byte
	pages    []format.PageLocation
	index    format.ColumnIndex
	rows     int64
	nulls    int64
	present  int64
	min, max [2]uint64 // decimal (hi, lo), or timestamp in [1]
	dataRaw  int64
	err      error

	// The page being built.
	pageRows   int
	has        bool      // a value is present
	pmin, pmax [2]uint64 // its bounds, as min and max
	last       [2]uint64 // decimal: the last value and its index
	lastIdx    uint32
	idx        []uint32 // decimal: dictionary indices of the present values
	plain      bool     // decimal: the dictionary is full, values go in PLAIN pages
	dictPages  int32
	plainPages int32
	defs       []byte // decimal: definition levels before the open run
	run        int    // decimal: the open run of definition levels
	cur        bool
	raw        []byte // timestamp, PLAIN decimal: the values; then the page
	zraw       []byte // scratch for a PLAIN decimal page
	zbuf       []byte
}

func newColEnc(p *parquetWriter, j int, z *kzstd.Encoder) *colEnc {
	c := &colEnc{p: p, col: j, z: z}
	switch {
	case j < 2:
		c.kind = kindString
	case j < 4:
		c.kind = kindTimestamp
	default:
		c.kind = kindDecimal
		c.lvl = j - 4
		c.ask = (c.lvl/2)%2 == 0
		c.amount = c.lvl%2 == 1
	}
	c.reset()
	return c
}

func (c *colEnc) reset() {
	c.keys = c.keys[:0]
	if c.kind == kindDecimal {
		if len(c.table) == 0 {
			c.table = make([]uint32, 1024)
		} else {
			clear(c.table)
		}
	}
	// The next chunk is about as large as this one: no doubling garbage.
	c.data, c.pages = make([]byte, 0, len(c.data)+len(c.data)/8), nil
	c.index = format.ColumnIndex{}
	c.rows, c.nulls, c.present, c.dataRaw = 0, 0, 0, 0
	c.err = nil
	c.pageRows, c.has, c.run, c.idx, c.raw, c.defs = 0, false, 0, c.idx[:0], c.raw[:0], c.defs[:0]
	c.plain, c.dictPages, c.plainPages = false, 0, 0
}

func (c *colEnc) str() []byte {
	if c.col == 0 {
		return c.p.exchange
	}
	return c.p.symbol
}

// add appends rows r0..r1 of the batch to the page being built.
func (c *colEnc) add(b *batch, r0, r1 int) {
	n := r1 - r0
	switch c.kind {
	case kindString:
		c.has = true
	case kindTimestamp:
		ts := b.ts
		if c.col == 3 {
			ts = b.lts
		}
		lo, hi := int64(c.pmin[1]), int64(c.pmax[1])
		if !c.has {
			lo, hi = ts[r0], ts[r0]
		}
		for _, v := range ts[r0:r1] {
			c.raw = binary.LittleEndian.AppendUint64(c.raw, uint64(v))
			lo, hi = min(lo, v), max(hi, v)
		}
		c.pmin[1], c.pmax[1], c.has = uint64(lo), uint64(hi), true
	case kindDecimal:
		if !c.plain && len(c.keys)+n > maxDictEntries {
			// The block could overfill the dictionary: this page ends
			// here and the chunk's further values are PLAIN.
			c.flush()
			c.plain = true
		}
		counts, scales, to := b.nAsk[r0:r1], b.rps[r0:r1], c.p.ps
		if !c.ask {
			counts = b.nBid[r0:r1]
		}
		if c.amount {
			scales, to = b.rss[r0:r1], c.p.ss
		}
		l := uint16(c.lvl/4 + 1) // present where the side has more than lvl/4 levels
		// Definition levels: RLE runs of bit width 1, the last one open.
		if c.run == 0 {
			c.cur = counts[0] >= l
		}
		for _, k := range counts {
			if p := k >= l; p != c.cur {
				c.defs = appendRun(c.defs, c.run, c.cur)
				c.run, c.cur = 0, p
			}
			c.run++
		}
		stride, off := 2*c.p.depth, c.lvl/4
		if !c.ask {
			off += c.p.depth
		}
		lv := b.lv[r0*stride:]
		// A level's value often stays from one row to the next: then
		// neither the dictionary nor the bounds need looking at.
		idx, has, last, lastIdx := c.idx, c.has, c.last, c.lastIdx
		pmin, pmax := c.pmin, c.pmax
		for r, k := range counts {
			if k < l {
				continue
			}
			v := [2]uint64{0, lv[r*stride+off].Price}
			if c.amount {
				v[1] = lv[r*stride+off].Size
			}
			if s := scales[r]; s != to {
				v[0], v[1] = bits.Mul64(v[1], decimal.Pow10(to-s)) // < 2^124: the sign bit stays 0
			}
			if c.plain {
				c.raw = be128(c.raw, v)
			} else if has && v == last {
				idx = append(idx, lastIdx)
				continue
			} else {
				lastIdx = c.lookup(v)
				idx = append(idx, lastIdx)
			}
			if !has || less(v, pmin) {
				pmin = v
			}
			if !has || less(pmax, v) {
				pmax = v
			}
			has, last = true, v
		}
		c.idx, c.has, c.last, c.lastIdx, c.pmin, c.pmax = idx, has, last, lastIdx, pmin, pmax
	}
	c.pageRows += n
}

// flush writes the page being built.
func (c *colEnc) flush() {
	n := c.pageRows
	if n == 0 || c.err != nil {
		return
	}
	raw := c.raw
	var defLen, nulls int
	enc := format.RLEDictionary
	switch c.kind {
	case kindString:
		raw = append(raw[:0], 1) // bit width; every index is 0
		raw = appendRLE(raw, n, 0, 1)
	case kindTimestamp:
		enc = format.Plain
	case kindDecimal:
		if c.plain {
			// The values are in raw already; the levels go in front.
			enc = format.Plain
			vals := raw
			nulls = n - len(vals)/16
			raw = appendRun(append(c.zraw[:0], c.defs...), c.run, c.cur)
			defLen = len(raw)
			raw = append(raw, vals...)
			c.zraw = vals[:0] // swapped with c.raw below
			break
		}
		raw = appendRun(append(raw[:0], c.defs...), c.run, c.cur)
		defLen = len(raw)
		nulls = n - len(c.idx)
		if len(c.idx) > 0 {
			// Whole bytes, not the fewest bits: zstd then sees a value
			// that comes back as the same bytes (a quarter smaller output).
			// One bit-packed run, no RLE runs: these break zstd's matches
			// more than they save (measured: larger files, more CPU).
			w := (max(1, bits.Len(uint(len(c.keys)-1))) + 7) / 8 * 8
			raw = append(raw, byte(w))
			raw = appendBitPacked(raw, c.idx, w)
		}
	}
	c.raw = raw[:0]
	z := c.z.EncodeAll(raw[defLen:], c.zbuf[:0])
	c.zbuf = z
	st := c.stats(c.pmin, c.pmax, c.has, nulls)
	h := format.PageHeader{
		Type:                 format.DataPageV2,
		UncompressedPageSize: int32(len(raw)),
		CompressedPageSize:   int32(defLen + len(z)),
		DataPageHeaderV2: thrift.New(format.DataPageHeaderV2{
			NumValues: int32(n), NumNulls: int32(nulls), NumRows: int32(n), Encoding: enc,
			DefinitionLevelsByteLength: int32(defLen), IsCompressed: thrift.New(true), Statistics: st,
		}),
	}
	crc := crc32.Update(crc32.ChecksumIEEE(raw[:defLen]), crc32.IEEETable, z)
	h.CRC = int32(crc)
	hb, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		c.err = err
		return
	}
	if enc == format.Plain {
		c.plainPages++
	} else {
		c.dictPages++
	}
	c.pages = append(c.pages, format.PageLocation{Offset: int64(len(c.data)), CompressedPageSize: int32(len(hb)) + h.CompressedPageSize, FirstRowIndex: c.rows})
	c.data = append(c.data, hb...)
	c.data = append(c.data, raw[:defLen]...)
	c.data = append(c.data, z...)
	c.dataRaw += int64(len(hb) + len(raw))
	c.index.NullPages = append(c.index.NullPages, !c.has)
	c.index.MinValues = append(c.index.MinValues, st.MinValue)
	c.index.MaxValues = append(c.index.MaxValues, st.MaxValue)
	c.index.NullCounts = append(c.index.NullCounts, int64(nulls))
	if c.has {
		if c.present == 0 { // the chunk's first values
			c.min, c.max = c.pmin, c.pmax
		} else if c.kind == kindTimestamp {
			c.min[1] = uint64(min(int64(c.min[1]), int64(c.pmin[1])))
			c.max[1] = uint64(max(int64(c.max[1]), int64(c.pmax[1])))
		} else if c.kind == kindDecimal {
			if less(c.pmin, c.min) {
				c.min = c.pmin
			}
			if less(c.max, c.pmax) {
				c.max = c.pmax
			}
		}
	}
	c.rows += int64(n)
	c.nulls += int64(nulls)
	c.present += int64(n - nulls)
	c.pageRows, c.has, c.run, c.idx, c.defs = 0, false, 0, c.idx[:0], c.defs[:0]
}

// stats returns statistics in the column's physical encoding.
func (c *colEnc) stats(lo, hi [2]uint64, has bool, nulls int) format.Statistics {
	st := format.Statistics{NullCount: int64(nulls)}
	if !has {
		return st
	}
	switch c.kind {
	case kindString:
		st.MinValue, st.MaxValue = c.str(), c.str()
	case kindTimestamp:
		st.MinValue = binary.LittleEndian.AppendUint64(nil, lo[1])
		st.MaxValue = binary.LittleEndian.AppendUint64(nil, hi[1])
	case kindDecimal:
		st.MinValue = be128(nil, lo)
		st.MaxValue = be128(nil, hi)
	}
	return st
}

func be128(dst []byte, v [2]uint64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, v[0])
	return binary.BigEndian.AppendUint64(dst, v[1])
}

func less(a, b [2]uint64) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

// lookup returns v's dictionary index, adding it if new.
func (c *colEnc) lookup(v [2]uint64) uint32 {
	mask := uint64(len(c.table) - 1)
	h := (v[1]*0x9E3779B97F4A7C15 ^ v[0]*0xC2B2AE3D27D4EB4F) >> 17
	for i := h & mask; ; i = (i + 1) & mask {
		e := c.table[i]
		if e == 0 {
			c.keys = append(c.keys, v)
			k := uint32(len(c.keys))
			c.table[i] = k
			if 2*len(c.keys) > len(c.table) {
				c.grow()
			}
			return k - 1
		}
		if c.keys[e-1] == v {
			return e - 1
		}
	}
}

func (c *colEnc) grow() {
	c.table = make([]uint32, 2*len(c.table))
	mask := uint64(len(c.table) - 1)
	for k, v := range c.keys {
		h := (v[1]*0x9E3779B97F4A7C15 ^ v[0]*0xC2B2AE3D27D4EB4F) >> 17
		i := h & mask
		for c.table[i] != 0 {
			i = (i + 1) & mask
		}
		c.table[i] = uint32(k + 1)
	}
}

// finish returns the row group's chunk of this column and resets for the
// next row group.
func (c *colEnc) finish() *chunk {
	c.flush()
	ch := &chunk{data: c.data, pages: c.pages, numValues: c.rows, dataUncompressed: c.dataRaw,
		dictPages: c.dictPages, plainPages: c.plainPages}
	if c.err != nil {
		ch.err = fmt.Errorf("snapshots: parquet column %s: %w", c.p.tmpl.Schema[1+c.col].Name, c.err)
		c.reset()
		return ch
	}
	ch.index = c.index
	ch.stats = c.stats(c.min, c.max, c.present > 0, int(c.nulls))
	switch c.kind {
	case kindString:
		ch.encodings = []format.Encoding{format.Plain, format.RLEDictionary}
		raw := binary.LittleEndian.AppendUint32(nil, uint32(len(c.str())))
		ch.dict, ch.dictUncompressed, ch.err = dictPage(c.z, append(raw, c.str()...), 1)
	case kindTimestamp:
		ch.encodings = []format.Encoding{format.Plain}
	case kindDecimal:
		ch.encodings = []format.Encoding{format.Plain, format.RLE, format.RLEDictionary}
		ch.defHist = []int64{c.nulls, c.present}
		raw := make([]byte, 0, 16*len(c.keys))
		for _, k := range c.keys {
			raw = be128(raw, k)
		}
		ch.dict, ch.dictUncompressed, ch.err = dictPage(c.z, raw, len(c.keys))
	}
	if c.rows == 0 {
		ch.dict = nil // no values: no dictionary either
	}
	c.reset()
	return ch
}

func dictPage(e *kzstd.Encoder, raw []byte, n int) (page []byte, uncompressed int64, err error) {
	z := e.EncodeAll(raw, nil)
	h := format.PageHeader{
		Type: format.DictionaryPage, UncompressedPageSize: int32(len(raw)), CompressedPageSize: int32(len(z)),
		CRC:                  int32(crc32.ChecksumIEEE(z)),
		DictionaryPageHeader: thrift.New(format.DictionaryPageHeader{NumValues: int32(n), Encoding: format.Plain}),
	}
	hb, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		return nil, 0, err
	}
	return append(hb, z...), int64(len(hb) + len(raw)), nil
}

// appendRun appends an RLE run of n definition levels (bit width 1).
func appendRun(dst []byte, n int, present bool) []byte {
	if n == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(n)<<1)
	if present {
		return append(dst, 1)
	}
	return append(dst, 0)
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

// appendBitPacked appends idx as one bit-packed run of width w, a
// multiple of 8 (the last group of 8 padded with zeros): LSB first, as the
// hybrid encoding wants, which for whole bytes is little-endian.
func appendBitPacked(dst []byte, idx []uint32, w int) []byte {
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
