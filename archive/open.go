package archive

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// What a reader checks on open, cheaply (no hashing: that is verify's
// job): meta.json is there and parses; the segment and index files in the
// directory are exactly those its manifest lists, each with the listed
// size; the manifest's segments are contiguous, each in one form (.q,
// .q.zst with .idx, or .q.col), all in the form meta.json's compressed
// flag and codec name when it is compressed, and as many as its segment
// count. While reading, Stream checks that seq runs on from 0
// without a gap and that the stream ends after meta.json's event count.

// manifestError is damage to the stream found by comparing it with
// meta.json: a *segment.CorruptionError (exit 3 from the CLI) naming path.
func manifestError(path, format string, args ...any) error {
	return &segment.CorruptionError{Path: path, Offset: -1, Err: fmt.Errorf(format, args...)}
}

// readStreamMeta reads dir's meta.json for a reader. Without one, dir is
// either a damaged stream (it holds segments) or not a stream at all.
func readStreamMeta(fsys vfs.FS, dir string, ents []fs.DirEntry) (*Meta, error) {
	m, err := ReadMeta(fsys, dir)
	path := filepath.Join(dir, MetaName)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		for _, e := range ents {
			if _, _, ok := segment.ParseName(e.Name()); ok {
				return nil, manifestError(path, "missing: the directory holds segment files but no %s", MetaName)
			}
		}
		return nil, notStream(dir, "it has no "+MetaName)
	case err != nil:
		return nil, manifestError(path, "%v", err)
	}
	return m, nil
}

// notStream is the error for a path that is not a stream directory.
func notStream(dir, why string) error {
	return fmt.Errorf("%s is not a Chronicle stream: %s (a stream directory is <root>/v1/<venue>/<symbol>/<date>/<stream> and holds %s and segment files)", dir, why, MetaName)
}

// streamSpecs checks the directory listing ents against m's manifest and
// returns the segments to read.
func streamSpecs(dir string, m *Meta, ents []fs.DirEntry, codec segment.BlockCodec) ([]segment.SegmentSpec, error) {
	metaPath := filepath.Join(dir, MetaName)
	want := compressedKind(m) // the one form of a compressed stream's segments
	if want == segment.KindColumnar && codec != nil && codec.Name() != m.Codec {
		return nil, manifestError(metaPath, "codec is %q, but the reader's .q.col codec is %q", m.Codec, codec.Name())
	}
	onDisk := make(map[string]int64, len(ents))
	for _, e := range ents {
		if _, _, ok := segment.ParseName(e.Name()); !ok || !e.Type().IsRegular() {
			continue // readers read only segments and indexes (side files: see ReadListedFile)
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		onDisk[e.Name()] = info.Size()
	}
	var specs []segment.SegmentSpec
	listed := make(map[string]bool, len(m.Files))
	for _, fe := range m.Files {
		id, kind, ok := segment.ParseName(fe.Name)
		if !ok {
			continue
		}
		path := filepath.Join(dir, fe.Name)
		size, there := onDisk[fe.Name]
		switch {
		case !there:
			return nil, manifestError(path, "missing: %s lists it (%d bytes)", MetaName, fe.Size)
		case size != fe.Size:
			return nil, manifestError(path, "%d bytes, %s lists %d", size, MetaName, fe.Size)
		case listed[fe.Name]:
			return nil, manifestError(metaPath, "manifest lists %s twice", fe.Name)
		}
		listed[fe.Name] = true
		if kind == segment.KindIndex {
			continue // taken with its .q.zst below
		}
		if n := len(specs); n > 0 && specs[n-1].ID == id {
			return nil, manifestError(metaPath, "manifest lists segment %d in two forms (the second: %s)", id, fe.Name)
		}
		if n := len(specs); n > 0 && id != specs[n-1].ID+1 || n == 0 && id != 0 {
			return nil, manifestError(metaPath, "manifest's segments are not contiguous from 0: it lists %s where segment %d belongs", fe.Name, len(specs))
		}
		sp := segment.SegmentSpec{ID: id, Compressed: kind == segment.KindCompressed, Columnar: kind == segment.KindColumnar, Size: fe.Size}
		if m.Compressed && kind != want { // not compressed: all .q, or a mix left by an interrupted compress
			return nil, manifestError(metaPath, "manifest lists %s, but compressed is %v with codec %s", fe.Name, m.Compressed, metaCodec(m))
		}
		specs = append(specs, sp)
	}
	// Indexes: each .q.zst has its own, and no other is listed.
	for i := range specs {
		if !specs[i].Compressed {
			continue
		}
		name := segment.IndexName(specs[i].ID)
		if !listed[name] {
			return nil, manifestError(filepath.Join(dir, name), "%s does not list it, the index of %s", MetaName, segment.CompressedName(specs[i].ID))
		}
		specs[i].IndexSize = onDisk[name]
	}
	for name := range listed {
		if id, kind, _ := segment.ParseName(name); kind == segment.KindIndex && (int(id) >= len(specs) || !specs[id].Compressed) {
			return nil, manifestError(filepath.Join(dir, name), "index without data: %s lists no %s", MetaName, segment.CompressedName(id))
		}
	}
	for name := range onDisk {
		if !listed[name] {
			return nil, manifestError(filepath.Join(dir, name), "not in %s's manifest: a file from elsewhere (remove it, or restore the stream)", MetaName)
		}
	}
	if len(specs) != m.Segments {
		return nil, manifestError(metaPath, "segments is %d, the manifest lists %d", m.Segments, len(specs))
	}
	return specs, nil
}

// CodecZstd is meta.json's codec of a stream of .q.zst segments.
const CodecZstd = "zstd"

// metaCodec is the codec of m's segments: "" when not compressed, zstd
// when compressed by a Chronicle from before meta.json named it.
func metaCodec(m *Meta) string {
	switch {
	case !m.Compressed:
		return ""
	case m.Codec == "":
		return CodecZstd
	}
	return m.Codec
}

// compressedKind is the kind of every segment of the stream m describes
// when it is compressed; 0 when it is not.
func compressedKind(m *Meta) segment.Kind {
	switch metaCodec(m) {
	case "":
		return 0
	case CodecZstd:
		return segment.KindCompressed
	}
	return segment.KindColumnar
}

// ReadListedFile reads a small side file of the stream (a book stream's
// checkpoints), bound to the stream by meta.json's manifest: it must be
// listed there with its size and blake3 (hashing a small file costs
// little), else it is a *segment.CorruptionError naming it; a file from
// another stream is never taken for this one's. An absent file is an error
// that errors.Is fs.ErrNotExist (side files are optional; verify reports
// one that is listed and missing).
func (s *Stream) ReadListedFile(name string) ([]byte, error) {
	lf, err := s.openListed(name, false)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	if err := lf.Check(); err != nil {
		return nil, err
	}
	return lf.all, nil
}

// OpenListedFile opens a side file as ReadListedFile reads it, but returns
// before its blake3 is known, so that hashing it overlaps the caller's
// work: book --at reads the index and one record of a checkpoint file of
// megabytes, then replays from it. Read what is needed with ReadAt, then
// Start the hash (in the background), then Check before trusting any of
// it: Check waits for the hash, compares it with the manifest, and
// compares every byte ReadAt returned with the bytes hashed, so a file
// changed in between is caught too. The listing and size are checked
// before OpenListedFile returns, with the errors of ReadListedFile. Close
// it when done.
func (s *Stream) OpenListedFile(name string) (*ListedFile, error) {
	return s.openListed(name, true)
}

// ListedFile is a side file opened by OpenListedFile. It is safe for
// concurrent use.
type ListedFile struct {
	f    vfs.File // nil when read whole on open
	path string
	size int64
	want string // the manifest's blake3, hex
	all  []byte // the whole file, when read whole on open

	mu      sync.Mutex
	reads   []listedRead  // what ReadAt returned, for the hash to compare
	done    chan struct{} // closed when sumErr is set; nil until Start
	sumErr  error         // what the hash found
	checked bool
	err     error // Check's result, once checked
}

// listedRead is a copy of what one ReadAt returned.
type listedRead struct {
	off int64
	b   []byte
}

// errReadAfterStart: the hash compares only the reads before it started.
var errReadAfterStart = errors.New("archive: ListedFile read after Start")

func (s *Stream) openListed(name string, async bool) (*ListedFile, error) {
	path := filepath.Join(s.dir, name)
	f, err := s.fsys.Open(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// Opened before this check, the file is of the version the reader has.
	if cerr := s.r.CheckDir(); cerr != nil {
		if err == nil {
			f.Close()
		}
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	var entry *FileEntry
	if s.meta != nil {
		for i := range s.meta.Files {
			if s.meta.Files[i].Name == name {
				entry = &s.meta.Files[i]
			}
		}
	}
	if entry == nil {
		f.Close()
		return nil, manifestError(path, "not in %s's manifest: a file from elsewhere", MetaName)
	}
	if st, err := f.Stat(); err != nil || st.Size() != entry.Size {
		f.Close()
		if err != nil {
			return nil, err
		}
		return nil, manifestError(path, "%d bytes, %s lists %d", st.Size(), MetaName, entry.Size)
	}
	lf := &ListedFile{path: path, size: entry.Size, want: entry.Blake3}
	// Only a local file is read in two ways at once: there a read costs
	// microseconds. An object store's file (s3archive) is read whole in
	// one request, as before.
	if _, local := f.(*os.File); async && local {
		lf.f = f
		return lf, nil
	}
	defer f.Close()
	// One byte more than listed, so that a file grown since Stat shows.
	b := make([]byte, lf.size+1)
	n, err := f.ReadAt(b, 0)
	switch {
	case err != nil && err != io.EOF:
		return nil, fmt.Errorf("reading %s: %w", path, err)
	case int64(n) != lf.size:
		return nil, manifestError(path, "%d bytes as read, %s lists %d", n, MetaName, lf.size)
	}
	lf.all = b[:n]
	lf.done = make(chan struct{})
	lf.sumErr = lf.checkSum(blake3.Sum256(lf.all))
	close(lf.done)
	if lf.sumErr != nil {
		return nil, lf.sumErr
	}
	return lf, nil
}

func (lf *ListedFile) checkSum(sum [32]byte) error {
	if hex.EncodeToString(sum[:]) != lf.want {
		return manifestError(lf.path, "blake3 differs from %s's manifest: not this stream's file", MetaName)
	}
	return nil
}

// Size is the file's size, as the manifest lists it.
func (lf *ListedFile) Size() int64 { return lf.size }

// ReadAt reads the file; not after Start. Until Check returns nil, what it
// returns may be another stream's, or damaged.
func (lf *ListedFile) ReadAt(p []byte, off int64) (int, error) {
	if lf.f == nil { // read whole on open, and checked
		if off < 0 || off > int64(len(lf.all)) {
			return 0, fmt.Errorf("reading %s at %d: offset out of range", lf.path, off)
		}
		n := copy(p, lf.all[off:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.done != nil {
		return 0, errReadAfterStart
	}
	n, err := lf.f.ReadAt(p, off)
	if n > 0 {
		lf.reads = append(lf.reads, listedRead{off: off, b: bytes.Clone(p[:n])})
	}
	return n, err
}

// Start starts hashing the file in the background, if it has not started.
func (lf *ListedFile) Start() {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.done != nil {
		return
	}
	lf.done = make(chan struct{})
	go lf.hash(lf.reads)
}

// listedChunk is the piece a ListedFile is hashed in: one buffer, reused,
// which stays in cache from the read to the hash. (Reading the whole file
// into a fresh buffer cost as much as hashing it: a page fault per 4 KiB.)
const listedChunk = 128 << 10

// hash hashes the file and compares the reads with the bytes hashed.
func (lf *ListedFile) hash(reads []listedRead) {
	defer close(lf.done)
	h := blake3.New()
	buf := make([]byte, min(listedChunk, lf.size))
	changed := false
	for off := int64(0); off < lf.size; {
		b := buf[:min(int64(len(buf)), lf.size-off)]
		if n, err := lf.f.ReadAt(b, off); n < len(b) {
			if err == nil || err == io.EOF {
				lf.sumErr = manifestError(lf.path, "%d bytes as read, %s lists %d", off+int64(n), MetaName, lf.size)
			} else {
				lf.sumErr = fmt.Errorf("reading %s: %w", lf.path, err)
			}
			return
		}
		h.Write(b)
		end := off + int64(len(b))
		for _, r := range reads {
			lo, hi := max(off, r.off), min(end, r.off+int64(len(r.b)))
			if lo < hi && !bytes.Equal(r.b[lo-r.off:hi-r.off], b[lo-off:hi-off]) {
				changed = true
			}
		}
		off = end
	}
	for _, r := range reads {
		if r.off < 0 || r.off+int64(len(r.b)) > lf.size {
			changed = true // past the listed size: never hashed
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	if lf.sumErr = lf.checkSum(sum); lf.sumErr == nil && changed {
		lf.sumErr = manifestError(lf.path, "changed while it was read")
	}
}

// Check starts the hash if need be, waits for it and returns nil if the
// file is the manifest's and everything ReadAt returned is what was
// hashed; else a *segment.CorruptionError naming the file (or the error
// reading it).
func (lf *ListedFile) Check() error {
	lf.Start()
	<-lf.done
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if !lf.checked {
		lf.checked, lf.err = true, lf.sumErr
	}
	return lf.err
}

// Close closes the file, after the hash (which reads it), if started.
func (lf *ListedFile) Close() error {
	lf.mu.Lock()
	done := lf.done
	lf.mu.Unlock()
	if done != nil {
		<-done
	}
	if lf.f == nil {
		return nil
	}
	return lf.f.Close()
}
