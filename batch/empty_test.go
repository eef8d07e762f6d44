package batch

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func gz(members ...string) []byte {
	var b bytes.Buffer
	for _, m := range members {
		w := gzip.NewWriter(&b)
		w.Write([]byte(m))
		w.Close()
	}
	return b.Bytes()
}

func TestIsEmptyInput(t *testing.T) {
	const header = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
	const row = "bitmex,XBTUSD,1,2,x,buy,1,1\n"
	full := gz(header + row)
	for _, tc := range []struct {
		name  string
		data  []byte
		empty bool
		err   string
	}{
		{"zero bytes", nil, true, ""},
		{"empty gzip", gz(""), true, ""},
		{"two empty gzip members", gz("", ""), true, ""},
		{"header only gzip", gz(header), true, ""},
		{"header without newline", gz(strings.TrimSuffix(header, "\n")), true, ""},
		{"header in one member, nothing in the next", gz(header, ""), true, ""},
		{"a row", full, false, ""},
		{"a row in the second member", gz(header, row), false, ""},
		{"plain header only", []byte(header), true, ""},
		{"plain with a row", []byte(header + row), false, ""},
		{"long first line", gz(strings.Repeat("x", 10000) + "\n" + row), false, ""},
		{"truncated gzip", full[:len(full)/2], false, "empty.csv.gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "empty.csv.gz")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			empty, err := IsEmptyInput(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil || empty != tc.empty {
				t.Errorf("IsEmptyInput = %v, %v; want %v", empty, err, tc.empty)
			}
		})
	}
	if _, err := IsEmptyInput(filepath.Join(t.TempDir(), "missing.csv.gz")); err == nil || !strings.Contains(err.Error(), "missing.csv.gz") {
		t.Errorf("missing file: %v", err)
	}
}
