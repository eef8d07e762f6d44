package batch

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Bytes formats n bytes for people, one decimal, binary units: "512 B",
// "1.5 KiB", "2.0 GiB" (integer arithmetic, truncating).
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	tenths := uint64(n%div) * 10 / uint64(div) // uint64: n%div*10 can pass MaxInt64
	return fmt.Sprintf("%d.%d %ciB", n/div, tenths, "KMGTPE"[exp])
}

// Count formats a count for people: 9999, 12.3k, 45.6M.
func Count(n int64) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%d.%dM", n/1_000_000, n%1_000_000/100_000)
	case n >= 10_000:
		return fmt.Sprintf("%d.%dk", n/1_000, n%1_000/100)
	}
	return fmt.Sprint(n)
}

// PerSecond is n per second over d, 0 for no time.
func PerSecond(n int64, d time.Duration) int64 {
	if d <= 0 || n <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(n), uint64(time.Second))
	if hi >= uint64(d) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(d))
	return int64(min(q, math.MaxInt64))
}

// ETA is the time left to do remaining more, work having taken elapsed;
// 0 when it cannot be told yet.
func ETA(work, remaining int64, elapsed time.Duration) time.Duration {
	if work <= 0 || remaining <= 0 || elapsed <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(elapsed), uint64(remaining))
	if hi >= uint64(work) {
		return 0
	}
	q, _ := bits.Div64(hi, lo, uint64(work))
	return time.Duration(min(q, math.MaxInt64))
}
