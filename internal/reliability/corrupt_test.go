package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorruptionCLI damages each file of a compressed stream in turn (one
// byte flipped, or the file cut short) and runs `chronicle verify`: it
// must exit 3 and name the damaged file. Readers (export) must not exit 0
// on damaged data. The detailed matrices are in archive and segment, and
// for every reader in readers_matrix_test.go.
func TestCorruptionCLI(t *testing.T) {
	seed := t.TempDir()
	mustRun(t, nil, "import", "--archive-root", seed, "--compress", "--segment-size", "1048576", testdata(sample50k))
	dir := filepath.Join(seed, bigStream)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := os.ReadDir(filepath.Join(seed, bigLedger))
	if err != nil || len(ledger) != 1 {
		t.Fatalf("ledger: %v %v", ledger, err)
	}
	targets := []string{filepath.Join(bigLedger, ledger[0].Name())}
	for _, e := range ents {
		targets = append(targets, filepath.Join(bigStream, e.Name()))
	}
	tried := 0
	for _, rel := range targets {
		for _, how := range []string{"flip", "truncate"} {
			t.Run(filepath.Base(rel)+"-"+how, func(t *testing.T) {
				root := filepath.Join(t.TempDir(), "root")
				copyTree(t, seed, root)
				path := filepath.Join(root, rel)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if how == "flip" {
					// In a JSON file, the first digit of "rows", so that it
					// still parses (a digit of a manifest hash would make
					// verify name the file that hash is of).
					i := len(b) / 2
					if strings.HasSuffix(path, ".json") {
						i = strings.Index(string(b), `"rows": `) + len(`"rows": `)
					}
					b[i] ^= 0x01
				} else {
					b = b[:len(b)*2/3]
				}
				writeFile(t, path, b)
				tried++
				r := chronicle(t, nil, "verify", root)
				if r.code != 3 || !strings.Contains(r.stdout, "PROBLEM "+path) {
					t.Errorf("verify: want exit 3 and a PROBLEM naming %s: %v\n%s", path, r, r.stdout)
				}
				switch {
				case strings.HasSuffix(rel, ".ckpt"):
					// Checkpoints are bound to the stream by meta.json's
					// manifest: a book query that would start from one fails.
					r := chronicle(t, nil, "book", filepath.Join(root, bigStream), "--at", "1714521603000000000")
					if r.code != 3 || !strings.Contains(r.stderr, path) {
						t.Errorf("book over damaged checkpoints: want exit 3 naming %s: %v", path, r)
					}
					return
				case strings.HasSuffix(rel, ".json"):
					// A cut meta.json is damage to readers too; a changed row
					// count is not read by them (verify's job).
					if r := chronicle(t, nil, "export", filepath.Join(root, bigStream)); how == "truncate" && !strings.Contains(rel, "imports") &&
						(r.code != 3 || !strings.Contains(r.stderr, path)) {
						t.Errorf("export with a cut meta.json: want exit 3 naming %s: %v", path, r)
					}
					return
				}
				if r := chronicleTo(t, newHashWriter(), nil, "export", filepath.Join(root, bigStream)); r.code == 0 {
					t.Errorf("export of a damaged %s exited 0", filepath.Base(rel))
				}
				// Replay must stop at the damage with exit 3 (corruption),
				// never print a book built from a damaged record.
				if r := chronicle(t, nil, "replay", filepath.Join(root, bigStream)); r.code != 3 || !strings.Contains(r.stderr, "offset") {
					t.Errorf("replay of a damaged %s: want exit 3 naming the offset: %v", filepath.Base(rel), r)
				}
			})
		}
	}
	t.Logf("%d damaged files tried", tried)
}
