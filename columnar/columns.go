package columnar

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Column storage methods.
const (
	methodStored = 0
	methodZstd   = 1
)

// zstdLevel: SpeedDefault (zstd level 3's counterpart). Level 7's
// (SpeedBetterCompression), which the prototype measured, made files 0.3-0.6%
// smaller at a third more encode CPU; on the planes of small integers most
// columns are, it spends its time indexing the long matches.
const zstdLevel = zstd.SpeedDefault

// One encoder and one decoder for the process: EncodeAll and DecodeAll may
// be called concurrently, and creating them per call costs more than a
// small block. Each holds GOMAXPROCS block coders: EncodeAll takes one for
// the call, so with one the background encoders of import --compress
// would take turns.
var (
	zencOnce sync.Once
	zenc     *zstd.Encoder
	zdecOnce sync.Once
	zdec     *zstd.Decoder
)

func zstdEncoder() *zstd.Encoder {
	zencOnce.Do(func() {
		// The block CRC covers the frames: no zstd checksum.
		zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstdLevel), zstd.WithEncoderCRC(false),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithWindowSize(maxColumnsLen))
	})
	return zenc
}

func zstdDecoder() *zstd.Decoder {
	zdecOnce.Do(func() {
		zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderMaxMemory(maxColumnsLen), zstd.WithDecoderMaxWindow(maxColumnsLen))
	})
	return zdec
}

func zig(x int64) uint64   { return uint64(x<<1) ^ uint64(x>>63) }
func unzig(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// Column kinds.
const (
	kBytes = iota // bytes, verbatim
	kUint         // unsigned integers
	kInt          // signed integers (deltas), zigzag-coded
	kDelta        // kInt, stored as they are or differenced, whichever is smaller
	kKeyed        // kInt, stored as they are or as u2, whichever is smaller
)

// pow10[k] = 10^k, k ≤ 18: the exponents of integer columns (int64 holds
// 10^18).
var pow10 = func() (p [19]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// col is one column being built: bytes, or integers (kInt holds int64
// bits).
type col struct {
	kind uint8
	u    []uint64
	u2   []uint64 // kKeyed: the values less the same key's previous
	b    []byte
}

// inv5[k] is the inverse of 5^k modulo 2^64 and lim5[k] is MaxUint64/5^k:
// 10^k divides v when v's low k bits are 0 and (v>>k)*inv5[k] is at most
// lim5[k], and then v/10^k is (v>>k)*inv5[k] (for an int64, shifted
// arithmetically). Multiplies instead of a divide per value: the divides
// were a tenth of the encoder's CPU.
var inv5, lim5 = func() (inv, lim [19]uint64) {
	for k := range inv {
		a := pow10[k] >> k // 5^k
		x := a             // a*a ≡ 1 mod 8: right to 3 bits; each step doubles them
		for range 5 {
			x *= 2 - a*x
		}
		inv[k], lim[k] = x, ^uint64(0)/a
	}
	return inv, lim
}()

// divisor returns the largest k such that 10^k divides every value
// (nanosecond times from microseconds, mantissas with trailing zeros).
func divisor(vs []uint64, signed bool) int {
	k := len(pow10) - 1
	for _, v := range vs {
		if v == 0 {
			continue
		}
		if signed && int64(v) < 0 {
			v = -v // the same divisors; MinInt64 stays itself and is even
		}
		for k > 0 && (v&(1<<k-1) != 0 || (v>>k)*inv5[k] > lim5[k]) {
			k--
		}
		if k == 0 {
			break
		}
	}
	return k
}

// scratch holds an encoder's buffers for appendCol.
type scratch struct {
	raw, rawAlt, alt []byte
	diffs, stored    []uint64
	hist             [256]uint32
}

// appendCol appends the column: method u8, raw_len uvarint, stored_len
// uvarint, stored bytes. A kDelta column is its values as they are or
// differenced, whichever is smaller (appendSmaller).
func appendCol(dst []byte, c *col, s *scratch) []byte {
	switch c.kind {
	case kBytes:
		return appendRaw(dst, c.b)
	case kDelta:
		s.diffs = s.diffs[:0]
		var prev uint64
		for _, v := range c.u {
			s.diffs = append(s.diffs, v-prev)
			prev = v
		}
		return appendSmaller(dst, c.u, s.diffs, s)
	}
	if c.kind == kKeyed {
		return appendSmaller(dst, c.u, c.u2, s)
	}
	s.raw = rawIntsTo(s.raw[:0], c.u, c.kind == kInt, false, &s.stored)
	return appendRaw(dst, s.raw)
}

// appendSmaller appends the smaller column of vs as they are and alt (the
// values differenced). Both are compressed unless the order-0 entropy of
// their planes says by far (a quarter) which is smaller: compressing the
// loser too cost 6-7% of encode CPU (book and trades, issue 11), and on
// columns of hundreds of values so wide a gap is not reversed by zstd's
// matches (on the 10M-row book and 2M trades the choices were all the same).
func appendSmaller(dst []byte, vs, alt []uint64, s *scratch) []byte {
	start := len(dst)
	s.raw = rawIntsTo(s.raw[:0], vs, true, false, &s.stored)
	s.rawAlt = rawIntsTo(s.rawAlt[:0], alt, true, true, &s.stored)
	if len(vs) >= guessMin {
		a, b := planeBits(s.raw, &s.hist), planeBits(s.rawAlt, &s.hist)
		switch {
		case 4*a < 3*b:
			return appendRaw(dst, s.raw)
		case 4*b < 3*a:
			return appendRaw(dst, s.rawAlt)
		}
	}
	dst = appendRaw(dst, s.raw)
	if s.alt = appendRaw(s.alt[:0], s.rawAlt); len(s.alt) < len(dst)-start {
		dst = append(dst[:start], s.alt...)
	}
	return dst
}

// guessMin: columns shorter than this are compressed both ways.
const guessMin = 512

// planeBits estimates, in 1/256 bits, the order-0 entropy of the planes of
// raw integer column b (rawInts's form), each plane on its own: sum over
// byte values of count*log2(n/count).
func planeBits(b []byte, h *[256]uint32) uint64 {
	cnt, n := binary.Uvarint(b)
	w := int(b[n+2])
	p := b[n+3:]
	var total uint64
	for j := range w {
		clear(h[:])
		for _, x := range p[j*int(cnt) : (j+1)*int(cnt)] {
			h[x]++
		}
		ln := log2fp(cnt)
		for _, c := range h {
			if c != 0 {
				total += uint64(c) * (ln - log2fp(uint64(c)))
			}
		}
	}
	return total
}

// log2fp is log2(x) in 1/256 units, monotonic and within 0.09 bits: the
// bit length, then the next 8 bits of the mantissa read linearly
// (log2(1+f) ≈ f), which is enough to compare two estimates.
func log2fp(x uint64) uint64 {
	l := bits.Len64(x) - 1
	var f uint64
	if l >= 8 {
		f = (x >> (l - 8)) & 255
	} else {
		f = (x << (8 - l)) & 255
	}
	return uint64(l)<<8 | f
}

// rawInts appends the raw form of an integer column: count uvarint, delta
// u8 (1: the values are differences: in a kDelta column each from the one
// before, the first from 0; in a kKeyed column as the caller defines),
// exponent u8 (every value is a multiple of 10^exponent and is
// stored divided by it), width u8 (bytes of the largest stored value), then
// width planes of count bytes, least significant plane first: the high
// planes of small numbers are runs of zeros zstd removes. Signed values are
// zigzag-coded after the division.
func rawInts(dst []byte, vs []uint64, signed, delta bool) []byte {
	var tmp []uint64
	return rawIntsTo(dst, vs, signed, delta, &tmp)
}

// rawIntsTo is rawInts with *tmp as the buffer of the stored values. The
// planes are then filled one at a time from them, a tight loop each: a
// loop over values filling every plane was 5% of an import's CPU.
func rawIntsTo(dst []byte, vs []uint64, signed, delta bool, tmp *[]uint64) []byte {
	k := divisor(vs, signed)
	st := vs
	if signed || k > 0 {
		st = slices.Grow((*tmp)[:0], len(vs))[:len(vs)]
		*tmp = st
		inv := inv5[k]
		switch {
		case signed && k == 0:
			for i, v := range vs {
				st[i] = zig(int64(v))
			}
		case signed:
			for i, v := range vs { // v / 10^k, exact (inv5)
				st[i] = zig((int64(v) >> k) * int64(inv))
			}
		default:
			for i, v := range vs {
				st[i] = (v >> k) * inv
			}
		}
	}
	var or uint64
	for _, v := range st {
		or |= v
	}
	w := (bits.Len64(or) + 7) / 8
	dst = binary.AppendUvarint(dst, uint64(len(vs)))
	var d byte
	if delta {
		d = 1
	}
	dst = append(dst, d, byte(k), byte(w))
	n := len(st)
	start := len(dst)
	dst = slices.Grow(dst, w*n)[:start+w*n]
	for j := range w {
		p := dst[start+j*n : start+(j+1)*n]
		p = p[:len(st)]
		sh := uint(8 * j)
		for i, v := range st {
			p[i] = byte(v >> sh)
		}
	}
	return dst
}

// appendRaw appends a column of raw bytes, zstd-compressed unless that
// does not make it smaller.
func appendRaw(dst, raw []byte) []byte {
	start := len(dst)
	dst = append(dst, methodZstd)
	dst = binary.AppendUvarint(dst, uint64(len(raw)))
	// stored_len is at most raw_len: reserve its varint at raw_len's size.
	lenAt := len(dst)
	dst = binary.AppendUvarint(dst, uint64(len(raw)))
	lenSize := len(dst) - lenAt
	body := len(dst)
	if len(raw) > 0 {
		dst = zstdEncoder().EncodeAll(raw, dst)
	}
	if len(dst)-body >= len(raw) {
		dst = append(dst[:body], raw...)
		dst[start] = methodStored
	}
	stored := uint64(len(dst) - body)
	var v [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(v[:], stored)
	if n != lenSize { // shift the body to fit a shorter varint
		copy(dst[lenAt+n:], dst[body:])
		dst = dst[:len(dst)-(lenSize-n)]
	}
	copy(dst[lenAt:], v[:n])
	return dst
}

var errColumns = errors.New("malformed columns")

// zstdSlack: room past a column's end that lets klauspost's decoder copy
// literals and matches 16 or 32 bytes at a time up to that end (it wants
// 32, compressedBlockOverAlloc): without it, a frame's last block, most
// columns' only one, went through its bounds-exact copies (1-2% of a book
// block's decoding).
const zstdSlack = 64

// rcol reads one decoded column.
//
// An integer column is decoded whole into v when it is read (eager), or,
// when readCol is asked to, a chunk at a time as it is taken (lazy): a
// book block's prices and sizes, most of its values, decoded whole took
// more memory than the block itself (8 bytes a value, against the one or
// two of its planes), which left the caches on the way, and a short-lived
// process (book --at) paid a page fault for each 4 KiB of it. A lazy
// column is read with take only; next is for eager ones.
type rcol struct {
	b    []byte // bytes column
	ints bool
	// keyed: each value is a difference from the previous value of the
	// same key (see state.keyed).
	keyed bool
	pos   int      // the next byte of b, or the index of the next value
	n     int      // the integer column's values
	v     []uint64 // its values [base, base+len(v)) (kInt values as int64 bits)
	base  int

	// A lazy column's w byte planes, each value times mul, zigzag-coded
	// when signed, differenced when delta; acc is the last value decoded.
	lazy   bool
	planes []byte
	w      int
	mul    uint64
	signed bool
	delta  bool
	acc    uint64
}

// maxValues bounds the integers of one block's columns: each stands for at
// least one byte of the .q.
const maxValues = MaxBlockLen

// chunkVals is how many values of a lazy column are decoded at a time:
// a few KiB, which stay in L1 or L2 cache.
const chunkVals = 1024

// left is how many values of an integer column are still to be read.
func (c *rcol) left() int { return c.n - c.pos }

// take returns the next n values of an integer column, or false if fewer
// are left. The slice is valid until the next take.
func (c *rcol) take(n int) ([]uint64, bool) {
	if i := c.pos - c.base; n <= len(c.v)-i && n >= 0 {
		c.pos += n
		return c.v[i : i+n], true
	}
	if !c.fill(n) {
		return nil, false
	}
	c.pos += n
	return c.v[:n], true
}

// refill is fill returning v, nil if it fails; out of line so that its
// callers inline.
//
//go:noinline
func (c *rcol) refill(need int) []uint64 {
	if !c.fill(need) {
		return nil
	}
	return c.v
}

// fill moves the values of a lazy column not yet read to the front of v
// and decodes more after them, so that v holds at least need values from
// pos.
func (c *rcol) fill(need int) bool {
	if !c.lazy || need < 0 || need > c.left() {
		return false
	}
	next := c.base + len(c.v) // the first value not decoded
	kept := copy(c.v[:cap(c.v)], c.v[c.pos-c.base:])
	k := min(max(need-kept, chunkVals), c.n-next)
	c.v = slices.Grow(c.v[:kept], k)[:kept+k]
	var p []byte // width 0: no planes, all zero
	if c.w > 0 {
		p = c.planes[next:]
	}
	c.acc = decodeInts(c.v[kept:], p, c.n, c.w, c.mul, c.signed, c.delta, c.acc)
	c.base = c.pos
	return true
}

// readCol decodes the column at src, appending its bytes to buf (an eager
// integer column's values to vals; lazy ones keep their buffer in c), and
// returns the rest of src.
func readCol(src []byte, buf *[]byte, vals *[]uint64, c *rcol, kind uint8, lazy bool) ([]byte, error) {
	if len(src) < 1 {
		return nil, errColumns
	}
	method := src[0]
	src = src[1:]
	rawLen, n := binary.Uvarint(src)
	if n <= 0 {
		return nil, errColumns
	}
	src = src[n:]
	stored, n := binary.Uvarint(src)
	if n <= 0 || stored > uint64(len(src)-n) {
		return nil, errColumns
	}
	body := src[n : n+int(stored)]
	src = src[n+int(stored):]
	if rawLen > uint64(maxColumnsLen-len(*buf)) {
		return nil, errColumns
	}
	start := len(*buf)
	if need := start + int(rawLen); cap(*buf) < need {
		// Earlier columns keep the old array, which stays valid.
		nb := make([]byte, start, min(max(2*cap(*buf), need+zstdSlack), maxColumnsLen+zstdSlack))
		copy(nb, *buf)
		*buf = nb
	}
	switch method {
	case methodStored:
		if stored != rawLen {
			return nil, errColumns
		}
		*buf = append(*buf, body...)
	case methodZstd:
		// Into an empty slice at start, not after the earlier columns:
		// given a dst of nonzero length, the decoder bounds what the frame
		// may still produce by the room left rather than by its content
		// size, and the room then never exceeds it by the slack it wants.
		// The output must be in place (limitToCap: it never grows dst).
		end := start + int(rawLen)
		if cap(*buf)-end >= zstdSlack {
			end += zstdSlack
		}
		at := (*buf)[start:start:end]
		out, err := zstdDecoder().DecodeAll(body, at)
		if err != nil || len(out) != int(rawLen) || (rawLen > 0 && &out[0] != &at[:1][0]) {
			return nil, errColumns
		}
		*buf = (*buf)[:start+int(rawLen)]
	default:
		return nil, errColumns
	}
	raw := (*buf)[start:]
	*c = rcol{b: raw, v: c.v[:0]}
	if kind != kBytes {
		cnt, n := binary.Uvarint(raw)
		if n <= 0 || len(raw) < n+3 {
			return nil, errColumns
		}
		delta, k, w := raw[n], int(raw[n+1]), int(raw[n+2])
		p := raw[n+3:]
		if delta > 1 || (delta == 1 && kind != kDelta && kind != kKeyed) || k >= len(pow10) || w > 8 ||
			cnt > uint64(maxValues-len(*vals)) || uint64(len(p)) != cnt*uint64(w) {
			return nil, errColumns
		}
		signed, dl := kind != kUint, delta == 1 && kind == kDelta
		if lazy {
			*c = rcol{ints: true, keyed: delta == 1 && kind == kKeyed, n: int(cnt), v: c.v[:0], lazy: true,
				planes: p, w: w, mul: pow10[k], signed: signed, delta: dl}
		} else {
			*c = rcol{ints: true, keyed: delta == 1 && kind == kKeyed, n: int(cnt), v: unplane(vals, p, int(cnt), w, pow10[k], signed, dl)}
		}
	}
	return src, nil
}

// unplane appends the n integers of planes p (width w) to vals, undoing
// the zigzag coding, the division by mul and the differences, and returns
// them.
//
// The planes are gathered a group of up to four at a time, each group in
// one pass that loads a byte of every plane and stores each value once
// (a pass per plane, or-ing into the values, was a sixth of a compressed
// replay's CPU: a load, variable shift and store per byte); then one pass
// undoes the coding, specialized for the common cases.
func unplane(vals *[]uint64, p []byte, n, w int, mul uint64, signed, delta bool) []uint64 {
	start := len(*vals)
	*vals = slices.Grow(*vals, n)[:start+n]
	v := (*vals)[start:]
	decodeInts(v, p, n, w, mul, signed, delta, 0)
	return v
}

// decodeInts decodes into v the len(v) values whose w planes start at p,
// each plane stride bytes after the one before (unplane's coding), delta
// sums going on from prev; it returns the last value.
func decodeInts(v []uint64, p []byte, stride, w int, mul uint64, signed, delta bool, prev uint64) uint64 {
	if signed && mul == 1 && !delta && w <= 4 {
		gatherZig(v, p, stride, w)
		return prev
	}
	gather4(v, p, stride, min(w, 4), 0, false)
	if w > 4 {
		gather4(v, p[4*stride:], stride, w-4, 32, true)
	}
	switch {
	case !signed && mul == 1 && !delta:
	case signed && mul == 1 && !delta:
		for i, x := range v {
			v[i] = uint64(unzig(x))
		}
	case signed && mul == 1 && delta:
		for i, x := range v {
			prev += uint64(unzig(x))
			v[i] = prev
		}
	default:
		for i, x := range v {
			if signed {
				x = uint64(unzig(x) * int64(mul))
			} else {
				x *= mul
			}
			if delta {
				prev += x
				x = prev
			}
			v[i] = x
		}
	}
	return prev
}

// gather4 sets (or, with or, ors into) each v[i] the bytes i of the w ≤ 4
// planes of n bytes at p, shifted left by sh.
func gather4(v []uint64, p []byte, n, w int, sh uint, or bool) {
	switch w {
	case 0:
		if !or {
			clear(v)
		}
		return
	case 1:
		p0 := p[:len(v)]
		if !or {
			for i := range v {
				v[i] = uint64(p0[i])
			}
			return
		}
		for i := range v {
			v[i] |= uint64(p0[i]) << sh
		}
	case 2:
		p0, p1 := p[:len(v)], p[n:n+len(v)]
		if !or {
			for i := range v {
				v[i] = uint64(p0[i]) | uint64(p1[i])<<8
			}
			return
		}
		for i := range v {
			v[i] |= (uint64(p0[i]) | uint64(p1[i])<<8) << sh
		}
	case 3:
		p0, p1, p2 := p[:len(v)], p[n:n+len(v)], p[2*n:2*n+len(v)]
		if !or {
			for i := range v {
				v[i] = uint64(p0[i]) | uint64(p1[i])<<8 | uint64(p2[i])<<16
			}
			return
		}
		for i := range v {
			v[i] |= (uint64(p0[i]) | uint64(p1[i])<<8 | uint64(p2[i])<<16) << sh
		}
	default:
		p0, p1, p2, p3 := p[:len(v)], p[n:n+len(v)], p[2*n:2*n+len(v)], p[3*n:3*n+len(v)]
		if !or {
			for i := range v {
				v[i] = uint64(p0[i]) | uint64(p1[i])<<8 | uint64(p2[i])<<16 | uint64(p3[i])<<24
			}
			return
		}
		for i := range v {
			v[i] |= (uint64(p0[i]) | uint64(p1[i])<<8 | uint64(p2[i])<<16 | uint64(p3[i])<<24) << sh
		}
	}
}

// gatherZig sets each v[i] to the zigzag-decoded bytes i of the w ≤ 4
// planes of n bytes at p: gather4 and the pass undoing the coding in one,
// for a book block's prices (width 3 in a day of BTCUSDT).
func gatherZig(v []uint64, p []byte, n, w int) {
	switch w {
	case 0:
		clear(v)
	case 1:
		for i, x0 := range p[:len(v)] {
			v[i] = uint64(unzig(uint64(x0)))
		}
	case 2:
		p0, p1 := p[:len(v)], p[n:n+len(v)]
		for i := range v {
			v[i] = uint64(unzig(uint64(p0[i]) | uint64(p1[i])<<8))
		}
	case 3:
		p0, p1, p2 := p[:len(v)], p[n:n+len(v)], p[2*n:2*n+len(v)]
		for i := range v {
			v[i] = uint64(unzig(uint64(p0[i]) | uint64(p1[i])<<8 | uint64(p2[i])<<16))
		}
	default:
		p0, p1, p2, p3 := p[:len(v)], p[n:n+len(v)], p[2*n:2*n+len(v)], p[3*n:3*n+len(v)]
		for i := range v {
			v[i] = uint64(unzig(uint64(p0[i]) | uint64(p1[i])<<8 | uint64(p2[i])<<16 | uint64(p3[i])<<24))
		}
	}
}

// next returns the next integer of the column (a kInt column's as int64
// bits).
func (c *rcol) next() (uint64, bool) {
	if c.pos >= len(c.v) {
		return 0, false
	}
	c.pos++
	return c.v[c.pos-1], true
}

// bytes returns the next n bytes of a bytes column.
func (c *rcol) bytes(n int) ([]byte, bool) {
	if n < 0 || len(c.b)-c.pos < n {
		return nil, false
	}
	b := c.b[c.pos : c.pos+n]
	c.pos += n
	return b, true
}

func (c *rcol) done() bool {
	if c.ints {
		return c.pos == c.n
	}
	return c.pos == len(c.b)
}
