package segment

import (
	"errors"
	"fmt"
	"io"

	"github.com/chronicle-archive/chronicle/vfs"
)

// Problem is one piece of damage VerifyStream found.
type Problem struct {
	Path   string
	Offset int64
	// Err is a *CorruptionError (wrapping a sentinel such as ErrChecksum),
	// or the error returned by the visit function.
	Err error
}

func (p Problem) Error() string {
	var ce *CorruptionError
	if errors.As(p.Err, &ce) && ce.Path == p.Path && ce.Offset == p.Offset {
		msg := fmt.Sprintf("%s: offset %d: %s", p.Path, p.Offset, errText(ce.Err))
		if ce.HasSeq {
			msg += fmt.Sprintf(" (seq %d)", ce.Seq)
		}
		return msg
	}
	return fmt.Sprintf("%s: offset %d: %v", p.Path, p.Offset, p.Err)
}

func (p Problem) Unwrap() error { return p.Err }

// VerifyReport summarizes a VerifyStream run.
type VerifyReport struct {
	Segments  int   // segment files checked
	Records   int64 // records found, PAD records and damaged ones included
	Pads      int64 // PAD records among them
	Bytes     int64 // uncompressed segment bytes checked
	DiskBytes int64 // bytes on disk: .q files, or .q.zst plus .idx, or .q.col
	Problems  []Problem
}

// OK reports whether no problem was found.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// VerifyStream checks every segment of dir completely: the set of ids
// (contiguous, no index without data), each segment header (magic,
// version, id, SEALED, reserved), every record (bounds, header fields,
// CRC, zero padding), seq contiguity across the whole stream (PAD records
// excepted), zero tails, and for a .q.zst its index (strictly, see
// ParseIndex) against its frames: the compressed sizes add up to the file,
// and each frame decodes to exactly its uncompressed_size; for a .q.col,
// its block index and every block (VerifyStreamWith, with a codec).
//
// visit, if not nil, is called with every intact non-PAD record, so that
// the caller can check what the format cannot: the payload, and the
// header fields no checksum covers (timestamp_ns, type_id). An error it
// returns is recorded as a Problem at that record's offset.
//
// Damage is collected in the report rather than returned: after damage
// that leaves record boundaries intact (a bad CRC, say) checking goes on
// with the next record; after damage to the framing it goes on with the
// next segment. The error is for I/O failures only.
func VerifyStream(dir string, fsys vfs.FS, visit func(Record) error) (*VerifyReport, error) {
	return VerifyStreamWith(dir, ReaderOptions{FS: fsys}, visit)
}

// VerifyStreamWith is VerifyStream with options: opts.Codec verifies .q.col
// segments, which are an error (ErrNoCodec) without it. opts.Decoders is
// not used.
func VerifyStreamWith(dir string, opts ReaderOptions, visit func(Record) error) (*VerifyReport, error) {
	fsys := vfs.OrDefault(opts.FS)
	if opts.Codec != nil {
		if err := checkCodec(opts.Codec); err != nil {
			return nil, err
		}
	}
	v := &verifier{rep: &VerifyReport{}, visit: visit, r: Reader{fs: fsys, dir: dir, codec: opts.Codec}}
	// Verify checks the .q bytes a .q.col restores, every CRC-32 included,
	// not just the records a reader gets (RecordDecoder).
	v.r.cs.exact = true
	defer func() {
		v.r.segs = nil // closed below, one by one
		v.r.Close()
	}()
	ls, err := listStream(fsys, dir)
	if err != nil {
		return v.rep, err
	}
	for i, l := range ls {
		if err := checkListed(dir, ls, i); err != nil {
			v.add(err)
			v.seqKnown = false
			if !l.q && !l.zst && !l.col {
				continue
			}
		}
		if err := checkColumnarSpec(dir, l.spec, opts.Codec); err != nil {
			return v.rep, err
		}
		sf := newSegFile(dir, l.spec)
		if err := v.r.openSegment(sf); err != nil {
			return v.rep, err
		}
		err = v.segment(sf)
		if cerr := sf.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return v.rep, err
		}
	}
	return v.rep, nil
}

type verifier struct {
	rep      *VerifyReport
	visit    func(Record) error
	r        Reader // for its scanner, sources and decoder
	seqKnown bool
	nextSeq  uint64
}

// add records damage: every problem the scanner listed for it, or err.
func (v *verifier) add(err error) {
	if len(v.r.sc.probs) > 0 && error(v.r.sc.probs[0]) == err {
		for _, ce := range v.r.sc.probs {
			v.rep.Problems = append(v.rep.Problems, Problem{Path: ce.Path, Offset: ce.Offset, Err: ce})
		}
		return
	}
	var ce *CorruptionError
	if errors.As(err, &ce) {
		v.rep.Problems = append(v.rep.Problems, Problem{Path: ce.Path, Offset: ce.Offset, Err: ce})
		return
	}
	v.rep.Problems = append(v.rep.Problems, Problem{Path: v.r.dir, Err: err})
}

// segment checks one segment; it returns only I/O errors.
func (v *verifier) segment(sf *segFile) error {
	rep := v.rep
	rep.Segments++
	rep.DiskBytes += sf.Size + sf.IndexSize
	r := &v.r
	r.segs = []*segFile{sf}
	err := r.enter(0, HeaderSize)
	if err != nil && !IsCorruption(err) {
		return err
	}
	if err != nil {
		v.add(err)
		if sf.err != nil {
			v.seqKnown = false
			return nil
		}
		if r.sc.dead != nil {
			return v.abandon(sf)
		}
	}
	rep.Bytes += sf.DataSize
	// Seq runs on from the previous segment.
	r.sc.seqKnown, r.sc.nextSeq = v.seqKnown, v.nextSeq
	for {
		rec, err := r.sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !IsCorruption(err) {
				return err
			}
			v.add(err)
			if r.sc.dead != nil {
				return v.abandon(sf)
			}
			rep.Records++
			continue
		}
		rep.Records++
		if rec.TypeID == TypePad {
			rep.Pads++
			continue
		}
		if v.visit != nil {
			if err := v.visit(rec); err != nil {
				rep.Problems = append(rep.Problems, Problem{Path: sf.Path, Offset: rec.Offset, Err: err})
			}
		}
	}
	v.seqKnown, v.nextSeq = r.sc.seqKnown, r.sc.nextSeq
	return nil
}

// abandon gives up on the records of a segment after fatal damage, but
// still checks the frames of a .q.zst (blocks of a .q.col) the scan did not
// reach.
func (v *verifier) abandon(sf *segFile) error {
	v.seqKnown = false
	var err error
	switch {
	case sf.Compressed:
		err = v.r.zs.checkRest()
	case sf.Columnar:
		err = v.r.cs.checkRest()
	}
	if err == nil {
		return nil
	}
	if !IsCorruption(err) {
		return err
	}
	v.add(err)
	return nil
}

// String is a one-line summary.
func (r *VerifyReport) String() string {
	return fmt.Sprintf("%d segments, %d records (%d pad), %d bytes (%d on disk), %d problems",
		r.Segments, r.Records, r.Pads, r.Bytes, r.DiskBytes, len(r.Problems))
}
