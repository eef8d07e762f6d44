//go:build !linux

package segment

import "github.com/chronicle-archive/chronicle/vfs"

// mapWindow maps nothing here: .q files are read with pread.
func mapWindow(vfs.File, int64, int) ([]byte, bool) { return nil, false }

func unmapWindow([]byte) {}

const pageSize = 4096
