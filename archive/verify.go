package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// StreamReport is what VerifyStream found in one stream.
type StreamReport struct {
	Dir      string
	Segments int
	Events   int64    // records
	Rows     int64    // source rows, as the hooks count them
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
	r.Problem(path, off, fmt.Errorf(format, args...))
}

// Problem adds damage found at path and offset (-1: no one place).
func (r *StreamReport) Problem(path string, off int64, err error) {
	r.Problems = append(r.Problems, segment.Problem{Path: path, Offset: off, Err: err})
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

// VerifyHooks are the checks of a stream's record type, which archive
// does not know: package stream provides them.
type VerifyHooks struct {
	// Record checks the payload of one record, whose frame, CRC and seq
	// (contiguous from 0) are checked already, and returns how many rows
	// of the source it holds (meta.json's rows). It is called in stream
	// order, for every record whose CRC holds.
	Record func(rec *segment.Record) (rows int64, err error)
	// Records names the records and what Record checks, for the report
	// ("BookEvents: layout, timestamps, venue/market ids").
	Records string
	// Files checks the record type's side files (a book stream's
	// checkpoints) once the records are checked: their problems and notes
	// go to rep. Nil: there are none.
	Files func(rep *StreamReport)
}

// VerifyStream checks one stream completely: the manifest (size and blake3
// of every file), every segment and record (via segment.VerifyStream), seq
// from 0, meta.json's counts and the ledger's counts against the data; the
// payloads and the side files it leaves to the hooks that hooks returns
// for the stream's meta.json (nil when that is missing or unreadable).
//
// A verify that overlaps a --force import or a compress reads one version
// of the stream, not parts of both (see readStable): hooks is called
// again for each attempt, so the hooks' state starts afresh.
func VerifyStream(fsys vfs.FS, dir string, hooks func(m *Meta) VerifyHooks, opts ...Options) (*StreamReport, error) {
	fsys = vfs.OrDefault(fsys)
	codec := codecOf(opts)
	return readStable(fsys, dir, func() (*StreamReport, error) { return verifyOnce(fsys, dir, hooks, codec) }, nil)
}

func verifyOnce(fsys vfs.FS, dir string, newHooks func(m *Meta) VerifyHooks, codec segment.BlockCodec) (*StreamReport, error) {
	rep := &StreamReport{Dir: dir}
	metaPath := filepath.Join(dir, MetaName)
	m, err := ReadMeta(fsys, dir)
	if err != nil {
		// What cannot be read is not known to be damaged: a failed read (a
		// cut connection to S3, EIO) fails the verify instead of calling
		// the stream damaged.
		if isReadError(err) {
			return nil, err
		}
		rep.problem(metaPath, 0, "%v", err)
		m = nil
	}
	if m != nil {
		if err := verifyManifest(fsys, dir, m, rep); err != nil {
			return nil, err
		}
		verifyCompressed(fsys, dir, m, rep)
	}
	hooks := newHooks(m)

	var (
		nextSeq uint64
		minTS   uint64
		maxTS   uint64
		groups  int64
		lastTS  uint64
	)
	visit := func(rec segment.Record) error {
		// Count the record before checking it: one wrong field is one
		// problem, not also wrong counts after it.
		if rep.Events == 0 || rec.Timestamp < minTS {
			minTS = rec.Timestamp
		}
		if rep.Events == 0 || rec.Timestamp != lastTS {
			groups++
		}
		lastTS = rec.Timestamp
		maxTS = max(maxTS, rec.Timestamp)
		rep.Events++
		rows, err := hooks.Record(&rec)
		rep.Rows += rows
		if rec.Seq != nextSeq {
			want := nextSeq
			nextSeq = rec.Seq + 1 // resynchronise: report a gap once
			return fmt.Errorf("seq %d, want %d", rec.Seq, want)
		}
		nextSeq = rec.Seq + 1
		return err
	}
	sr, err := segment.VerifyStreamWith(dir, segment.ReaderOptions{FS: fsys, Codec: codec}, visit)
	if err != nil {
		return nil, err
	}
	rep.Segments = sr.Segments
	rep.Problems = append(rep.Problems, sr.Problems...)
	if len(sr.Problems) == 0 {
		rep.Checked = append(rep.Checked, fmt.Sprintf("%d segments: headers, seal flags, record bounds, %d CRCs, zero padding, block indexes", sr.Segments, sr.Records))
		rep.Checked = append(rep.Checked, fmt.Sprintf("%d %s; seq 0..%d contiguous", rep.Events, hooks.Records, max(rep.Events, 1)-1))
	}
	if m == nil {
		return rep, nil
	}
	counts := []struct {
		what      string
		meta, got int64
	}{
		{"events", m.Events, rep.Events},
		{"rows", m.Rows, rep.Rows},
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
	if hooks.Files != nil {
		hooks.Files(rep)
	}
	return rep, nil
}

// isReadError tells a failure to read a file from one to find it or to
// parse it.
func isReadError(err error) bool {
	return err != nil && !errors.Is(err, fs.ErrNotExist) && !isJSONError(err)
}

// verifyManifest checks the files against the manifest; it returns an error
// only for a read that failed.
func verifyManifest(fsys vfs.FS, dir string, m *Meta, rep *StreamReport) error {
	ents, err := fsys.ReadDir(dir)
	if isReadError(err) {
		return err
	}
	if err != nil {
		rep.problem(dir, 0, "%v", err)
		return nil
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
		case isReadError(err):
			return err
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
	return nil
}

// verifyCompressed checks meta.json's compressed flag and codec against
// the files: compressed when every segment is in the codec's form (.q.zst
// for zstd, .q.col for a BlockCodec). A stream with plain and compressed
// segments is one whose compress or decompress was interrupted: readable,
// worth a note.
func verifyCompressed(fsys vfs.FS, dir string, m *Meta, rep *StreamReport) {
	var ids [3][]uint32 // .q, .q.zst, .q.col
	for i, k := range []segment.Kind{segment.KindSegment, segment.KindCompressed, segment.KindColumnar} {
		var err error
		if ids[i], err = segmentIDs(fsys, dir, k); err != nil {
			return // verifyManifest reported it
		}
	}
	plain, zst, col := ids[0], ids[1], ids[2]
	comp := len(zst) + len(col)
	metaPath := filepath.Join(dir, MetaName)
	switch want := compressedKind(m); {
	case !m.Compressed && m.Codec != "":
		rep.problem(metaPath, 0, "meta.json says not compressed, but names codec %q", m.Codec)
	case m.Compressed && len(plain) > 0:
		rep.problem(metaPath, 0, "meta.json says compressed, but %d segments are plain .q (first %s)", len(plain), segment.Name(plain[0]))
	case want == segment.KindCompressed && len(col) > 0:
		rep.problem(metaPath, 0, "meta.json says compressed with zstd, but %d segments are .q.col (first %s)", len(col), segment.ColumnarName(col[0]))
	case want == segment.KindColumnar && len(zst) > 0:
		rep.problem(metaPath, 0, "meta.json says compressed with %s, but %d segments are .q.zst (first %s)", m.Codec, len(zst), segment.CompressedName(zst[0]))
	case !m.Compressed && len(plain) == 0 && comp > 0:
		rep.problem(metaPath, 0, "meta.json says not compressed, but all %d segments are compressed", comp)
	case len(zst) > 0 && len(col) > 0:
		rep.problem(metaPath, 0, "%d segments are .q.zst and %d .q.col: Chronicle never mixes codecs in a stream", len(zst), len(col))
	case !m.Compressed && len(plain) > 0 && comp > 0:
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d of %d segments compressed (a compress or decompress was interrupted); rerun it to finish", comp, comp+len(plain)))
	case m.Compressed:
		rep.Checked = append(rep.Checked, fmt.Sprintf("meta.json compressed=true codec=%s matches the segment files", metaCodec(m)))
	default:
		rep.Checked = append(rep.Checked, "meta.json compressed=false matches the segment files")
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
	if l.Rows != rep.Rows || l.Groups != groups || l.Segments != rep.Segments || (rep.Events > 0 && (l.MinTSNS != minTS || l.MaxTSNS != maxTS)) {
		rep.problem(path, 0, "ledger says rows=%d groups=%d segments=%d ts=[%d %d], the data has rows=%d groups=%d segments=%d ts=[%d %d]",
			l.Rows, l.Groups, l.Segments, l.MinTSNS, l.MaxTSNS, rep.Rows, groups, rep.Segments, minTS, maxTS)
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
