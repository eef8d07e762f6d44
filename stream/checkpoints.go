package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// maxCheckpointProblems caps the mismatches verify lists one by one: a
// checkpoint file from another stream would otherwise list every entry.
const maxCheckpointProblems = 10

// Index (re)writes the book checkpoints of an incremental_book_L2 stream,
// atomically (archive.Rewrite), every N events (<= 0: book.DefaultEvery)
// and at each segment start.
func Index(ctx context.Context, fsys vfs.FS, streamDir string, every int) error {
	fsys = vfs.OrDefault(fsys)
	if every <= 0 {
		every = book.DefaultEvery
	}
	return archive.Rewrite(ctx, fsys, filepath.Clean(streamDir), func(staging string, m *archive.Meta) error {
		if t, err := typeOf(m, streamDir); err != nil || t != record.BookEvent {
			if err == nil {
				err = fmt.Errorf("%s holds %s: only incremental_book_L2 streams have book checkpoints", streamDir, holds(m))
			}
			return err
		}
		if m.Made != nil {
			m.Made.CheckpointEvery = every
		}
		return buildCheckpoints(ctx, fsys, staging, every)
	})
}

// buildCheckpoints replays the events in dir (a staging directory, which
// has no meta.json yet) and writes its checkpoint file with the builder an
// import uses while writing, so both give the same bytes. Positions are
// record offsets in the uncompressed segments, so the file stays valid
// when the segments are compressed.
func buildCheckpoints(ctx context.Context, fsys vfs.FS, dir string, every int) error {
	evs, err := OpenStaging(fsys, dir)
	if err != nil {
		return err
	}
	defer evs.Close()
	b, err := book.NewBuilder(fsys, dir, every)
	if err != nil {
		return err
	}
	defer b.Abort()
	for n := 0; ; n++ {
		ev, err := evs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		rec := evs.Record()
		if err := b.Add(segment.Position{SegmentID: rec.SegmentID, Offset: rec.Offset}, ev); err != nil {
			return err
		}
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return b.Finish()
}

// verifyCheckpoints checks the stream's checkpoint file, if it has one: its
// structure (book.OpenCheckpointFile and each record's CRC and state), and
// that every checkpoint equals the state of a replay from the start at its
// position.
func verifyCheckpoints(fsys vfs.FS, dir string, rep *archive.StreamReport) {
	path := filepath.Join(dir, book.FileName)
	f, err := fsys.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		rep.Notes = append(rep.Notes, "no book checkpoints (book queries replay from the start; `chronicle index` writes them)")
		return
	}
	if err != nil {
		rep.Problem(path, 0, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		rep.Problem(path, 0, err)
		return
	}
	cf, err := book.OpenCheckpointFile(f, st.Size())
	if err != nil {
		rep.Problem(path, checkpointErrOffset(err), err)
		return
	}
	evs, err := OpenEvents(fsys, dir)
	if err != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("checkpoints not compared with a replay: %v", err))
		return
	}
	defer evs.Close()

	r := book.NewReplayer(book.Options{})
	var got, want book.Checkpoint
	bad, k := 0, 0
	report := func(off int64, format string, args ...any) {
		if bad < maxCheckpointProblems {
			rep.Problem(path, off, fmt.Errorf(format, args...))
		}
		bad++
	}
	// check compares checkpoint k with the replayer's state at (seg, off).
	check := func(seg uint32, off int64) {
		info := cf.Info(k)
		if err := cf.Load(k, &want); err != nil {
			report(checkpointErrOffset(err), "checkpoint %d: %w", k, err)
			return
		}
		r.Checkpoint(&got)
		got.SegmentID, got.Offset = seg, off
		if d := diffCheckpoint(&got, &want); d != "" {
			report(info.RecordOffset, "checkpoint %d at segment %d offset %d (after seq %d) does not match a replay: %s",
				k, info.SegmentID, info.Offset, info.Seq, d)
		}
	}
	for k < cf.Len() {
		ev, err := evs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			// The segment check reports the damage; past it nothing can be
			// compared.
			rep.Notes = append(rep.Notes, fmt.Sprintf("checkpoints %d.. not compared with a replay: the segments are damaged", k))
			return
		}
		rec := evs.Record()
		for ; k < cf.Len(); k++ {
			info := cf.Info(k)
			if info.SegmentID > rec.SegmentID || info.SegmentID == rec.SegmentID && info.Offset > rec.Offset {
				break
			}
			if info.SegmentID != rec.SegmentID || info.Offset != rec.Offset {
				report(info.RecordOffset, "checkpoint %d: segment %d offset %d is not the position of a record", k, info.SegmentID, info.Offset)
				continue
			}
			check(rec.SegmentID, rec.Offset)
		}
		r.Apply(ev) // as book.Builder: an event the book cannot apply is skipped
	}
	// Past the last record, a checkpoint may only sit at the end of the
	// last segment.
	segs := evs.Segments()
	for ; k < cf.Len(); k++ {
		info := cf.Info(k)
		if n := len(segs); n > 0 && info.SegmentID == segs[n-1].ID && info.Offset == segs[n-1].DataSize {
			check(info.SegmentID, info.Offset)
			continue
		}
		report(info.RecordOffset, "checkpoint %d: segment %d offset %d is past the end of the stream", k, info.SegmentID, info.Offset)
	}
	switch {
	case bad > maxCheckpointProblems:
		rep.Problem(path, -1, fmt.Errorf("%d more checkpoints do not match a replay", bad-maxCheckpointProblems))
	case bad == 0:
		rep.Checked = append(rep.Checked, fmt.Sprintf("%d checkpoints match a replay", cf.Len()))
	}
}

// diffCheckpoint describes the first difference between two checkpoints,
// "" if they are equal.
func diffCheckpoint(got, want *book.Checkpoint) string {
	type field struct {
		name      string
		got, want any
	}
	for _, f := range []field{
		{"position", [2]int64{int64(got.SegmentID), got.Offset}, [2]int64{int64(want.SegmentID), want.Offset}},
		{"seq", got.Seq, want.Seq},
		{"ingest_ts", got.IngestTS, want.IngestTS},
		{"exchange_ts", got.ExchangeTS, want.ExchangeTS},
		{"last event type", got.LastType, want.LastType},
		{"max ingest_ts", got.MaxIngestTS, want.MaxIngestTS},
		{"max exchange_ts", got.MaxExchangeTS, want.MaxExchangeTS},
		{"snapshot seen", got.SnapshotSeen, want.SnapshotSeen},
		{"stats", got.Stats, want.Stats},
		{"price scale", got.PriceScale, want.PriceScale},
		{"size scale", got.SizeScale, want.SizeScale},
	} {
		if f.got != f.want {
			return fmt.Sprintf("%s is %v, the replay has %v", f.name, f.want, f.got)
		}
	}
	if !slices.Equal(got.Bids, want.Bids) {
		return fmt.Sprintf("bids differ (%d levels, the replay has %d)", len(want.Bids), len(got.Bids))
	}
	if !slices.Equal(got.Asks, want.Asks) {
		return fmt.Sprintf("asks differ (%d levels, the replay has %d)", len(want.Asks), len(got.Asks))
	}
	return ""
}

// checkpointErrOffset extracts the file offset from a book checkpoint file
// error ("... at offset N: ..."; package book has no structured error), or
// -1.
func checkpointErrOffset(err error) int64 {
	msg := err.Error()
	const key = "at offset "
	i := strings.Index(msg, key)
	if i < 0 {
		return -1
	}
	rest := msg[i+len(key):]
	j := strings.IndexFunc(rest, func(c rune) bool { return c < '0' || c > '9' })
	if j < 0 {
		j = len(rest)
	}
	n, err := strconv.ParseInt(rest[:j], 10, 64)
	if err != nil {
		return -1
	}
	return n
}
