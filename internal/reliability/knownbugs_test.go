package reliability

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Known bugs in code outside this package, found by these tests and
// reported (see docs/RELIABILITY.md, "Known limits"). A check that meets
// one logs it instead of failing, so that the rest of the suite stays
// useful until the fix lands; RELIABILITY_STRICT=1 makes them failures.
// When a bug is fixed, its check passes and the entry can go.
var knownBugs = map[string]string{
	"ledger-source-path": "archive.checkExisting rewrites a lost ledger entry with " +
		"source_path = abs(meta.json's source, a base name) resolved against the working " +
		"directory, not the input's path",
	"verify-during-swap": "segment.VerifyStream opens each segment by path only when it " +
		"reaches it (and archive.verifyManifest hashes files by path after reading meta.json), " +
		"so a stream replaced during verify is reported missing or damaged",
	"publish-syncdir-error": "archive.txn.publish returns the error of the directory fsync " +
		"that follows the publishing rename/exchange as a plain failure: Import reports the " +
		"import failed (exit 1) although the new stream is published, and writes no ledger",
	"rescale-value-text": "tardis: a value that overflows u64 when raised to the event's " +
		"scale is quoted reformatted from the integer (price \"10000000000000000000\"), not as " +
		"the file has it (\"1e19\"): tardis.EventReader.rescaleErr formats the stored integer",
	"reader-open-race": "segment.OpenStream lists the directory, then opens each file by " +
		"path: a swap in between makes it open another version's files (a silently short " +
		"or mixed stream) or fail with ENOENT",
}

// knownErr marks a failure with the signature of a known bug.
type knownErr struct {
	id  string
	err error
}

func (e *knownErr) Error() string { return e.id + ": " + e.err.Error() }

var (
	knownMu   sync.Mutex
	knownSeen = map[string]int{}
)

// knownBug reports that a check failed because of the named known bug.
func knownBug(t testing.TB, id, format string, args ...any) {
	t.Helper()
	desc, ok := knownBugs[id]
	if !ok {
		t.Fatalf("unknown bug id %q", id)
	}
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("RELIABILITY_STRICT") == "1" {
		t.Errorf("%s (known bug %s: %s)", msg, id, desc)
		return
	}
	knownMu.Lock()
	knownSeen[id]++
	n := knownSeen[id]
	knownMu.Unlock()
	if n <= 3 {
		t.Logf("KNOWN BUG %s: %s (%s)", id, msg, desc)
	}
}
