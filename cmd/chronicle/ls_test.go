package main

import (
	"path/filepath"
	"strings"
	"testing"
)

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

// TestLsVerifyArchiveRoot: ls and verify take --archive-root like the
// other commands, and a PATH argument overrides it.
func TestLsVerifyArchiveRoot(t *testing.T) {
	dir := rpImport(t, "../../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz")
	root := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(dir)))))
	for _, args := range [][]string{
		{"ls", "--archive-root", root},
		{"verify", "--archive-root", root},
		{"ls", "--archive-root", t.TempDir(), root},
	} {
		code, stdout, stderr := rpRun(args...)
		if code != 0 || !strings.Contains(stdout, "binance-futures") && !strings.Contains(stdout, "1 streams") {
			t.Errorf("%v: exit %d\nstdout %s\nstderr %s", args, code, stdout, stderr)
		}
	}
}
