package archive

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/zeebo/blake3"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// What a reader checks on open, cheaply (no hashing: that is verify's
// job): meta.json is there and parses; the segment and index files in the
// directory are exactly those its manifest lists, each with the listed
// size; the manifest's segments are contiguous, all in one form (.q, or
// .q.zst with .idx) that agrees with meta.json's compressed flag and
// segment count. While reading, Events checks that seq runs on from 0
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
func streamSpecs(dir string, m *Meta, ents []fs.DirEntry) ([]segment.SegmentSpec, error) {
	metaPath := filepath.Join(dir, MetaName)
	onDisk := make(map[string]int64, len(ents))
	for _, e := range ents {
		if _, _, ok := segment.ParseName(e.Name()); !ok || !e.Type().IsRegular() {
			continue // readers read only segments and indexes (and checkpoints, see Checkpoints)
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
			return nil, manifestError(metaPath, "manifest lists segment %d as both .q and .q.zst", id)
		}
		if n := len(specs); n > 0 && id != specs[n-1].ID+1 || n == 0 && id != 0 {
			return nil, manifestError(metaPath, "manifest's segments are not contiguous from 0: it lists %s where segment %d belongs", fe.Name, len(specs))
		}
		sp := segment.SegmentSpec{ID: id, Compressed: kind == segment.KindCompressed, Size: fe.Size}
		if m.Compressed && !sp.Compressed { // not compressed: all .q, or a mix left by an interrupted compress
			return nil, manifestError(metaPath, "manifest lists %s, but compressed is %v", fe.Name, m.Compressed)
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

// Checkpoints opens the stream's book checkpoint file, nil if there is
// none. The file is bound to the stream by meta.json's manifest: it
// must be listed there with its size and blake3 (the file is small, so
// hashing it costs little), else it is a *segment.CorruptionError naming
// it; a checkpoint file from another stream never positions a replay here.
func (e *Events) Checkpoints() (*book.CheckpointFile, error) {
	path := filepath.Join(e.dir, CheckpointsName)
	var entry *FileEntry
	for i := range e.meta.Files {
		if e.meta.Files[i].Name == CheckpointsName {
			entry = &e.meta.Files[i]
		}
	}
	b, err := vfs.ReadFile(e.fsys, path)
	absent := errors.Is(err, fs.ErrNotExist)
	if err != nil && !absent {
		return nil, err
	}
	// Read before this check, the file is of the version the reader has.
	if err := e.r.CheckDir(); err != nil {
		return nil, err
	}
	switch {
	case absent:
		// Checkpoints are optional and the book is the same without them
		// (verify reports one that is listed and missing).
		return nil, nil
	case entry == nil:
		return nil, manifestError(path, "not in %s's manifest: a checkpoint file from elsewhere", MetaName)
	case int64(len(b)) != entry.Size:
		return nil, manifestError(path, "%d bytes, %s lists %d", len(b), MetaName, entry.Size)
	}
	if sum := blake3.Sum256(b); hex.EncodeToString(sum[:]) != entry.Blake3 {
		return nil, manifestError(path, "blake3 differs from %s's manifest: not this stream's checkpoints", MetaName)
	}
	cf, err := book.OpenCheckpointFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, &segment.CorruptionError{Path: path, Offset: checkpointErrOffset(err), Err: err}
	}
	return cf, nil
}
