//go:build !unix

package tardis

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
