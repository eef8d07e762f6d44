package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestQuietGC: book and replay turn the collector off up to streams ×
// quietHeap and restore it after, unless $GOGC or $GOMEMLIMIT is set.
func TestQuietGC(t *testing.T) {
	// From the defaults, whatever the test process was started with.
	pct0, lim0 := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	defer func() { debug.SetGCPercent(pct0); debug.SetMemoryLimit(lim0) }()
	for _, tc := range []struct {
		env     map[string]string
		streams int
		pct     int
		limit   int64
	}{
		{nil, 1, -1, quietHeap},
		{nil, 3, -1, 3 * quietHeap},
		{map[string]string{"GOGC": "200"}, 1, 100, math.MaxInt64},
		{map[string]string{"GOMEMLIMIT": "1GiB"}, 2, 100, math.MaxInt64},
	} {
		a := &app{e: &env{getenv: func(k string) string { return tc.env[k] }}}
		restore := a.quietGC(tc.streams)
		pct, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
		restore()
		if pct != tc.pct || limit != tc.limit {
			t.Errorf("env %v, %d streams: GOGC %d, limit %d; want %d, %d", tc.env, tc.streams, pct, limit, tc.pct, tc.limit)
		}
		if p, l := debug.SetGCPercent(100), debug.SetMemoryLimit(-1); p != 100 || l != math.MaxInt64 {
			t.Errorf("env %v: not restored: GOGC %d, limit %d", tc.env, p, l)
		}
	}
}
