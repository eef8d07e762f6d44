package s3archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chronicle-archive/chronicle/objstore"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// ErrReadOnly is what every write through FS fails with.
var ErrReadOnly = errors.New("an S3 archive is read-only through its file system: imports publish to it with Publish, and this command does not write to S3")

// smallFile is the size up to which a version's file is read whole on open
// and kept: meta.json and checkpoints are read several times by a reader
// (once per check), and a version's files never change.
const smallFile = 1 << 20

// s3FS is the archive as a read-only vfs.FS under the virtual root.
type s3FS struct {
	a   *Archive
	ctx context.Context

	mu     sync.Mutex
	heads  map[string]*Head              // stream key -> its HEAD as first resolved (nil: none)
	small  map[string]*smallFetch        // version file key -> its bytes, once fetched
	opened map[string][]*objstore.Object // large version file key -> its open readers
	warm   map[string]bool               // keys to prefetch when opened (asked before the open)
}

// smallFetch is a small file being read or read: done is closed when b or
// err is set.
type smallFetch struct {
	done chan struct{}
	b    []byte
	err  error
}

// prefetchSmall is how many of a version's small files are fetched at once
// when its HEAD is resolved: a reader asks for meta.json, then checkpoints,
// one after another, each a round trip, and they are small.
const prefetchSmall = 4

func newFS(a *Archive) *s3FS {
	return &s3FS{a: a, ctx: context.Background(), heads: map[string]*Head{}, small: map[string]*smallFetch{},
		opened: map[string][]*objstore.Object{}, warm: map[string]bool{}}
}

// FS is the archive as a read-only vfs.FS: paths under Root are served from
// the bucket, every other path by local (nil: vfs.Default), so that a
// command can read the archive and write its output files through one FS.
func (a *Archive) FS(local vfs.FS) vfs.FS {
	return &unionFS{s3: a.fs, local: vfs.OrDefault(local), root: a.root}
}

// unionFS routes each path to the S3 archive or the local file system.
type unionFS struct {
	s3    *s3FS
	local vfs.FS
	root  string
}

// rel returns the key-like path of name below the root, and whether name
// is the archive's at all.
func (u *unionFS) rel(name string) (string, bool) {
	c := filepath.ToSlash(filepath.Clean(name))
	if c == u.root {
		return "", true
	}
	r, ok := strings.CutPrefix(c, u.root+"/")
	return r, ok
}

func (u *unionFS) Create(name string) (vfs.File, error) {
	if _, ok := u.rel(name); ok {
		return nil, readOnly("create", name)
	}
	return u.local.Create(name)
}
func (u *unionFS) Open(name string) (vfs.File, error) {
	if r, ok := u.rel(name); ok {
		return u.s3.open(name, r)
	}
	return u.local.Open(name)
}
func (u *unionFS) Rename(o, n string) error {
	if u.either(o, n) {
		return readOnly("rename", n)
	}
	return u.local.Rename(o, n)
}
func (u *unionFS) RenameNoReplace(o, n string) error {
	if u.either(o, n) {
		return readOnly("rename", n)
	}
	return u.local.RenameNoReplace(o, n)
}
func (u *unionFS) Exchange(a, b string) error {
	if u.either(a, b) {
		return readOnly("exchange", b)
	}
	return u.local.Exchange(a, b)
}
func (u *unionFS) Link(o, n string) error {
	if u.either(o, n) {
		return readOnly("link", n)
	}
	return u.local.Link(o, n)
}
func (u *unionFS) Remove(name string) error {
	if _, ok := u.rel(name); ok {
		return readOnly("remove", name)
	}
	return u.local.Remove(name)
}
func (u *unionFS) RemoveAll(name string) error {
	if _, ok := u.rel(name); ok {
		return readOnly("remove", name)
	}
	return u.local.RemoveAll(name)
}
func (u *unionFS) MkdirAll(name string, perm fs.FileMode) error {
	if _, ok := u.rel(name); ok {
		return readOnly("mkdir", name)
	}
	return u.local.MkdirAll(name, perm)
}
func (u *unionFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if r, ok := u.rel(name); ok {
		return u.s3.readDir(name, r)
	}
	return u.local.ReadDir(name)
}
func (u *unionFS) Stat(name string) (fs.FileInfo, error) {
	if r, ok := u.rel(name); ok {
		return u.s3.stat(name, r)
	}
	return u.local.Stat(name)
}
func (u *unionFS) SyncDir(name string) error {
	if _, ok := u.rel(name); ok {
		return readOnly("sync", name)
	}
	return u.local.SyncDir(name)
}
func (u *unionFS) Lock(name string) (io.Closer, error) {
	if _, ok := u.rel(name); ok {
		return nil, readOnly("lock", name)
	}
	return u.local.Lock(name)
}

func (u *unionFS) either(a, b string) bool {
	_, x := u.rel(a)
	_, y := u.rel(b)
	return x || y
}

func readOnly(op, name string) error { return &fs.PathError{Op: op, Path: name, Err: ErrReadOnly} }

// pathErr turns the store's errors into the file system's: a missing
// object is fs.ErrNotExist, as readers test.
func pathErr(op, name string, err error) error {
	if errors.Is(err, objstore.ErrNotFound) {
		err = fs.ErrNotExist
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// kind of a path below the root, by its place in the layout.
type place struct {
	stream string // stream key (v1/V/S/D/STREAM) of a stream directory or a file in one
	file   string // the file's name in the stream, "" for the directory
}

func placeOf(rel string) (place, bool) {
	parts := strings.Split(rel, "/")
	if len(parts) < 5 || parts[0] != "v1" {
		return place{}, false
	}
	p := place{stream: strings.Join(parts[:5], "/")}
	switch len(parts) {
	case 5:
	case 6:
		p.file = parts[5]
	default:
		p.file = "/" // below a stream directory: nothing is there
	}
	return p, true
}

// head resolves a stream's HEAD once per process, so that every read of
// the stream is of one version.
func (f *s3FS) head(streamKey string) (*Head, error) {
	f.mu.Lock()
	h, ok := f.heads[streamKey]
	f.mu.Unlock()
	if ok {
		return h, nil
	}
	h, _, err := f.a.readHead(f.ctx, streamKey)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if prev, ok := f.heads[streamKey]; ok {
		return prev, nil // another reader resolved it first: keep one version
	}
	f.heads[streamKey] = h
	if h != nil {
		n := 0
		for _, e := range h.Files {
			if e.Size <= smallFile && n < prefetchSmall {
				f.fetchSmall(streamKey+"/"+h.Version+"/"+e.Name, e.Size) // f.mu is held
				n++
			}
		}
	}
	return h, nil
}

// forget drops what the process resolved of a stream (after publishing it).
func (f *s3FS) forget(streamKey string) {
	f.mu.Lock()
	delete(f.heads, streamKey)
	f.mu.Unlock()
}

func headFile(h *Head, name string) (HeadEntry, bool) {
	for _, e := range h.Files {
		if e.Name == name {
			return e, true
		}
	}
	return HeadEntry{}, false
}

func (f *s3FS) stat(name, rel string) (fs.FileInfo, error) {
	if rel == "" {
		return dirInfo(name), nil
	}
	if pl, ok := placeOf(rel); ok {
		h, err := f.head(pl.stream)
		if err != nil {
			return nil, pathErr("stat", name, err)
		}
		if h == nil {
			return nil, pathErr("stat", name, fs.ErrNotExist)
		}
		if pl.file == "" {
			return streamDirInfo(name), nil
		}
		e, ok := headFile(h, pl.file)
		if !ok {
			return nil, pathErr("stat", name, fs.ErrNotExist)
		}
		return fileInfo{name: path.Base(name), size: e.Size}, nil
	}
	info, err := f.a.store.Stat(f.ctx, rel)
	if err == nil {
		return fileInfo{name: path.Base(name), size: info.Size}, nil
	}
	if !errors.Is(err, objstore.ErrNotFound) {
		return nil, pathErr("stat", name, err)
	}
	files, dirs, err := f.a.store.ListDir(f.ctx, rel+"/")
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	if len(files) == 0 && len(dirs) == 0 {
		return nil, pathErr("stat", name, fs.ErrNotExist)
	}
	return dirInfo(name), nil
}

func (f *s3FS) readDir(name, rel string) ([]fs.DirEntry, error) {
	if pl, ok := placeOf(rel); ok {
		h, err := f.head(pl.stream)
		if err != nil {
			return nil, pathErr("readdir", name, err)
		}
		if h == nil || pl.file != "" {
			return nil, pathErr("readdir", name, fs.ErrNotExist)
		}
		out := make([]fs.DirEntry, 0, len(h.Files))
		for _, e := range h.Files {
			out = append(out, fs.FileInfoToDirEntry(fileInfo{name: e.Name, size: e.Size}))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
		return out, nil
	}
	prefix := ""
	if rel != "" {
		prefix = rel + "/"
	}
	files, dirs, err := f.a.store.ListDir(f.ctx, prefix)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	if len(files) == 0 && len(dirs) == 0 && rel != "" {
		return nil, pathErr("readdir", name, fs.ErrNotExist)
	}
	dateDir := len(strings.Split(rel, "/")) == 4 && strings.HasPrefix(rel, "v1/")
	var out []fs.DirEntry
	for _, d := range dirs {
		if dateDir && !strings.HasPrefix(d, ".") {
			// A stream directory exists once it has a commit: what a
			// crashed first upload left is not a stream.
			h, err := f.head(prefix + d)
			if err != nil {
				return nil, pathErr("readdir", name, err)
			}
			if h == nil {
				continue
			}
		}
		out = append(out, fs.FileInfoToDirEntry(dirInfo(d)))
	}
	for _, o := range files {
		out = append(out, fs.FileInfoToDirEntry(fileInfo{name: path.Base(o.Key), size: o.Size}))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (f *s3FS) open(name, rel string) (vfs.File, error) {
	key := rel
	var size int64 = -1
	next := "" // the version's next segment file, read after this one
	if pl, ok := placeOf(rel); ok {
		h, err := f.head(pl.stream)
		if err != nil {
			return nil, pathErr("open", name, err)
		}
		if h == nil {
			return nil, pathErr("open", name, fs.ErrNotExist)
		}
		if pl.file == "" {
			return &dirFile{name: name, info: streamDirInfo(name)}, nil
		}
		e, ok := headFile(h, pl.file)
		if !ok {
			return nil, pathErr("open", name, fs.ErrNotExist)
		}
		key, size = pl.stream+"/"+h.Version+"/"+pl.file, e.Size
		next = nextSegment(h, pl.file)
		if next != "" {
			next = pl.stream + "/" + h.Version + "/" + next
		}
	}
	if size >= 0 && size <= smallFile {
		b, err := f.smallBytes(key, size)
		if err != nil {
			return nil, pathErr("open", name, err)
		}
		return &file{name: name, r: bytesAt(b), size: size}, nil
	}
	if size < 0 {
		if rel == "" {
			return &dirFile{name: name}, nil
		}
		if _, err := f.a.store.Stat(f.ctx, rel); errors.Is(err, objstore.ErrNotFound) {
			if info, serr := f.stat(name, rel); serr == nil && info.IsDir() {
				return &dirFile{name: name}, nil
			}
		}
	}
	if size >= 0 {
		// The commit object gives the size: no HEAD request, and the
		// first GET pins the version (objstore.OpenSized).
		obj := f.a.store.OpenSized(f.ctx, key, size)
		f.register(key, obj)
		fl := &file{name: name, r: obj, size: size, fs: f, key: key, obj: obj, next: next, runEnd: -1}
		return fl, nil
	}
	obj, err := f.a.store.Open(f.ctx, key)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return &file{name: name, r: obj, size: obj.Size(), closer: obj}, nil
}

// smallBytes reads a small file of a version whole, once.
func (f *s3FS) smallBytes(key string, size int64) ([]byte, error) {
	f.mu.Lock()
	c := f.fetchSmall(key, size)
	f.mu.Unlock()
	<-c.done
	return c.b, c.err
}

// fetchSmall returns the fetch of a small file, starting it if it is not
// under way or done; a failed fetch is not kept, so a later open retries.
// f.mu is held.
func (f *s3FS) fetchSmall(key string, size int64) *smallFetch {
	if c, ok := f.small[key]; ok {
		return c
	}
	c := &smallFetch{done: make(chan struct{})}
	f.small[key] = c
	go func() {
		defer close(c.done)
		b, _, err := f.a.store.Get(f.ctx, key)
		if err == nil && int64(len(b)) != size {
			err = fmt.Errorf("%d bytes, the commit object lists %d", len(b), size)
		}
		if err != nil {
			c.err = err
			f.mu.Lock()
			delete(f.small, key)
			f.mu.Unlock()
			return
		}
		c.b = b
	}()
	return c
}

type bytesAt []byte

func (b bytesAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// file is a read-only file of the archive: an object read through the
// store's read-ahead reader, or a small one in memory.
type file struct {
	name   string
	r      io.ReaderAt
	size   int64
	off    int64 // of Read
	closer io.Closer

	// A large file of a version: near the end of a long run of
	// contiguous reads (a replay), the next segment file's first chunks
	// are fetched (track).
	fs     *s3FS
	key    string
	obj    *objstore.Object
	next   string // key of the next segment file, "" for none
	mu     sync.Mutex
	runBeg int64 // where the current run of contiguous reads began
	runEnd int64 // where it ends; -1 before the first read
	warmed bool
}

// A run of contiguous reads from the file's start that comes within
// prefetchLead of its end starts the next segment file's read: a replay
// then switches files without waiting for a GET. A run from a block a
// lookup found (a book --at reading on from a checkpoint) never does: it
// stops at its moment, and the next file would be fetched for nothing.
const prefetchLead = 2 * objstore.DefaultChunkSize

// track notes a read of n bytes at off and prefetches the next file when
// the run reaches near the end.
func (f *file) track(off int64, n int) {
	if f.next == "" || n <= 0 {
		return
	}
	f.mu.Lock()
	if off != f.runEnd {
		f.runBeg = off
	}
	f.runEnd = off + int64(n)
	fire := !f.warmed && f.runBeg == 0 && f.runEnd >= f.size-prefetchLead
	if fire {
		f.warmed = true
	}
	f.mu.Unlock()
	if fire {
		f.fs.prefetch(f.next)
	}
}

// register and unregister keep the open readers of large files, which
// prefetch finds by key.
func (f *s3FS) register(key string, obj *objstore.Object) {
	f.mu.Lock()
	f.opened[key] = append(f.opened[key], obj)
	warm := f.warm[key]
	delete(f.warm, key)
	f.mu.Unlock()
	if warm {
		obj.Prefetch()
	}
}

func (f *s3FS) unregister(key string, obj *objstore.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	objs := f.opened[key]
	for i, o := range objs {
		if o == obj {
			objs = append(objs[:i], objs[i+1:]...)
			break
		}
	}
	if len(objs) == 0 {
		delete(f.opened, key)
	} else {
		f.opened[key] = objs
	}
}

// prefetch starts the read of key from its start in its open readers (a
// reader that has read it already ignores it), or at its open.
func (f *s3FS) prefetch(key string) {
	f.mu.Lock()
	objs := append([]*objstore.Object(nil), f.opened[key]...)
	if len(objs) == 0 {
		f.warm[key] = true
	}
	f.mu.Unlock()
	for _, o := range objs {
		o.Prefetch()
	}
}

// nextSegment is the name of the version's large segment file after name
// (HEAD lists files sorted by name, as segment ids sort), "" for none.
func nextSegment(h *Head, name string) string {
	if _, _, ok := segment.ParseName(name); !ok || strings.HasSuffix(name, ".idx") {
		return ""
	}
	for i, e := range h.Files {
		if e.Name != name {
			continue
		}
		for _, n := range h.Files[i+1:] {
			if _, _, ok := segment.ParseName(n.Name); ok && n.Size > smallFile && !strings.HasSuffix(n.Name, ".idx") {
				return n.Name
			}
		}
		return ""
	}
	return ""
}

func (f *file) Read(p []byte) (int, error) {
	n, err := f.r.ReadAt(p, f.off)
	f.track(f.off, n)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.r.ReadAt(p, off)
	f.track(off, n)
	return n, err
}
func (f *file) Write([]byte) (int, error)          { return 0, readOnly("write", f.name) }
func (f *file) WriteAt([]byte, int64) (int, error) { return 0, readOnly("write", f.name) }
func (f *file) Sync() error                        { return readOnly("sync", f.name) }
func (f *file) Name() string                       { return f.name }
func (f *file) Stat() (fs.FileInfo, error) {
	return fileInfo{name: path.Base(f.name), size: f.size}, nil
}
func (f *file) Close() error {
	if f.obj != nil {
		f.fs.unregister(f.key, f.obj)
		return f.obj.Close()
	}
	if f.closer != nil {
		return f.closer.Close()
	}
	return nil
}

// dirFile is an open directory: it can be stat'ed, not read.
type dirFile struct {
	name string
	info fs.FileInfo // nil: dirInfo(name)
}

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *dirFile) ReadAt([]byte, int64) (int, error)  { return d.Read(nil) }
func (d *dirFile) Write([]byte) (int, error)          { return 0, readOnly("write", d.name) }
func (d *dirFile) WriteAt([]byte, int64) (int, error) { return 0, readOnly("write", d.name) }
func (d *dirFile) Sync() error                        { return nil }
func (d *dirFile) Name() string                       { return d.name }
func (d *dirFile) Stat() (fs.FileInfo, error) {
	if d.info != nil {
		return d.info, nil
	}
	return dirInfo(d.name), nil
}
func (d *dirFile) Close() error { return nil }

// streamDirInfo describes a stream directory. Readers tell a stream
// replaced under them by comparing the directory's identity before and
// after (vfs.SameFile). This FS pins each stream to the version it first
// resolved, so the directory it serves never changes under a reader: two
// FileInfos of one stream directory name the same file.
func streamDirInfo(name string) fs.FileInfo { return pinnedDir{dirInfo(name), name} }

// pinnedDir is a stream directory's FileInfo with its identity: its path.
type pinnedDir struct {
	fileInfo
	path string
}

func (d pinnedDir) SameFile(other fs.FileInfo) bool {
	o, ok := other.(pinnedDir)
	return ok && o.path == d.path
}

type fileInfo struct {
	name string
	size int64
	dir  bool
}

func dirInfo(name string) fileInfo { return fileInfo{name: path.Base(name), dir: true} }

func (i fileInfo) Name() string { return i.name }
func (i fileInfo) Size() int64  { return i.size }
func (i fileInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.dir }
func (i fileInfo) Sys() any           { return nil }
