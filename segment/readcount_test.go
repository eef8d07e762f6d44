package segment

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/chronicle-archive/chronicle/vfs"
)

// countFS records every ReadAt on the files it opens.
type countFS struct {
	vfs.FS
	mu    sync.Mutex
	reads map[string][][2]int64 // base name -> (offset, length)
}

type countFile struct {
	vfs.File
	fs   *countFS
	name string
}

func (c *countFS) Open(name string) (vfs.File, error) {
	f, err := c.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return countFile{f, c, filepath.Base(name)}, nil
}

func (f countFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	f.fs.reads[f.name] = append(f.fs.reads[f.name], [2]int64{off, int64(len(p))})
	f.fs.mu.Unlock()
	return f.File.ReadAt(p, off)
}

// TestReadsOnlyWhatItNeeds: opening a stream checks a segment's header
// with a 64-byte read (or frame 0 alone of a .q.zst), so that a Seek (as
// replay.BookAt does through a checkpoint) reads nothing before its target,
// and a reader going from the start reads each byte or frame once.
func TestReadsOnlyWhatItNeeds(t *testing.T) {
	dir := t.TempDir()
	recs := make([]testRec, 6000)
	for i := range recs {
		recs[i] = testRec{typ: 0x1000, ts: uint64(i), payload: make([]byte, 600+i%100)}
	}
	pos := writeRecs(t, dir, WriterOptions{}, recs)
	zdir := copyDir(t, dir)
	compressAll(t, vfs.Default, zdir, CompressOptions{BlockSize: 64 << 10})
	k := len(recs) * 7 / 8
	off := pos[k].Offset
	if off < 2*readBufSize {
		t.Fatalf("target offset %d too close to the start for this test", off)
	}

	read := func(t *testing.T, dir string, seek bool) map[string][][2]int64 {
		cfs := &countFS{FS: vfs.Default, reads: map[string][][2]int64{}}
		r, err := OpenStream(dir, ReaderOptions{FS: cfs})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		first := 0
		if seek {
			if err := r.Seek(0, off); err != nil {
				t.Fatal(err)
			}
			first = k
		}
		got, err := drain(r)
		if err != nil {
			t.Fatal(err)
		}
		checkRecs(t, got, recs[first:], pos[first:], uint64(first))
		return cfs.reads
	}

	t.Run("q", func(t *testing.T) {
		size := pos[len(pos)-1].Offset + recordLen(int64(len(recs[len(recs)-1].payload)))
		for _, seek := range []bool{false, true} {
			reads := read(t, dir, seek)[Name(0)]
			var total int64
			for _, rd := range reads {
				total += rd[1]
				if seek && rd != [2]int64{0, HeaderSize} && rd[0] < off {
					t.Errorf("seek to %d: read %d bytes at %d", off, rd[1], rd[0])
				}
			}
			if want := size - off + HeaderSize; seek && total > want {
				t.Errorf("seek to %d: read %d bytes, want at most %d", off, total, want)
			}
			if !seek && total > size {
				t.Errorf("read %d bytes of a %d-byte segment", total, size)
			}
		}
	})
	t.Run("zst", func(t *testing.T) {
		ls, err := listStream(vfs.Default, zdir)
		if err != nil || len(ls) != 1 || !ls[0].zst {
			t.Fatalf("compressed stream: %v %+v", err, ls)
		}
		sf, err := openSegment(vfs.Default, zdir, ls[0])
		if err != nil || sf.ix == nil {
			t.Fatalf("open: %v", err)
		}
		sf.f.Close()
		target := sf.ix.Find(off)
		for _, seek := range []bool{false, true} {
			reads := read(t, zdir, seek)[CompressedName(0)]
			frames := map[int]int{}
			for _, rd := range reads {
				i := -1
				for j, e := range sf.ix.Entries {
					if int64(e.CompressedOffset) == rd[0] && int64(e.CompressedSize) == rd[1] {
						i = j
					}
				}
				if i < 0 {
					t.Fatalf("read %v is not a frame", rd)
				}
				frames[i]++
			}
			for i := range sf.ix.Entries {
				want := 1
				if seek && i > 0 && i < target {
					want = 0
				}
				if frames[i] != want {
					t.Errorf("seek %v: frame %d read %d times, want %d", seek, i, frames[i], want)
				}
			}
		}
	})
}
