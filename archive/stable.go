package archive

import (
	"github.com/chronicle-archive/chronicle/vfs"
)

// readStable runs read, which reads the stream directory dir, so that what
// it read comes from one version of the stream. Writers replace a stream by
// swapping in a new directory and published directories never change in
// place, so if the directory at dir is the same inode before and after,
// no swap came in between; otherwise read runs again (discard undoes a
// result that is dropped). After a few swaps in a row the last result
// stands.
func readStable[T any](fsys vfs.FS, dir string, read func() (T, error), discard func(T)) (T, error) {
	for attempt := 1; ; attempt++ {
		// Held open while read runs, so that the inode number cannot be
		// reused by a directory swapped in meanwhile (as the staging
		// directory of the next import could be).
		d, err := fsys.Open(dir)
		if err != nil {
			var zero T
			return zero, err
		}
		before, err := d.Stat()
		if err != nil {
			d.Close()
			var zero T
			return zero, err
		}
		v, err := read()
		after, serr := fsys.Stat(dir)
		d.Close()
		if serr == nil && vfs.SameFile(before, after) || attempt == 5 {
			return v, err
		}
		if err == nil && discard != nil {
			discard(v)
		}
	}
}
