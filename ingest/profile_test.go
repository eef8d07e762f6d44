package ingest

import (
	"context"
	"os"
	"testing"
)

// TestProfileImport imports $CHRONICLE_PROFILE_INPUT into a temporary
// root, for `go test ./ingest -run TestProfileImport -cpuprofile cpu.out`
// on a large file (bench/ measures the command; this is the same work
// under the test binary's profiler). Skipped without the variable.
func TestProfileImport(t *testing.T) {
	in := os.Getenv("CHRONICLE_PROFILE_INPUT")
	if in == "" {
		t.Skip("set CHRONICLE_PROFILE_INPUT to a Tardis .csv.gz to profile an import")
	}
	o := importOpts(t.TempDir(), in)
	o.Force = true
	res, err := Import(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rows=%d segments=%d", res.Rows, res.Segments)
}
