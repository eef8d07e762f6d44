// Package replay rebuilds the L2 book of an archived stream: event by event
// over a time range (Open, Stream.Next), or at one moment (BookAt). It uses
// the stream's book checkpoints (checkpoints.ckpt, written by import and
// `chronicle index`) to start near the requested time instead of at the
// beginning; the result is the same with or without them.
//
// # Time bounds
//
// A stream is in file order, which is ingest (local) time order in Tardis
// data, but neither timeline is guaranteed to be monotonic: exchange time in
// particular goes backwards now and then. Bounds are therefore defined on
// the running maximum of the chosen timeline, M(i) = max(ts(0), ..., ts(i)),
// which never decreases, so every bound selects a contiguous run of events:
//
//   - BookAt(t) applies the longest prefix of events whose timestamps are
//     all <= t (the events with M(i) <= t): it stops at the first event
//     later than t, even if events after it are earlier again.
//   - Open with From applies, silently, the longest prefix of events all
//     earlier than From; Next returns events from the first one at or after
//     From. Next returns io.EOF at the first event at or after To. So Next
//     returns exactly the events with From <= M(i) < To; on a non-monotonic
//     timeline some of them can have ts(i) < From.
//
// On a monotonic timeline this is simply ts in [From, To) and ts <= t. The
// same rule is book.CheckpointFile.Find's (max-so-far timestamps), which is
// what lets a checkpoint stand in for the prefix before it.
package replay

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Options configures Open and BookAt.
type Options struct {
	FS vfs.FS // nil: vfs.Default
	// From and To bound the events Next returns, in ns since the epoch on
	// the chosen timeline; 0 means unbounded. See the package comment for
	// non-monotonic time. BookAt ignores them.
	From, To uint64
	// ExchangeTime bounds on exchange_ts instead of ingest (local) ts.
	ExchangeTime bool
	// Strict is book.Options.Strict: Next returns a *book.GapError or
	// *book.CrossedError (after applying the event). Events applied
	// silently (before From, or by BookAt) never stop on them: whether they
	// would be seen depends on where a checkpoint starts. Stats count them
	// either way.
	Strict bool
	// NoCheckpoints replays from the start even if checkpoints.ckpt exists.
	NoCheckpoints bool
}

// Stream replays a stream's events into a book. It is not safe for
// concurrent use.
type Stream struct {
	o    Options
	dir  string
	evs  *stream.Events
	rep  *book.Replayer
	ckpt *book.CheckpointFile // nil without checkpoints
	// ckptCheck is ckpt's file, hashed in the background: nothing read
	// from it is trusted before its Check (see checked).
	ckptCheck *archive.ListedFile
	pending   *protocol.Event // read but not applied yet (beyond a bound)
	lastTS    uint64          // of the last applied event, on the chosen timeline
}

// Open opens the stream in dir. With From > 0 and a checkpoint file, it
// restores the last checkpoint at or before From (book.CheckpointFile.Find:
// max-so-far timestamps), seeks the reader there and applies events
// silently up to the first event at or after From; without checkpoints it
// does the same from the start of the stream.
//
// A checkpoint file that is not the one meta.json lists (another
// stream's, damaged), or that does not fit the stream, is a
// *segment.CorruptionError naming it, as is a damaged record.
func Open(dir string, o Options) (*Stream, error) {
	s, err := open(dir, o)
	if err != nil {
		return nil, err
	}
	if o.From > 0 {
		err = s.advance(o.From - 1)
	}
	if err := s.checked(err); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// BookAt returns the book after every event at or before t: the longest
// prefix of events whose timestamps (on the chosen timeline) are all <= t,
// using checkpoints when present. lastTS is the timestamp of the last
// applied event on that timeline (0 if none). o.From, o.To and o.Strict are
// ignored.
func BookAt(dir string, t uint64, o Options) (b *book.Book, lastTS uint64, err error) {
	o.From, o.To, o.Strict = 0, 0, false
	s, err := open(dir, o)
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	if err := s.checked(s.advance(t)); err != nil {
		return nil, 0, err
	}
	// The replayer (and its book) is not used after Close.
	return s.rep.Book(), s.lastTS, nil
}

// open opens the segments and, unless disabled, the checkpoint file, both
// of one version of the stream: the checkpoints must be the ones meta.json
// lists (stream.Events.OpenCheckpoints; checked says whether they are); a
// --force import that replaces the stream in between makes it try again.
func open(dir string, o Options) (*Stream, error) {
	fsys := vfs.OrDefault(o.FS)
	for attempt := 0; ; attempt++ {
		evs, err := stream.OpenEvents(fsys, dir)
		if err != nil {
			return nil, err
		}
		s := &Stream{o: o, dir: dir, evs: evs, rep: book.NewReplayer(book.Options{Strict: o.Strict})}
		if o.NoCheckpoints {
			return s, nil
		}
		s.ckpt, s.ckptCheck, err = evs.OpenCheckpoints()
		if err == nil {
			return s, nil
		}
		s.Close()
		if !errors.Is(err, segment.ErrReplaced) || attempt == 2 {
			return nil, err
		}
	}
}

// checked returns err, unless the checkpoint file turns out not to be the
// one meta.json lists: then that, which explains any other error. Its hash
// is computed while the replay runs (it was 1-2 ms of a book --at), and
// this waits for it: every result of Open and BookAt goes through here.
func (s *Stream) checked(err error) error {
	if s.ckptCheck != nil {
		if cerr := s.ckptCheck.Check(); cerr != nil {
			return cerr
		}
	}
	return err
}

func (s *Stream) ts(ev *protocol.Event) uint64 {
	if s.o.ExchangeTime {
		return ev.ExchangeTS
	}
	return ev.IngestTS
}

// advance applies, silently, every event up to (not including) the first
// whose timestamp is > t, which it keeps pending. It starts from the best
// checkpoint when there is one. Only a fresh stream may advance.
func (s *Stream) advance(t uint64) error {
	restored := false
	var want uint64 // seq of the first event after the checkpoint
	if s.ckpt != nil {
		var err error
		restored, want, err = s.restore(t)
		// The replay has read all it needs of the checkpoint file: it is
		// hashed while the replay runs (see checked).
		s.ckptCheck.Start()
		if err != nil {
			return err
		}
	}
	for {
		ev, err := s.evs.Next()
		if restored {
			restored = false
			// The checkpoint file is this stream's (its manifest entry
			// says so), yet it points at another record: it is damaged.
			if err == nil && ev.Seq != want {
				return s.badCheckpoint(fmt.Errorf("its position holds seq %d, want %d", ev.Seq, want))
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if s.ts(ev) > t {
			s.pending = ev
			return nil
		}
		// Silently applied events do not stop the replay: Strict errors are
		// in Stats, and an event the book cannot apply leaves it unchanged,
		// as when the checkpoints were built (so the book is the same with or
		// without them).
		s.apply(ev)
	}
}

// restore loads the last checkpoint at or before t and seeks there. It
// reports whether it did, and the seq the next event must have. A
// checkpoint that cannot be used is damage to the checkpoint file.
func (s *Stream) restore(t uint64) (ok bool, want uint64, err error) {
	i, found := s.ckpt.Find(t, s.o.ExchangeTime)
	if !found {
		return false, 0, nil
	}
	var cp book.Checkpoint
	if err := s.ckpt.Load(i, &cp); err != nil {
		return false, 0, s.badCheckpoint(err)
	}
	if cp.Stats.Events == 0 {
		return false, 0, nil // the state at the start: nothing to skip
	}
	if err := s.evs.Seek(cp.SegmentID, cp.Offset); err != nil {
		if segment.IsCorruption(err) {
			return false, 0, err // the segment itself is damaged
		}
		return false, 0, s.badCheckpoint(fmt.Errorf("checkpoint %d: %w", i, err))
	}
	if err := s.rep.Restore(&cp); err != nil {
		return false, 0, s.badCheckpoint(fmt.Errorf("checkpoint %d: %w", i, err))
	}
	if s.o.ExchangeTime {
		s.lastTS = cp.ExchangeTS
	} else {
		s.lastTS = cp.IngestTS
	}
	return true, cp.Seq + 1, nil
}

// badCheckpoint reports a checkpoint file that does not fit its stream.
func (s *Stream) badCheckpoint(err error) error {
	return &segment.CorruptionError{Path: filepath.Join(s.dir, book.FileName), Offset: -1, Err: err}
}

func (s *Stream) apply(ev *protocol.Event) error {
	err := s.rep.Apply(ev)
	if err == nil || isStrict(err) {
		s.lastTS = s.ts(ev) // applied (strict errors come after applying)
	}
	return err
}

// isStrict reports whether err is a Strict-mode error (*book.GapError,
// *book.CrossedError or both joined): the event was applied.
func isStrict(err error) bool {
	var g *book.GapError
	var c *book.CrossedError
	return errors.As(err, &g) || errors.As(err, &c)
}

// Next applies the next event to the book and returns it; the event is
// valid until the next call. It returns io.EOF at the end of the stream and
// at the first event whose timestamp is >= To (which is not applied; later
// calls return io.EOF again). With Strict, a *book.GapError or
// *book.CrossedError is returned together with the event, after it has been
// applied; Next may be called again to go on. Any other error (a damaged
// record: *segment.CorruptionError; an event the book cannot apply) comes
// with a nil event, and the book is unchanged.
func (s *Stream) Next() (*protocol.Event, error) {
	ev := s.pending
	if ev == nil {
		var err error
		if ev, err = s.evs.Next(); err != nil {
			return nil, err
		}
	}
	if s.o.To > 0 && s.ts(ev) >= s.o.To {
		s.pending = ev
		return nil, io.EOF
	}
	s.pending = nil
	if err := s.apply(ev); err != nil {
		if isStrict(err) {
			return ev, err
		}
		return nil, err
	}
	return ev, nil
}

// Book returns the book as of the last event applied. Read it, do not
// change it; it is valid until Close.
func (s *Stream) Book() *book.Book { return s.rep.Book() }

// Stats returns the replay statistics since the start of the stream (a
// restored checkpoint carries the counts of the events before it).
func (s *Stream) Stats() book.Stats { return s.rep.Stats() }

// LastTS returns the timestamp, on the chosen timeline, of the last event
// applied (0 if none).
func (s *Stream) LastTS() uint64 { return s.lastTS }

// Meta is the stream's meta.json, of the version being read.
func (s *Stream) Meta() *archive.Meta { return s.evs.Meta() }

// Close closes the stream's files.
func (s *Stream) Close() error {
	if s.ckptCheck != nil {
		s.ckptCheck.Close()
	}
	return s.evs.Close()
}
