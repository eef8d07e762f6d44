package stream

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyFindsDamage damages one region of a published stream at a time
// and expects verify to name the file (and, where a decoder can tell, the
// record's offset).
func TestVerifyFindsDamage(t *testing.T) {
	type damage struct {
		name     string
		compress bool
		file     string // segment file to damage
		apply    func(t *testing.T, path string)
		offset   int64 // expected problem offset in that file; -1: any
	}
	flip := func(off int64) func(*testing.T, string) {
		return func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[off] ^= 0x40
			os.WriteFile(p, b, 0o644)
		}
	}
	truncate := func(t *testing.T, p string) {
		st, _ := os.Stat(p)
		os.Truncate(p, st.Size()-100)
	}
	cases := []damage{
		{"segment header magic", false, "000000000.q", flip(0), 0},
		{"segment header flags", false, "000000000.q", flip(12), -1},
		{"segment header reserved", false, "000000000.q", flip(40), -1},
		{"message header commit_len", false, "000000000.q", flip(64 + 1), 64},
		{"message header seq", false, "000000000.q", flip(64 + 8), 64},
		{"message header timestamp", false, "000000000.q", flip(64 + 16), 64},
		{"message header type_id", false, "000000000.q", flip(64 + 24), 64},
		{"message header checksum", false, "000000000.q", flip(64 + 28), 64},
		{"message header reserved", false, "000000000.q", flip(64 + 40), 64},
		{"payload", false, "000000000.q", flip(64 + 64 + 100), 64},
		{"truncated segment", false, "000000000.q", truncate, -1},
		{"idx header", true, "000000000.q.zst.idx", flip(16), -1},
		{"idx entry", true, "000000000.q.zst.idx", flip(24 + 16), -1},
		{"zstd frame", true, "000000000.q.zst", flip(20), -1},
		{"zstd frame header", true, "000000000.q.zst", flip(4), -1},
		{"truncated zst", true, "000000000.q.zst", truncate, -1},
		{"missing idx", true, "000000000.q.zst.idx", func(t *testing.T, p string) { os.Remove(p) }, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := importOpts(t.TempDir(), sample)
			o.Compress, o.Codec = c.compress, "zstd"
			res := mustImport(t, o)
			path := filepath.Join(res.Dir, c.file)
			c.apply(t, path)
			rep, err := Verify(nil, res.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("verify found nothing")
			}
			var found []string
			ok := false
			for _, p := range rep.Problems {
				found = append(found, p.Error())
				if strings.HasPrefix(p.Path, strings.TrimSuffix(path, ".idx")) && (c.offset < 0 || p.Offset == c.offset) {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("no problem names %s at offset %d; got:\n%s", c.file, c.offset, strings.Join(found, "\n"))
			}
			// Readers must fail clearly too, never hand out a wrong event.
			evs, err := OpenEvents(nil, res.Dir)
			if err == nil {
				for err == nil {
					_, err = evs.Next()
				}
				evs.Close()
			}
			if errors.Is(err, io.EOF) {
				t.Fatalf("reader read through %s damage without an error", c.name)
			}
		})
	}
}
