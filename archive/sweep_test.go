package archive

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chronicle-archive/chronicle/vfs"
)

func TestSweepRemovesOnlyChronicleTmpNames(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		swept bool
	}{
		{"download.tmp", false},
		{"notes.json.tmp", false},
		{"000000007.q.tmp", true},
		{"000000007.q.zst.idx.tmp", true},
		{MetaName + ".tmp", true},
		{sideFile + ".tmp", true},
	} {
		p := filepath.Join(dir, tc.name)
		os.WriteFile(p, nil, 0o644)
		if err := sweepTmp(vfs.Default, dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); (err == nil) == tc.swept {
			t.Errorf("%s: swept=%v, want %v", tc.name, err != nil, tc.swept)
		}
	}
}
