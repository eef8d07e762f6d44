package archive

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// compressDir compresses every .q segment in dir (a staging directory).
func compressDir(ctx context.Context, fsys vfs.FS, dir string) error {
	ids, err := segmentIDs(fsys, dir, segment.KindSegment)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := segment.CompressSegment(dir, id, segment.CompressOptions{FS: fsys}); err != nil {
			return err
		}
	}
	return nil
}

func segmentIDs(fsys vfs.FS, dir string, kind segment.Kind) ([]uint32, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []uint32
	for _, e := range ents {
		if id, k, ok := segment.ParseName(e.Name()); ok && k == kind {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// rewrite changes an existing stream copy-on-write: its files are
// hard-linked into a staging directory, fn edits the staging directory, and
// the result replaces the stream atomically with a fresh manifest.
func rewrite(ctx context.Context, fsys vfs.FS, streamDir string, fn func(staging string, m *Meta) error) error {
	p, root, ok := PartitionOf(streamDir)
	if !ok {
		return fmt.Errorf("%s is not a stream directory (<root>/v1/<venue>/<symbol>/<date>/<stream>)", streamDir)
	}
	m, err := ReadMeta(fsys, streamDir)
	if err != nil {
		return err
	}
	t, err := begin(fsys, root, p)
	if err != nil {
		return err
	}
	defer t.abort()
	if err := t.linkExisting(); err != nil {
		return err
	}
	// Segment files are immutable and fn never rewrites one under the same
	// name: a linked one keeps its manifest entry. Taking the entry rather
	// than hashing the file again also keeps damage visible to verify.
	known := map[string]FileEntry{}
	for _, f := range m.Files {
		if _, _, ok := segment.ParseName(f.Name); ok {
			known[f.Name] = f
		}
	}
	if err := fn(t.staging, m); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.publishKnown(m, known)
}

// Compress replaces every .q segment of a stream with .q.zst + .q.zst.idx.
// It publishes one segment at a time, each swap freeing that segment's .q,
// so it needs free space for one compressed segment, not for the whole
// stream. Readers see a complete stream at every step (a reader takes
// NNNNNNNNN.q or its .q.zst alike); meta.json says compressed once the
// last segment is. A killed run leaves a readable stream, and rerunning it
// finishes the job.
func Compress(ctx context.Context, fsys vfs.FS, streamDir string) error {
	if fsys == nil {
		fsys = vfs.Default
	}
	for done := false; !done; {
		err := rewrite(ctx, fsys, filepath.Clean(streamDir), func(staging string, m *Meta) error {
			ids, err := segmentIDs(fsys, staging, segment.KindSegment)
			if err != nil {
				return err
			}
			if len(ids) <= 1 {
				m.Compressed, done = true, true
			}
			if len(ids) == 0 {
				return nil
			}
			return segment.CompressSegment(staging, ids[0], segment.CompressOptions{FS: fsys})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Index (re)writes the stream's book checkpoints, atomically.
func Index(ctx context.Context, fsys vfs.FS, streamDir string, every int) error {
	if fsys == nil {
		fsys = vfs.Default
	}
	if every <= 0 {
		every = DefaultCheckpointEvery
	}
	return rewrite(ctx, fsys, filepath.Clean(streamDir), func(staging string, m *Meta) error {
		if m.Made != nil {
			m.Made.CheckpointEvery = every
		}
		return buildCheckpoints(ctx, fsys, staging, every)
	})
}
