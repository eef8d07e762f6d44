//go:build linux

package segment

import (
	"os"
	"sync/atomic"

	"github.com/chronicle-archive/chronicle/vfs"
	"golang.org/x/sys/unix"
)

// mapDisabled is set once madvise(MADV_POPULATE_READ) turns out to be
// missing (Linux before 5.14): without it a read error would reach the
// reader as SIGBUS, so from then on every .q is read with pread.
var mapDisabled atomic.Bool

var pageSize = int64(unix.Getpagesize())

func init() {
	if os.Getenv("CHRONICLE_MMAP") == "off" {
		mapDisabled.Store(true)
	}
}

// mapWindow maps n bytes of f from off (a multiple of the page size) and
// has the kernel read them in before it returns, so that every fault of
// the reads to come is taken here, as an error, instead of as SIGBUS in
// the parser: a read error of the disk, or bytes past the end of a file
// that is shorter than its listing (ok is false then, and the caller
// reads the window with pread, which reports what is wrong). Only a file
// truncated while it is mapped can still fault later; Chronicle never
// truncates a sealed segment.
func mapWindow(f vfs.File, off int64, n int) (m []byte, ok bool) {
	if mapDisabled.Load() || n <= 0 {
		return nil, false
	}
	of, isOS := f.(*os.File)
	if !isOS {
		return nil, false
	}
	m, err := unix.Mmap(int(of.Fd()), off, n, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, false
	}
	if err := unix.Madvise(m, unix.MADV_POPULATE_READ); err != nil {
		unix.Munmap(m)
		if err == unix.EINVAL {
			mapDisabled.Store(true)
		}
		return nil, false
	}
	return m, true
}

func unmapWindow(m []byte) { unix.Munmap(m) }
