package archive

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/chronicle-archive/chronicle/vfs"
)

// TestManifestWithKnown: a known entry is used only for a file of that name
// and size; anything else is hashed.
func TestManifestWithKnown(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("aaa"), 0o644)
	os.WriteFile(filepath.Join(dir, "b"), []byte("bbbb"), 0o644)
	known := map[string]FileEntry{
		"a": {Name: "a", Size: 3, Blake3: "known-a"},
		"b": {Name: "b", Size: 3, Blake3: "stale-b"}, // wrong size: not trusted
		"c": {Name: "c", Size: 1, Blake3: "gone"},    // no such file: not listed
	}
	files, err := manifestWith(vfs.Default, dir, known)
	if err != nil {
		t.Fatal(err)
	}
	sumB := blake3.Sum256([]byte("bbbb"))
	if len(files) != 2 || files[0].Blake3 != "known-a" || files[1].Blake3 != hexString(sumB[:]) || files[1].Size != 4 {
		t.Fatalf("manifest %+v", files)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
