package segment

import (
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chronicle-archive/chronicle/vfs"
)

// memFS is a minimal in-memory vfs.FS for tests that run the reader or
// verifier thousands of times (flip loops, fuzzing). Paths are slash
// separated; directories exist implicitly.
type memFS struct {
	// The embedded interface is nil: a method vfs.FS gains later and
	// memFS lacks panics if used, rather than breaking the build.
	vfs.FS
	mu    sync.Mutex
	files map[string]*memData
}

type memData struct{ b []byte }

func newMemFS() *memFS { return &memFS{files: make(map[string]*memData)} }

func (m *memFS) clean(name string) string { return path.Clean(name) }

// put stores a file's contents (copied).
func (m *memFS) put(name string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[m.clean(name)] = &memData{b: append([]byte(nil), b...)}
}

// get returns a file's contents (not copied), or nil.
func (m *memFS) get(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.files[m.clean(name)]; d != nil {
		return d.b
	}
	return nil
}

func (m *memFS) Create(name string) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := &memData{}
	m.files[m.clean(name)] = d
	return &memFile{fs: m, name: name, d: d}, nil
}

func (m *memFS) Open(name string) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.files[m.clean(name)]
	if d == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{fs: m, name: name, d: d, ro: true}, nil
}

func (m *memFS) rename(o, n string, replace bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.files[m.clean(o)]
	if d == nil {
		return &fs.PathError{Op: "rename", Path: o, Err: fs.ErrNotExist}
	}
	if _, ok := m.files[m.clean(n)]; ok && !replace {
		return &fs.PathError{Op: "rename", Path: n, Err: fs.ErrExist}
	}
	delete(m.files, m.clean(o))
	m.files[m.clean(n)] = d
	return nil
}

func (m *memFS) Rename(o, n string) error          { return m.rename(o, n, true) }
func (m *memFS) RenameNoReplace(o, n string) error { return m.rename(o, n, false) }
func (m *memFS) Exchange(a, b string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[m.clean(a)], m.files[m.clean(b)] = m.files[m.clean(b)], m.files[m.clean(a)]
	return nil
}

func (m *memFS) Link(o, n string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.files[m.clean(o)]
	if d == nil {
		return &fs.PathError{Op: "link", Path: o, Err: fs.ErrNotExist}
	}
	if _, ok := m.files[m.clean(n)]; ok {
		return &fs.PathError{Op: "link", Path: n, Err: fs.ErrExist}
	}
	m.files[m.clean(n)] = d
	return nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[m.clean(name)]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, m.clean(name))
	return nil
}

func (m *memFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.clean(name)
	for k := range m.files {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(m.files, k)
		}
	}
	return nil
}

func (m *memFS) MkdirAll(string, fs.FileMode) error { return nil }
func (m *memFS) SyncDir(string) error               { return nil }
func (m *memFS) Lock(string) (io.Closer, error)     { return io.NopCloser(nil), nil }

func (m *memFS) ReadDir(name string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.clean(name) + "/"
	var out []fs.DirEntry
	for k, d := range m.files {
		if rest, ok := strings.CutPrefix(k, p); ok && !strings.Contains(rest, "/") {
			out = append(out, memInfo{name: rest, size: int64(len(d.b))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (m *memFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.files[m.clean(name)]
	if d == nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return memInfo{name: path.Base(name), size: int64(len(d.b))}, nil
}

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string               { return i.name }
func (i memInfo) Size() int64                { return i.size }
func (i memInfo) Mode() fs.FileMode          { return 0o644 }
func (i memInfo) ModTime() time.Time         { return time.Time{} }
func (i memInfo) IsDir() bool                { return false }
func (i memInfo) Sys() any                   { return nil }
func (i memInfo) Type() fs.FileMode          { return 0 }
func (i memInfo) Info() (fs.FileInfo, error) { return i, nil }

type memFile struct {
	fs   *memFS
	name string
	d    *memData
	off  int64
	ro   bool
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if off >= int64(len(f.d.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.d.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	n, err := f.WriteAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if f.ro {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrPermission}
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(f.d.b)) {
		f.d.b = append(f.d.b, make([]byte, end-int64(len(f.d.b)))...)
	}
	copy(f.d.b[off:], p)
	return len(p), nil
}

func (f *memFile) Close() error { return nil }
func (f *memFile) Sync() error  { return nil }
func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return memInfo{name: path.Base(f.name), size: int64(len(f.d.b))}, nil
}
