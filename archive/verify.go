package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// StreamReport is what Verify found in one stream.
type StreamReport struct {
	Dir      string
	Segments int
	Events   int64
	Levels   int64
	Bytes    int64    // on disk, all files
	Checked  []string // what was checked and held
	Notes    []string // not damage, but worth saying
	Problems []segment.Problem
}

// OK reports whether no problem was found.
func (r *StreamReport) OK() bool { return len(r.Problems) == 0 }

// ProblemKind is the problems of one kind in a report: one edited field
// can make every record of a stream wrong in the same way.
type ProblemKind struct {
	Count int
	First []segment.Problem // the first MaxPlaces, in the order found
}

// MaxPlaces is how many places of one kind of problem Summary keeps.
const MaxPlaces = 5

// Summary groups the problems by kind (the message with its numbers left
// out), in the order each kind was first found.
func (r *StreamReport) Summary() []ProblemKind {
	var out []ProblemKind
	index := map[string]int{}
	for _, p := range r.Problems {
		k := problemKey(p.Err.Error())
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, ProblemKind{})
		}
		out[i].Count++
		if len(out[i].First) < MaxPlaces {
			out[i].First = append(out[i].First, p)
		}
	}
	return out
}

// problemKey drops the digits of a message: "seq 7, want 5" and "seq 9,
// want 8" are one kind.
func problemKey(msg string) string {
	return strings.Map(func(c rune) rune {
		if c >= '0' && c <= '9' {
			return -1
		}
		return c
	}, msg)
}

func (r *StreamReport) problem(path string, off int64, format string, args ...any) {
	r.Problems = append(r.Problems, segment.Problem{Path: path, Offset: off, Err: fmt.Errorf(format, args...)})
}

// FindStreams returns the stream directories at or below path: a directory
// holding meta.json or segment files. Staging and other dot directories
// are skipped.
func FindStreams(fsys vfs.FS, path string) ([]string, error) {
	fsys = vfs.OrDefault(fsys)
	var out []string
	var walk func(dir string) error
	walk = func(dir string) error {
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			return err
		}
		isStream := false
		var subdirs []string
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() {
				if !strings.HasPrefix(name, ".") {
					subdirs = append(subdirs, name)
				}
				continue
			}
			if _, _, ok := segment.ParseName(name); ok || name == MetaName {
				isStream = true
			}
		}
		if isStream {
			out = append(out, dir)
			return nil
		}
		for _, s := range subdirs {
			if dir == path && s == "imports" {
				continue
			}
			if err := walk(filepath.Join(dir, s)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(filepath.Clean(path)); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// VerifyStream checks one stream completely: the manifest (size and blake3
// of every file), every segment and record (via segment.VerifyStream), the
// BookEvent layout and sequence of every payload, meta.json's counts and
// the ledger's counts against the data, and the checkpoints against a
// replay.
//
// A verify that overlaps a --force import or a compress reads one version
// of the stream, not parts of both (see readStable).
func VerifyStream(fsys vfs.FS, dir string) (*StreamReport, error) {
	fsys = vfs.OrDefault(fsys)
	return readStable(fsys, dir, func() (*StreamReport, error) { return verifyOnce(fsys, dir) }, nil)
}

func verifyOnce(fsys vfs.FS, dir string) (*StreamReport, error) {
	rep := &StreamReport{Dir: dir}
	metaPath := filepath.Join(dir, MetaName)
	m, err := ReadMeta(fsys, dir)
	if err != nil {
		rep.problem(metaPath, 0, "%v", err)
		m = nil
	}
	if m != nil {
		verifyManifest(fsys, dir, m, rep)
		verifyCompressed(fsys, dir, m, rep)
	}

	var (
		ev      protocol.Event
		nextSeq uint64
		minTS   uint64
		maxTS   uint64
		groups  int64
		lastTS  uint64
	)
	visit := func(rec segment.Record) error {
		if rec.TypeID != protocol.TypeBookEvent {
			return fmt.Errorf("type_id 0x%04x, want BookEvent 0x1000", rec.TypeID)
		}
		if err := protocol.DecodeEvent(rec.Payload, &ev); err != nil {
			return err
		}
		if ev.Seq != nextSeq {
			want := nextSeq
			nextSeq = ev.Seq + 1 // resynchronise: report a gap once
			return fmt.Errorf("event seq %d, want %d", ev.Seq, want)
		}
		// Count the event before checking its fields: one wrong field is
		// one problem, not also a seq gap and wrong counts after it.
		if rep.Events == 0 || ev.IngestTS < minTS {
			minTS = ev.IngestTS
		}
		if rep.Events == 0 || ev.IngestTS != lastTS {
			groups++
		}
		lastTS = ev.IngestTS
		maxTS = max(maxTS, ev.IngestTS)
		nextSeq = ev.Seq + 1
		rep.Events++
		rep.Levels += int64(len(ev.Bids) + len(ev.Asks))
		switch {
		case rec.Seq != ev.Seq:
			return fmt.Errorf("message seq %d but event seq %d", rec.Seq, ev.Seq)
		case ev.NativeSeq != ev.Seq:
			return fmt.Errorf("native_seq %d differs from seq %d", ev.NativeSeq, ev.Seq)
		case rec.Timestamp != ev.IngestTS:
			return fmt.Errorf("message timestamp %d but ingest_ts %d", rec.Timestamp, ev.IngestTS)
		case m != nil && (ev.VenueID != m.VenueID || ev.MarketID != m.MarketID):
			return fmt.Errorf("venue_id/market_id %d/%d, meta.json says %d/%d", ev.VenueID, ev.MarketID, m.VenueID, m.MarketID)
		case ev.Type == protocol.Diff && (ev.DiffFlags != protocol.FlagAbsolute || ev.UpdateIDFirst != ev.Seq || ev.UpdateIDLast != ev.Seq || ev.UpdateIDPrev != max(ev.Seq, 1)-1):
			return fmt.Errorf("diff flags/update ids %d/%d/%d/%d do not follow seq %d", ev.DiffFlags, ev.UpdateIDFirst, ev.UpdateIDLast, ev.UpdateIDPrev, ev.Seq)
		case ev.Type != protocol.Diff && ev.Type != protocol.Snapshot:
			return fmt.Errorf("event_type %v in an L2 import", ev.Type)
		}
		return nil
	}
	sr, err := segment.VerifyStream(dir, fsys, visit)
	if err != nil {
		return nil, err
	}
	rep.Segments = sr.Segments
	rep.Problems = append(rep.Problems, sr.Problems...)
	if len(sr.Problems) == 0 {
		rep.Checked = append(rep.Checked, fmt.Sprintf("%d segments: headers, seal flags, record bounds, %d CRCs, zero padding, block indexes", sr.Segments, sr.Records))
		rep.Checked = append(rep.Checked, fmt.Sprintf("%d BookEvents: layout, seq 0..%d contiguous, timestamps, venue/market ids", rep.Events, max(rep.Events, 1)-1))
	}
	if m == nil {
		return rep, nil
	}
	counts := []struct {
		what      string
		meta, got int64
	}{
		{"events", m.Events, rep.Events},
		{"rows (levels)", m.Rows, rep.Levels},
		{"segments", int64(m.Segments), int64(rep.Segments)},
		{"groups", m.Groups, groups},
	}
	countsOK := len(sr.Problems) == 0
	for _, c := range counts {
		if c.meta != c.got && len(sr.Problems) == 0 {
			rep.problem(metaPath, 0, "meta.json says %d %s, the data has %d", c.meta, c.what, c.got)
			countsOK = false
		}
	}
	if len(sr.Problems) == 0 {
		switch r := m.EventTimeRange; {
		case r == nil && rep.Events > 0, r != nil && (r[0] != minTS || r[1] != maxTS):
			rep.problem(metaPath, 0, "meta.json event_time_range %v does not match the data [%d %d]", r, minTS, maxTS)
			countsOK = false
		}
	}
	if countsOK {
		rep.Checked = append(rep.Checked, "meta.json counts and time range match the data")
	}
	verifyLedger(fsys, dir, m, rep, groups, minTS, maxTS)
	verifyCheckpoints(fsys, dir, rep)
	return rep, nil
}

func verifyManifest(fsys vfs.FS, dir string, m *Meta, rep *StreamReport) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		rep.problem(dir, 0, "%v", err)
		return
	}
	listed := map[string]FileEntry{}
	for _, f := range m.Files {
		listed[f.Name] = f
	}
	ok := true
	for _, e := range ents {
		name := e.Name()
		if info, err := e.Info(); err == nil {
			rep.Bytes += info.Size()
		}
		if name == MetaName || strings.HasSuffix(name, ".tmp") {
			continue
		}
		path := filepath.Join(dir, name)
		want, found := listed[name]
		if !found {
			rep.problem(path, 0, "file is not in meta.json's manifest")
			ok = false
			continue
		}
		delete(listed, name)
		sum, size, err := HashFile(fsys, path)
		switch {
		case err != nil:
			rep.problem(path, 0, "%v", err)
			ok = false
		case size != want.Size:
			rep.problem(path, min(size, want.Size), "size %d, manifest says %d (truncated or extended)", size, want.Size)
			ok = false
		case sum != want.Blake3:
			rep.problem(path, -1, "blake3 %s, manifest says %s (contents changed)", sum[:16], want.Blake3[:min(16, len(want.Blake3))])
			ok = false
		}
	}
	for name := range listed {
		rep.problem(filepath.Join(dir, name), 0, "file listed in meta.json's manifest is missing")
		ok = false
	}
	if ok {
		rep.Checked = append(rep.Checked, fmt.Sprintf("manifest: %d files, sizes and blake3 match", len(m.Files)))
	}
}

// verifyCompressed checks meta.json's compressed flag against the files:
// true when every segment is .q.zst. A stream with both kinds is one whose
// compress was interrupted: readable, worth a note.
func verifyCompressed(fsys vfs.FS, dir string, m *Meta, rep *StreamReport) {
	plain, err := segmentIDs(fsys, dir, segment.KindSegment)
	if err != nil {
		return // verifyManifest reported it
	}
	zst, err := segmentIDs(fsys, dir, segment.KindCompressed)
	if err != nil {
		return
	}
	metaPath := filepath.Join(dir, MetaName)
	switch {
	case m.Compressed && len(plain) > 0:
		rep.problem(metaPath, 0, "meta.json says compressed, but %d segments are plain .q (first %s)", len(plain), segment.Name(plain[0]))
	case !m.Compressed && len(plain) == 0 && len(zst) > 0:
		rep.problem(metaPath, 0, "meta.json says not compressed, but all %d segments are .q.zst", len(zst))
	case !m.Compressed && len(plain) > 0 && len(zst) > 0:
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d of %d segments compressed (a compress was interrupted); rerun chronicle compress to finish", len(zst), len(zst)+len(plain)))
	default:
		rep.Checked = append(rep.Checked, fmt.Sprintf("meta.json compressed=%v matches the segment files", m.Compressed))
	}
}

func verifyLedger(fsys vfs.FS, dir string, m *Meta, rep *StreamReport, groups int64, minTS, maxTS uint64) {
	p, root, ok := PartitionOf(dir)
	if !ok {
		return
	}
	metaPath := filepath.Join(dir, MetaName)
	path := p.LedgerPath(root, m.SourceHash)
	l, err := readLedger(fsys, root, p, m.SourceHash)
	if errors.Is(err, fs.ErrNotExist) {
		// An entry of this stream under another hash, written after this
		// stream was made, means meta.json's source_hash is wrong. An
		// older one is that of the data a --force import replaced, left
		// by a crash before the ledger was updated: like none at all, the
		// ledger lags.
		for _, h := range ledgerHashes(fsys, root, p) {
			if l, err := readLedger(fsys, root, p, h); err == nil && l.ImportedAtNS >= m.IngestTimeNS {
				rep.problem(metaPath, 0, "meta.json source_hash %q, but the stream's import ledger entry is %s", m.SourceHash, p.LedgerPath(root, h))
				return
			}
		}
		rep.Notes = append(rep.Notes, "no import ledger entry for this stream's source (an import stopped after publishing); rerun the import to record it")
		return
	}
	if err != nil {
		rep.problem(path, 0, "%v", err)
		return
	}
	if l.FileHash != m.SourceHash || l.Stream != p.Stream {
		rep.problem(path, 0, "ledger entry says file_hash %q stream %q, meta.json says source_hash %q stream %q", l.FileHash, l.Stream, m.SourceHash, p.Stream)
		return
	}
	if l.Rows != rep.Levels || l.Groups != groups || l.Segments != rep.Segments || (rep.Events > 0 && (l.MinTSNS != minTS || l.MaxTSNS != maxTS)) {
		rep.problem(path, 0, "ledger says rows=%d groups=%d segments=%d ts=[%d %d], the data has rows=%d groups=%d segments=%d ts=[%d %d]",
			l.Rows, l.Groups, l.Segments, l.MinTSNS, l.MaxTSNS, rep.Levels, groups, rep.Segments, minTS, maxTS)
		return
	}
	rep.Checked = append(rep.Checked, "import ledger entry matches source_hash, and its counts the data")
}

// ledgerHashes lists the hashes of the stream's ledger entries.
func ledgerHashes(fsys vfs.FS, root string, p Partition) []string {
	ents, _ := fsys.ReadDir(p.LedgerDir(root))
	var out []string
	for _, e := range ents {
		if h, ok := p.ledgerHash(e.Name()); ok {
			out = append(out, h)
		}
	}
	return out
}
