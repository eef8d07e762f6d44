package archive

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

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
	path := filepath.Join(s.dir, name)
	b, err := vfs.ReadFile(s.fsys, path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// Read before this check, the file is of the version the reader has.
	if err := s.r.CheckDir(); err != nil {
		return nil, err
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
	switch {
	case entry == nil:
		return nil, manifestError(path, "not in %s's manifest: a file from elsewhere", MetaName)
	case int64(len(b)) != entry.Size:
		return nil, manifestError(path, "%d bytes, %s lists %d", len(b), MetaName, entry.Size)
	}
	if sum := blake3.Sum256(b); hex.EncodeToString(sum[:]) != entry.Blake3 {
		return nil, manifestError(path, "blake3 differs from %s's manifest: not this stream's file", MetaName)
	}
	return b, nil
}
