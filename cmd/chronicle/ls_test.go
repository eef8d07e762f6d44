package main

import "testing"

// Issue 7 item 4: a time range past 2^63 ns prints as a number, never as a
// date wrapped into 1677..1970.
func TestFmtTimeNeverWraps(t *testing.T) {
	for _, tc := range []struct {
		ns   uint64
		want string
	}{
		{1714521600000000000, "2024-05-01T00:00:00.000000Z"},
		{1<<63 - 1, "2262-04-11T23:47:16.854775Z"},
		{10000000000000000000, "10000000000000000000ns(invalid)"},
	} {
		if got := fmtTime(tc.ns); got != tc.want {
			t.Errorf("fmtTime(%d) = %q, want %q", tc.ns, got, tc.want)
		}
	}
}
