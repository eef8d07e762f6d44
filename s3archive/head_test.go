package s3archive

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDecodeHead(t *testing.T) {
	v := newVersion(time.Unix(1714521600, 0))
	good := `{"version":"` + v + `","source_hash":"ab","committed_unix_ns":1,"files":[{"name":"meta.json","size":10},{"name":"000000000.q","size":64}]}`
	for _, tc := range []struct {
		name, body, err string
	}{
		{"good", good, ""},
		{"not json", `{`, "unexpected end"},
		{"no version", `{"files":[]}`, "not a version name"},
		{"bare version", `{"version":"@x"}`, "not a version name"},
		{"slash in version", `{"version":"` + v + `/x"}`, "not a version name"},
		{"dot-dot file", strings.Replace(good, "000000000.q", "..", 1), "not a plain file name"},
		{"path file", strings.Replace(good, "000000000.q", "../other/000000000.q", 1), "not a plain file name"},
		{"empty file", strings.Replace(good, "000000000.q", "", 1), "not a plain file name"},
		{"negative size", strings.Replace(good, `"size":64`, `"size":-1`, 1), "size -1"},
		{"twice", strings.Replace(good, "000000000.q", "meta.json", 1), "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := decodeHead([]byte(tc.body))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("decodeHead: %v", err)
			case tc.err == "" && (h.Version != v || len(h.Files) != 2):
				t.Fatalf("decodeHead = %+v", h)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("decodeHead error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// FuzzDecodeHead: a commit object that decodes never names a key outside
// its version, and what it decodes to encodes back to the same meaning.
func FuzzDecodeHead(f *testing.F) {
	v := newVersion(time.Unix(1714521600, 0))
	f.Add([]byte(`{"version":"` + v + `","files":[{"name":"meta.json","size":10}]}`))
	f.Add([]byte(`{"version":"@20240501T000000.000000000Z-00","files":[{"name":"..","size":1}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHead(b)
		if err != nil {
			return
		}
		if _, ok := versionTime(h.Version); !ok || strings.Contains(h.Version, "/") {
			t.Fatalf("accepted version %q", h.Version)
		}
		for _, e := range h.Files {
			if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\\\x00") || e.Size < 0 {
				t.Fatalf("accepted file %+v", e)
			}
		}
		again, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		h2, err := decodeHead(again)
		if err != nil || h2.Version != h.Version || len(h2.Files) != len(h.Files) {
			t.Fatalf("re-encoded head %s: %v", again, err)
		}
	})
}
