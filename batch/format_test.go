package batch

import (
	"math"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Bytes(0), "0 B"},
		{Bytes(1023), "1023 B"},
		{Bytes(1536), "1.5 KiB"},
		{Bytes(5 << 30), "5.0 GiB"},
		{Bytes(math.MaxInt64), "7.9 EiB"},
		{Count(9999), "9999"},
		{Count(12_345), "12.3k"},
		{Count(45_678_901), "45.6M"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for _, tc := range []struct{ got, want int64 }{
		{PerSecond(100, 2*time.Second), 50},
		{PerSecond(3, 2*time.Second), 1},
		{PerSecond(1e12, time.Hour), 277_777_777},
		{PerSecond(1e18, time.Millisecond), math.MaxInt64},
		{PerSecond(5, 0), 0},
		{int64(ETA(100, 300, 10*time.Second)), int64(30 * time.Second)},
		{int64(ETA(0, 300, 10*time.Second)), 0},
		{int64(ETA(1<<40, 1<<40, 2*time.Hour)), int64(2 * time.Hour)},
	} {
		if tc.got != tc.want {
			t.Errorf("got %d, want %d", tc.got, tc.want)
		}
	}
}
