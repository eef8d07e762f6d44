package reliability

import "testing"

// Bugs these tests found in code outside this package, all fixed since. A
// check that meets one again fails, naming it: the map says what the bug
// was, so a regression is recognised at once.
var knownBugs = map[string]string{
	"ledger-source-path": "archive.checkExisting rewrote a lost ledger entry with " +
		"source_path = abs(meta.json's source, a base name) instead of the input's path",
	"verify-during-swap": "verify read files by path while a --force import or compress " +
		"swapped the stream, reporting false damage (fixed: archive.VerifyStream reruns " +
		"when the directory's inode changed)",
	"publish-syncdir-error": "a failed directory fsync after the publishing rename was " +
		"reported as a plain failure though the stream was published (fixed: " +
		"notDurableError, and the rerun syncs and writes the ledger)",
	"reader-open-race": "segment.OpenStream lists the directory, then opens each file by " +
		"path: a swap in between opened another version's files (fixed: archive.OpenEvents " +
		"reopens when the directory's inode changed)",
	// Issue 7.
	"delete-through-symlink": "import swept every *.tmp in the target of a symlinked stream " +
		"directory, and every unparsable *.json of a (symlinked) ledger directory (fixed: no " +
		"writes or deletes through links below the root; only Chronicle's own names are removed)",
	"slash-symbol": "a symbol with / could not be imported under any spelling (fixed: stored " +
		"under its Tardis file-name code, BTC/USD -> BTC-USD, exact symbol in meta.json)",
	"wrapped-date": "a local_timestamp past 2^63 ns was filed under a date wrapped to 1702",
	"reimport-options-ignored": "re-importing the same file with other options said " +
		"\"imported rows=...\" and ignored them (fixed: an error naming them; --compress compresses)",
	"stdin-empty": "--input /dev/stdin said \"empty file\": a hash pass read the pipe first " +
		"(fixed: hashed while parsing)",
}

// knownErr marks a failure with the signature of a known bug.
type knownErr struct {
	id  string
	err error
}

func (e *knownErr) Error() string { return e.id + ": " + e.err.Error() }

// knownBug fails the test: a fixed bug is back.
func knownBug(t testing.TB, id, format string, args ...any) {
	t.Helper()
	desc, ok := knownBugs[id]
	if !ok {
		t.Fatalf("unknown bug id %q", id)
	}
	t.Errorf("regression of %s: "+format+" (%s)", append(append([]any{id}, args...), desc)...)
}
