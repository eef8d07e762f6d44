package tardis

import (
	"io"
	"os"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

// TestParseFile reads every event of $CHRONICLE_PARSE_INPUT, for profiling
// the parser alone (`valgrind --tool=callgrind` on the test binary counts
// its instructions; an uncompressed file keeps gunzip out of the count).
// Skipped without the variable.
func TestParseFile(t *testing.T) {
	in := os.Getenv("CHRONICLE_PARSE_INPUT")
	if in == "" {
		t.Skip("set CHRONICLE_PARSE_INPUT to a Tardis incremental_book_L2 CSV")
	}
	r, err := Open(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ev protocol.Event
	var events, levels int64
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		events++
		levels += int64(len(ev.Bids) + len(ev.Asks))
	}
	t.Logf("rows=%d events=%d levels=%d", r.Rows(), events, levels)
}
