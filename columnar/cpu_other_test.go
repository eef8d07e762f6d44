//go:build !unix

package columnar

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
