package s3archive

import "testing"

// The next segment file of a version, for the prefetch at the end of a
// replay's run: the next large segment by name, never an index or a small
// file.
func TestNextSegment(t *testing.T) {
	h := &Head{Files: []HeadEntry{
		{"000000000.q.zst", 5 << 20}, {"000000000.q.zst.idx", 2 << 20},
		{"000000001.q.zst", 200}, {"000000001.q.zst.idx", 10},
		{"000000002.q.zst", 3 << 20}, {"000000002.q.zst.idx", 10},
		{"checkpoints.ckpt", 2 << 20}, {"meta.json", 900},
	}}
	for name, want := range map[string]string{
		"000000000.q.zst":     "000000002.q.zst",
		"000000002.q.zst":     "",
		"000000000.q.zst.idx": "",
		"checkpoints.ckpt":    "",
		"meta.json":           "",
		"nothing":             "",
	} {
		if got := nextSegment(h, name); got != want {
			t.Errorf("nextSegment(%s) = %q, want %q", name, got, want)
		}
	}
}
