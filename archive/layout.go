// Package archive lays Chronicle streams out on disk and moves them there
// safely: the directory layout and import ledger of docs/PATH-CONTRACT.md,
// meta.json with its file manifest, all-or-nothing imports, copy-on-write
// rewrites (compress, index), verification and listing.
//
// Every change to a stream directory is made in a staging directory next to
// it and published with one atomic rename (or an atomic exchange when the
// stream already exists), so a reader sees the old stream or the new one and
// never a mix. Writers of one partition are serialised by a lock file.
package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Partition names one stream: <root>/v1/<venue>/<symbol>/<date>/<stream>.
type Partition struct {
	Venue  string
	Symbol string // the symbol's code: SymbolCode of the exact symbol
	Date   string // YYYY-MM-DD, UTC
	Stream string
}

// Validate rejects names that would escape the layout, and control
// characters (NUL included), which no file name should carry.
func (p Partition) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"venue", p.Venue}, {"symbol", p.Symbol}, {"date", p.Date}, {"stream", p.Stream},
	} {
		if f.v == "" {
			return fmt.Errorf("%s is empty", f.name)
		}
		if err := checkName(f.name, f.v); err != nil {
			return err
		}
		if f.v == "." || f.v == ".." || strings.ContainsAny(f.v, `/\`) || strings.HasPrefix(f.v, ".") {
			return fmt.Errorf("%s %q is not a valid path component", f.name, f.v)
		}
	}
	if _, err := time.Parse(time.DateOnly, p.Date); err != nil {
		return fmt.Errorf("date %q is not YYYY-MM-DD", p.Date)
	}
	return nil
}

// checkName refuses NUL and other control characters in a name.
func checkName(what, v string) error {
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%s %q contains a control character (%U)", what, v, c)
		}
	}
	return nil
}

// SymbolCode is the name Tardis gives a symbol in its file names, and so
// the symbol's directory: upper case, with / : \ ? * < > | " replaced by -
// (BTC/USD -> BTC-USD).
func SymbolCode(symbol string) string {
	return symbolReplacer.Replace(strings.ToUpper(symbol))
}

var symbolReplacer = strings.NewReplacer("/", "-", ":", "-", `\`, "-", "?", "-", "*", "-", "<", "-", ">", "-", "|", "-", `"`, "-")

func (p Partition) String() string {
	return filepath.Join(p.Venue, p.Symbol, p.Date, p.Stream)
}

// Dir is the stream directory.
func (p Partition) Dir(root string) string {
	return filepath.Join(root, "v1", p.Venue, p.Symbol, p.Date, p.Stream)
}

// LedgerDir holds the import ledger entries of the partition's date (all
// its streams).
func (p Partition) LedgerDir(root string) string {
	return filepath.Join(root, "imports", "v1", "tardis", p.Venue, p.Symbol, p.Date)
}

// LedgerPath is the ledger entry of the input with blake3 hash imported
// into this stream. The stream is part of the name so that one file
// imported into two streams has two entries.
func (p Partition) LedgerPath(root, hash string) string {
	return filepath.Join(p.LedgerDir(root), hash+"."+p.Stream+".json")
}

// ledgerHash returns the hash of a ledger entry's file name if it is an
// entry of this stream.
func (p Partition) ledgerHash(name string) (string, bool) {
	hash, ok := strings.CutSuffix(name, "."+p.Stream+".json")
	if !ok || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return "", false
	}
	return hash, true
}

// noSymlinks refuses a path under root any component of which, below root,
// is a symbolic link: Chronicle writes and deletes only inside the archive,
// never in wherever a link points. Missing components are fine (they will
// be created as directories).
func noSymlinks(root, path string) error {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s is not under the archive root %s", path, root)
	}
	d := root
	for _, c := range strings.Split(rel, string(filepath.Separator)) {
		d = filepath.Join(d, c)
		info, err := os.Lstat(d)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link: chronicle does not write or delete through links inside the archive; replace it with a directory (or point --archive-root at the real location)", d)
		}
	}
	return nil
}

// Names of the files Chronicle keeps beside a stream directory. They start
// with a dot so that listings of the date directory never take them for
// streams.
func (p Partition) lockPath(root string) string {
	return filepath.Join(root, "v1", p.Venue, p.Symbol, p.Date, "."+p.Stream+".lock")
}
func (p Partition) stagingPath(root string) string {
	return filepath.Join(root, "v1", p.Venue, p.Symbol, p.Date, "."+p.Stream+".staging")
}

// PartitionOf recovers the partition from a stream directory path of the
// form .../v1/<venue>/<symbol>/<date>/<stream>, and the archive root.
func PartitionOf(streamDir string) (Partition, string, bool) {
	abs, err := filepath.Abs(streamDir)
	if err != nil {
		return Partition{}, "", false
	}
	parts := strings.Split(filepath.ToSlash(abs), "/")
	n := len(parts)
	if n < 6 || parts[n-5] != "v1" {
		return Partition{}, "", false
	}
	p := Partition{Venue: parts[n-4], Symbol: parts[n-3], Date: parts[n-2], Stream: parts[n-1]}
	root := filepath.FromSlash(strings.Join(parts[:n-5], "/"))
	if root == "" {
		root = "/"
	}
	return p, root, p.Validate() == nil
}
