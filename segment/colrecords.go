package segment

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"
)

// RecordBlockFile is a BlockFile that can also decode its blocks for a
// reader of records rather than of the .q bytes, on several goroutines at
// once (columnar/colseg's does). The Reader uses it to read; VerifyStream,
// compression's round trip and decompression use DecodeBlock, the exact
// bytes.
type RecordBlockFile interface {
	BlockFile
	// NewRecordDecoder returns a decoder for one goroutine at a time;
	// the decoders of one file may run at once. It may take over the
	// buffers of old (nil, or a decoder of another file of the same
	// codec, which its caller uses no more).
	NewRecordDecoder(old RecordDecoder) RecordDecoder
}

// RecordDecoder decodes blocks of one RecordBlockFile.
type RecordDecoder interface {
	// DecodeRecords appends block i to dst as DecodeBlock does, except
	// that when it reports crcFree the checksum field of some records may
	// be 0 instead of their payload's CRC-32: the codec vouches that the
	// payloads are what was compressed (a checksum of its own over the
	// block, checked before decoding) and that the block is whole records,
	// each framed by its commit_len, whose other checksums match. The
	// scanner then skips comparing checksums in the block. Damage is
	// reported as by DecodeBlock.
	DecodeRecords(i int, dst []byte) (out []byte, crcFree bool, err error)
}

// recSource is colSource for a RecordBlockFile: blocks decode CRC-free
// (RecordDecoder) several ahead, on up to defaultDecoders() worker
// goroutines, and on the consuming goroutine too when the block it needs
// is not ready, so that on two cores the decoding is spread over both
// (zstSource does the same for a .q.zst; its invariants, repeated below,
// are the same). After a start the first streamingAfter blocks decode
// synchronously, and read-ahead begins when the reader asks for the next
// one: a reader that seeks and reads a block or two (replay.BookAt)
// decodes nothing it does not use.
//
// Workers never block: one takes a free buffer or exits, and release
// starts one again. So a Reader closed without stop leaks nothing: its
// workers run out of buffers and end.
type recSource struct {
	rf     RecordBlockFile
	blocks []BlockInfo
	path   string
	bufCap int // the largest block's length: run buffers never grow

	decoders int                // read-ahead goroutines (ReaderOptions.Decoders); 0: defaultDecoders
	own      RecordDecoder      // the consuming goroutine's
	decs     chan RecordDecoder // idle workers' decoders; a worker takes one
	workers  int

	cur, run  int
	exactNext bool      // the start was mid-block: the next block is checked (see next)
	startOff  int64     // the .q offset started at
	crcFree   bool      // of the block next returned last
	sync      [2][]byte // next's buffer, and decodeSync's
	spare     [][]byte

	r *recRun // the read-ahead, nil when none
}

// recRun is one read-ahead, from launch to stop. Block i's result goes to
// slots[i%len(slots)]; blocks are claimed in order (claim) by whoever holds
// a free buffer. As there are len(slots) buffers, the blocks claimed and
// not delivered have distinct slots, each empty when its block is put.
type recRun struct {
	s         *recSource // its read-only fields
	claim     atomic.Int64
	delivered int // the consumer's
	free      chan []byte
	slots     []chan recBlock
	bufs      []*byte // the run's buffers, for release to recognize
	stopping  atomic.Bool
	wg        sync.WaitGroup
}

type recBlock struct {
	b       []byte // the buffer
	out     []byte // nil on error
	crcFree bool
	err     error
}

func (s *recSource) init(rf RecordBlockFile, path string) {
	s.stop()
	blocks := rf.Blocks()
	// The same file gives the same index (not compared as interfaces: a
	// RecordBlockFile need not be comparable).
	if s.own == nil || len(blocks) != len(s.blocks) || unsafe.SliceData(blocks) != unsafe.SliceData(s.blocks) {
		// A Reader enters a segment at every seek: the decoders are kept
		// while the file stays the same, and their buffers when it
		// changes (a few MiB each: allocating them for each segment of
		// a replay was a tenth of its allocation).
		s.own = rf.NewRecordDecoder(s.own)
		old := s.decs
		s.workers = s.decoders
		if s.workers <= 0 {
			s.workers = defaultDecoders()
		}
		s.decs = make(chan RecordDecoder, s.workers)
		for range s.workers {
			var d RecordDecoder
			select {
			case d = <-old: // all idle: stopped
			default:
			}
			s.decs <- rf.NewRecordDecoder(d)
		}
	}
	s.rf, s.blocks, s.path = rf, blocks, path
	s.bufCap = 0
	for _, b := range s.blocks {
		s.bufCap = max(s.bufCap, int(b.QLen))
	}
	s.cur, s.run = 0, 0
}

func (s *recSource) start(off int64) {
	s.stop()
	s.cur, s.run = findBlock(s.blocks, off), 0
	s.exactNext = s.cur < len(s.blocks) && s.blocks[s.cur].QOffset != off
	s.startOff = off
}

// decodeBuf decodes block i into buf with d, or with exact exactly, with
// the file's own decoder (no run is going then): the scanner then checks
// the checksums of the records it takes there, as it would in a .q. That
// is how a block started in the middle (a seek) at an offset that is not a
// record boundary is decoded (next).
func (s *recSource) decodeBuf(d RecordDecoder, i int, buf []byte, exact bool) recBlock {
	var b []byte
	var free bool
	var err error
	if exact {
		b, err = s.rf.DecodeBlock(i, buf[:0])
	} else {
		b, free, err = d.DecodeRecords(i, buf[:0])
	}
	if err != nil {
		// buf, not what the codec returned: a run knows its buffers by
		// their arrays.
		return recBlock{b: buf[:0], err: codecDamage(err, s.path, fmt.Sprintf("block %d", i))}
	}
	if e := s.blocks[i]; int64(len(b)) != e.QLen {
		return recBlock{b: b[:0], err: &CorruptionError{Path: s.path, Offset: e.CompOffset,
			Err: detailf(ErrBlock, "block %d decodes to %d bytes, its index entry says %d", i, len(b), e.QLen)}}
	}
	return recBlock{b: b[:0], out: b, crcFree: free}
}

func (s *recSource) next() ([]byte, int64, error) {
	if s.cur >= len(s.blocks) {
		return nil, 0, io.ErrUnexpectedEOF
	}
	// Read-ahead starts with the block after the first streamingAfter:
	// a reader that takes no more decodes nothing it does not use.
	if s.r == nil && s.run >= streamingAfter && !s.exactNext {
		s.launch()
	}
	s.run++
	i := s.cur
	s.cur++ // a bad block too: checkRest goes on after it
	var blk recBlock
	if s.r != nil {
		blk = s.r.get(i)
		if blk.err != nil {
			s.r.put(blk.b) // a failed block's buffer goes back now
		}
	} else {
		// One buffer: the scanner is done with the block before it asks
		// for the next (what a record refers to is valid until the next
		// call, as with a .q's mapped window), and a book --at touches
		// every page of each buffer for the first time.
		blk = s.decodeBuf(s.own, i, s.sync[0], false)
		if s.exactNext && blk.err == nil && blk.crcFree && !recordAt(blk.out, s.startOff-s.blocks[i].QOffset) {
			// Not a record boundary: decoded exactly, the scanner checks
			// the checksums there and says what is wrong, as in a .q.
			blk = s.decodeBuf(s.own, i, blk.b, true)
		}
		s.sync[0] = blk.b
		s.exactNext = false
	}
	s.crcFree = blk.crcFree
	return blk.out, s.blocks[i].QOffset, blk.err
}

// recordAt reports whether a record of the decoded block b starts at off:
// the records are followed from the block's start by their commit_len. A
// block decoded for records has no record checksums to catch a seek into
// the middle of a record; its framing is the decoder's own, so following
// it is as good as the checks of a .q's records. It is a hop per record,
// against a second, exact decode of the block (a sixth of a compressed
// book --at's CPU).
func recordAt(b []byte, off int64) bool {
	at := int64(0)
	for at < off {
		if int64(len(b))-at < HeaderSize {
			return false
		}
		c := int64(binary.LittleEndian.Uint32(b[at:]))
		if c == 0 {
			return false
		}
		at += recordLen(c - 1)
	}
	return at == off
}

// decodeSync decodes block i synchronously (the reader reads segment
// headers with it).
func (s *recSource) decodeSync(i int) ([]byte, error) {
	s.stop()
	blk := s.decodeBuf(s.own, i, s.sync[1], true)
	s.sync[1] = blk.b
	return blk.out, blk.err
}

// launch starts the read-ahead at block cur, which the caller takes next.
func (s *recSource) launch() {
	n := 2*s.workers + 2 // as zstSource's nbuf: per worker one decoding and one done, one the consumer decodes, one the scanner holds
	r := &recRun{s: s, delivered: s.cur, free: make(chan []byte, n), slots: make([]chan recBlock, n)}
	r.claim.Store(int64(s.cur))
	for k := range r.slots {
		r.slots[k] = make(chan recBlock, 1)
		var b []byte
		for len(s.spare) > 0 && b == nil {
			// One smaller than this file's blocks would have to grow,
			// and the run would not know it.
			if b, s.spare = s.spare[len(s.spare)-1], s.spare[:len(s.spare)-1]; cap(b) < s.bufCap {
				b = nil
			}
		}
		if b == nil {
			b = make([]byte, 0, s.bufCap)
		}
		r.bufs = append(r.bufs, unsafe.SliceData(b[:1]))
		r.free <- b
	}
	s.r = r
	for range s.workers {
		r.spawn()
	}
}

// spawn starts a worker if one is idle.
func (r *recRun) spawn() {
	select {
	case d := <-r.s.decs:
		r.wg.Add(1)
		go r.work(d)
	default:
	}
}

func (r *recRun) work(d RecordDecoder) {
	for !r.stopping.Load() {
		var buf []byte
		select {
		case buf = <-r.free:
		default:
			r.exit(d) // release starts another
			return
		}
		i := int(r.claim.Add(1) - 1)
		if i >= len(r.s.blocks) {
			r.free <- buf // cannot block: there are len(slots) buffers
			break
		}
		r.slots[i%len(r.slots)] <- r.s.decodeBuf(d, i, buf, false) // cannot block: see recRun
	}
	r.exit(d)
}

func (r *recRun) exit(d RecordDecoder) {
	r.s.decs <- d // cannot block: one per worker
	r.wg.Done()
}

// get returns block i, the next undelivered one. While it is not ready,
// the consumer decodes the next unclaimed block itself.
func (r *recRun) get(i int) recBlock {
	slot := r.slots[i%len(r.slots)]
	for {
		select {
		case blk := <-slot:
			r.delivered++
			return blk
		default:
		}
		if !r.help() {
			// Block i is claimed, or a worker holding a buffer will claim
			// it: nothing after it holds one until it is.
			blk := <-slot
			r.delivered++
			return blk
		}
	}
}

// help decodes the next unclaimed block on the consumer's goroutine, if a
// buffer is free and the block's slot is certainly empty (less than
// len(slots) ahead of the one get waits for). It reports whether it did.
func (r *recRun) help() bool {
	var buf []byte
	select {
	case buf = <-r.free:
	default:
		return false
	}
	for {
		c := r.claim.Load()
		if int(c) >= len(r.s.blocks) || int(c)-r.delivered >= len(r.slots) {
			r.free <- buf
			return false
		}
		if r.claim.CompareAndSwap(c, c+1) {
			i := int(c)
			r.slots[i%len(r.slots)] <- r.s.decodeBuf(r.s.own, i, buf, false)
			return true
		}
	}
}

// put hands a buffer of the run back and wakes a worker for it.
func (r *recRun) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	p := unsafe.SliceData(b[:1])
	for _, q := range r.bufs {
		if q == p {
			r.free <- b[:0] // cannot block: there are len(slots) buffers
			r.spawn()
			return
		}
	}
	// Not one of this run's: a synchronous decode's, or a previous run's.
}

func (s *recSource) release(b []byte) {
	if s.r != nil {
		s.r.put(b)
	}
}

// stop ends the read-ahead and keeps its buffers not held elsewhere.
func (s *recSource) stop() {
	r := s.r
	if r == nil {
		return
	}
	r.stopping.Store(true)
	r.wg.Wait()
	s.r = nil
	for {
		select {
		case b := <-r.free:
			s.spare = append(s.spare, b)
			continue
		default:
		}
		break
	}
	for _, slot := range r.slots {
		select {
		case blk := <-slot:
			s.spare = append(s.spare, blk.b[:0])
		default:
		}
	}
}

// checkRest decodes the blocks not yet returned, exactly (VerifyStream).
func (s *recSource) checkRest() error {
	s.stop()
	for s.cur < len(s.blocks) {
		i := s.cur
		s.cur++
		if _, err := s.decodeSync(i); err != nil {
			return err
		}
	}
	return nil
}
