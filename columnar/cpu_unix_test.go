//go:build unix

package columnar

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time this process has used (all threads), so
// that benchmarks can report CPU cost, which stays meaningful on a shared,
// busy machine where wall-clock time does not.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
