package s3archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/objstore"
	"github.com/chronicle-archive/chronicle/segment"
)

// ErrStreamChanged: HEAD was replaced while a Rewrite worked on the
// version it had read; nothing was committed.
var ErrStreamChanged = errors.New("stream changed while it was being rewritten, rerun")

// RewriteResult is what Rewrite did.
type RewriteResult struct {
	Dir       string // the stream's virtual directory (Root/v1/...)
	Version   string // the committed version, "" when nothing changed
	Unchanged bool   // fn left every file as it was: nothing was uploaded
}

// Rewrite changes a committed stream of p as a new version: the version
// HEAD names is downloaded into a local temporary archive (and checked as a
// reader checks it: each file's size against HEAD, the files against
// meta.json's manifest), fn rewrites that local stream directory with the
// local operation (archive.Compress, archive.Decompress, stream.Index),
// and the result is uploaded under a fresh version and committed by
// replacing HEAD on the ETag read at the start. The partition's lease is
// held throughout, so no import publishes meanwhile; a HEAD replaced all
// the same (a writer without the lease) is ErrStreamChanged, and nothing
// is committed.
//
// A Rewrite killed at any moment leaves the old version committed or the
// new one, whole; what it uploaded and did not commit is GC's. When fn
// changes nothing, nothing is uploaded (Result.Unchanged).
func (a *Archive) Rewrite(ctx context.Context, p archive.Partition, fn func(localDir string) error) (*RewriteResult, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	sk := streamKey(p)
	res := &RewriteResult{Dir: a.root + "/" + sk}
	lease, err := a.acquire(ctx, p, "")
	if err != nil {
		return nil, err
	}
	stop := lease.keep(ctx)
	defer func() {
		stop()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = lease.l.Release(rctx)
	}()

	old, etag, err := a.readHead(ctx, sk)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, fmt.Errorf("%s/%s: %w: the stream has no commit object (%s)", a.url, sk, os.ErrNotExist, HeadName)
	}

	tmp, err := os.MkdirTemp("", "chronicle-s3-rewrite-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dir := p.Dir(filepath.Join(tmp, "root"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := a.download(ctx, sk, old, dir); err != nil {
		return nil, err
	}
	// A second hard link of every downloaded file keeps its inode alive
	// whatever fn does, so that "unchanged" can be told by identity.
	orig := filepath.Join(tmp, "orig")
	if err := os.Mkdir(orig, 0o755); err != nil {
		return nil, err
	}
	for _, e := range old.Files {
		if err := os.Link(filepath.Join(dir, e.Name), filepath.Join(orig, e.Name)); err != nil {
			return nil, err
		}
	}

	if err := fn(dir); err != nil {
		return nil, &shownError{msg: strings.ReplaceAll(err.Error(), dir, a.url+"/"+sk), err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	h, err := newHead(ents, old.SourceHash)
	if err != nil {
		return nil, err
	}
	same, err := sameFiles(old, h, orig, dir)
	if err != nil {
		return nil, err
	}
	if same {
		res.Unchanged = true
		return res, nil
	}
	// The commit point.
	body, err := a.uploadVersion(ctx, sk, dir, h, lease)
	if err != nil {
		return nil, err
	}
	switch _, err := a.store.PutIfMatch(ctx, headKey(sk), body, etag); {
	case errors.Is(err, objstore.ErrChanged) || errors.Is(err, objstore.ErrNotFound):
		return nil, fmt.Errorf("%s/%s: not committed: %w", a.url, sk, ErrStreamChanged)
	case err != nil:
		// A write whose answer was lost may have been stored (as in
		// Publish): the stream is the old version or the new one, whole.
		return nil, fmt.Errorf("%s/%s: the commit's outcome is unknown (the stream is the old version or the new one, whole; rerun): %w", a.url, sk, err)
	}
	a.fs.forget(sk)
	res.Version = h.Version
	return res, nil
}

// shownError is an error of the local operation with the temporary
// directory's path in its message replaced by the stream's URL; it unwraps
// to the error as it was (a corruption stays one, for the exit status).
type shownError struct {
	msg string
	err error
}

func (e *shownError) Error() string { return e.msg }
func (e *shownError) Unwrap() error { return e.err }

// download fetches every file of version h of stream sk into dir and
// checks them as a reader does: each the size HEAD lists, and the files
// exactly those of meta.json's manifest, with its sizes.
func (a *Archive) download(ctx context.Context, sk string, h *Head, dir string) error {
	buf := make([]byte, 1<<20)
	for _, e := range h.Files {
		key := sk + "/" + h.Version + "/" + e.Name
		if err := a.fetchFile(ctx, key, e.Size, filepath.Join(dir, e.Name), buf); err != nil {
			return err
		}
	}
	m, err := archive.ReadMeta(nil, dir) // vfs.Default: a local path, served locally under the S3 FS too
	if err != nil {
		return fmt.Errorf("%s/%s/%s/%s: %w", a.url, sk, h.Version, archive.MetaName, err)
	}
	listed := map[string]int64{}
	for _, f := range m.Files {
		listed[f.Name] = f.Size
	}
	for _, e := range h.Files {
		size, ok := listed[e.Name]
		if _, _, seg := segment.ParseName(e.Name); !ok && seg {
			return &segment.CorruptionError{Path: a.url + "/" + sk + "/" + h.Version + "/" + e.Name, Offset: -1,
				Err: fmt.Errorf("not in %s's manifest", archive.MetaName)}
		}
		if ok && size != e.Size {
			return &segment.CorruptionError{Path: a.url + "/" + sk + "/" + h.Version + "/" + e.Name, Offset: -1,
				Err: fmt.Errorf("%d bytes, %s's manifest lists %d", e.Size, archive.MetaName, size)}
		}
		delete(listed, e.Name)
	}
	for name := range listed {
		return &segment.CorruptionError{Path: a.url + "/" + sk + "/" + h.Version + "/" + name, Offset: -1,
			Err: fmt.Errorf("missing: %s's manifest lists it", archive.MetaName)}
	}
	return nil
}

// fetchFile copies object key, of size bytes, into the new local file
// path. Reads run from offset 0 on, so the object reader's read-ahead
// keeps several ranged GETs in flight.
func (a *Archive) fetchFile(ctx context.Context, key string, size int64, path string, buf []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	obj := a.store.OpenSized(ctx, key, size)
	defer obj.Close()
	var off int64
	for off < size {
		n, err := obj.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if n > 0 {
			if _, werr := f.Write(buf[:n]); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if err == io.EOF && off < size {
			return fmt.Errorf("%s/%s: ended at offset %d, HEAD lists %d bytes", a.url, key, off, size)
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	// No fsync: the directory is scratch, thrown away after the upload
	// (and left to the temp dir's cleaning by a crash).
	return f.Close()
}

// sameFiles reports whether the rewritten stream (h, in dir) is the
// downloaded one (old, linked in orig): the same names and sizes, and
// each file the same inode (fn kept it) or the same bytes.
func sameFiles(old, h *Head, orig, dir string) (bool, error) {
	if len(old.Files) != len(h.Files) {
		return false, nil
	}
	for i, e := range h.Files {
		if old.Files[i] != e {
			return false, nil
		}
	}
	for _, e := range h.Files {
		a, b := filepath.Join(orig, e.Name), filepath.Join(dir, e.Name)
		sa, err := os.Stat(a)
		if err != nil {
			return false, err
		}
		sb, err := os.Stat(b)
		if err != nil {
			return false, err
		}
		if os.SameFile(sa, sb) {
			continue
		}
		if e.Size > smallFile {
			return false, nil // a rewritten segment: never the same file
		}
		x, err := os.ReadFile(a)
		if err != nil {
			return false, err
		}
		y, err := os.ReadFile(b)
		if err != nil {
			return false, err
		}
		if !bytes.Equal(x, y) {
			return false, nil
		}
	}
	return true, nil
}
