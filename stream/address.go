package stream

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/timespec"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Address names a stream by what it is, across days: VENUE/SYMBOL/TYPE,
// binance-futures/BTCUSDT/trades. Symbol is the symbol's code, the
// directory name (archive.SymbolCode: BTC-USD for BTC/USD); Type is the
// stream's name (book, trades, quotes, book_snapshot_25, ...), the
// directory name under each date.
type Address struct {
	Venue, Symbol, Type string
}

// ParseAddress reads VENUE/SYMBOL/TYPE. The symbol may be given as its code
// (BTC-USD, what `chronicle ls` prints) or as the exact symbol (BTC/USD):
// the venue and the type never contain a slash, so everything between the
// first and the last one is the symbol, and it is looked up by its code,
// Tardis's own file-name rule. BTC/USD and BTC-USD therefore name the same
// stream, as they name the same Tardis file.
func ParseAddress(s string) (Address, error) {
	first, last := strings.Index(s, "/"), strings.LastIndex(s, "/")
	if first < 0 || first == last {
		return Address{}, fmt.Errorf("%q is not VENUE/SYMBOL/TYPE", s)
	}
	a := Address{Venue: s[:first], Symbol: archive.SymbolCode(s[first+1 : last]), Type: s[last+1:]}
	// A date stands in for the partition's date only to reuse its checks.
	if err := (archive.Partition{Venue: a.Venue, Symbol: a.Symbol, Date: "2000-01-01", Stream: a.Type}).Validate(); err != nil {
		return Address{}, fmt.Errorf("%q is not VENUE/SYMBOL/TYPE: %v", s, err)
	}
	return a, nil
}

// String is VENUE/SYMBOL/TYPE with the symbol's code: what ParseAddress
// reads back, and the order in which the CLI lists (and merges) streams.
func (a Address) String() string { return a.Venue + "/" + a.Symbol + "/" + a.Type }

// streamHint ends the errors for an argument that names no stream.
const streamHint = "a stream is <root>/v1/VENUE/SYMBOL/DATE/STREAM or VENUE/SYMBOL/TYPE with --archive-root"

// Resolve returns the stream directories arg names. arg is either a stream
// directory (returned as is, after checking that it is one) or an Address,
// resolved under root to the day directories of that stream whose data
// may fall in r (all days when r is unbounded), sorted by date. A day is
// taken when its date overlaps r, or when its meta.json's time range
// does (data a day's import starts on that date may run past midnight).
//
// A path is taken as a path when it exists, is absolute or starts with a
// dot; anything else is an Address. A directory that is not a stream (the
// root, a date directory, an empty one) is an error saying what it is and
// what a stream is; an Address that matches nothing is an error listing
// what the archive has for that venue and symbol. Resolve never returns an
// empty list without an error.
func Resolve(fsys vfs.FS, root, arg string, r timespec.Range) ([]string, error) {
	fsys = vfs.OrDefault(fsys)
	if _, err := fsys.Stat(arg); err == nil || filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		if err := checkStreamDir(fsys, arg); err != nil {
			return nil, err
		}
		return []string{arg}, nil
	}
	a, err := ParseAddress(arg)
	if err != nil {
		return nil, fmt.Errorf("%w; %s", err, streamHint)
	}
	return resolveAddress(fsys, root, a, r)
}

// checkStreamDir accepts a directory that holds a stream's files (damaged
// or not: the reader says what is wrong) and describes anything else.
//
// An import --force swaps the stream directory for a new one and empties
// the old: a listing that began on the old one can come back empty. So a
// directory that is not a stream is looked at again, a few times, while
// it is not the directory the listing started on.
func checkStreamDir(fsys vfs.FS, dir string) error {
	for try := 0; ; try++ {
		info, err := fsys.Stat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: no such directory; %s", dir, streamHint)
		}
		if err != nil {
			return err
		}
		if !info.IsDir() {
			return fmt.Errorf("%s is a file, not a stream; %s", dir, streamHint)
		}
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			return err
		}
		var subdirs []string
		for _, e := range ents {
			name := e.Name()
			if _, _, ok := segment.ParseName(name); ok || name == archive.MetaName {
				return nil
			}
			if e.IsDir() && !strings.HasPrefix(name, ".") {
				subdirs = append(subdirs, name)
			}
		}
		// Only a file system that tells directories apart (Sys: an
		// object store's does not) is asked again.
		if now, err := fsys.Stat(dir); try < 3 && info.Sys() != nil && err == nil && !os.SameFile(info, now) {
			continue
		}
		what := "an empty directory"
		if len(ents) > 0 {
			what = whatDir(dir, subdirs)
		}
		return fmt.Errorf("%s is %s, not a stream; %s", dir, what, streamHint)
	}
}

// whatDir names a directory that is not a stream, from its place in the
// layout and what it holds.
func whatDir(dir string, subdirs []string) string {
	if len(subdirs) == 0 {
		return "a directory that holds no stream (no " + archive.MetaName + ", no segment files)"
	}
	if abs, err := filepath.Abs(dir); err == nil {
		parts := strings.Split(filepath.ToSlash(abs), "/")
		for i := len(parts) - 1; i >= 0 && i >= len(parts)-4; i-- {
			if parts[i] != "v1" {
				continue
			}
			switch len(parts) - 1 - i {
			case 0:
				return "the v1 directory of an archive (it holds venues " + list(subdirs) + ")"
			case 1:
				return "a venue directory (it holds symbols " + list(subdirs) + ")"
			case 2:
				return "a symbol directory (it holds dates " + list(subdirs) + ")"
			case 3:
				return "a date (partition) directory (it holds streams " + list(subdirs) + ")"
			}
		}
	}
	for _, s := range subdirs {
		if s == "v1" {
			return "an archive root"
		}
	}
	return "a directory that holds no stream (it holds " + list(subdirs) + ")"
}

// list joins names for a message, shortened past 10.
func list(names []string) string {
	const most = 10
	if len(names) > most {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:most], ", "), len(names)-most)
	}
	return strings.Join(names, ", ")
}

// resolveAddress finds a's day directories under root that r may cover.
func resolveAddress(fsys vfs.FS, root string, a Address, r timespec.Range) ([]string, error) {
	if root == "" {
		return nil, fmt.Errorf("%s: an address needs the archive root (--archive-root)", a)
	}
	venueDir := filepath.Join(root, "v1", a.Venue)
	symDir := filepath.Join(venueDir, a.Symbol)
	days, err := subdirs(fsys, symDir)
	if errors.Is(err, fs.ErrNotExist) {
		if _, verr := fsys.Stat(venueDir); verr != nil {
			venues, _ := subdirs(fsys, filepath.Join(root, "v1"))
			return nil, fmt.Errorf("%s: the archive %s has no venue %s (it has %s)", a, root, a.Venue, orNone(venues))
		}
		syms, _ := subdirs(fsys, venueDir)
		return nil, fmt.Errorf("%s: the archive %s has no symbol %s on %s (it has %s)", a, root, a.Symbol, a.Venue, orNone(syms))
	}
	if err != nil {
		return nil, err
	}
	var all, out []string // day directories of a.Type; those r covers
	var dates []string
	for _, d := range days {
		day, err := time.Parse(time.DateOnly, d)
		if err != nil {
			continue
		}
		dir := filepath.Join(symDir, d, a.Type)
		if _, err := fsys.Stat(filepath.Join(dir, archive.MetaName)); err != nil {
			// A day without the type is no day of the stream; a day that
			// could not be checked (a cut connection to S3) must not drop
			// out of the answer silently.
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		all, dates = append(all, dir), append(dates, d)
		if dayInRange(fsys, dir, day, r) {
			out = append(out, dir)
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case len(all) > 0:
		return nil, fmt.Errorf("%s has no day in %s: it has %s", a, rangeString(r), span(dates))
	}
	// What the symbol has instead: each type with its dates.
	have := map[string][]string{}
	for _, d := range days {
		types, _ := subdirs(fsys, filepath.Join(symDir, d))
		for _, t := range types {
			have[t] = append(have[t], d)
		}
	}
	var types []string
	for t, ds := range have {
		types = append(types, fmt.Sprintf("%s (%s)", t, span(ds)))
	}
	sort.Strings(types)
	return nil, fmt.Errorf("%s: %s/%s has no stream %s (it has %s)", a, a.Venue, a.Symbol, a.Type, orNone(types))
}

// dayInRange reports whether the day directory dir, of date day, may hold
// data in r: its date overlaps r, or (for the day before r starts, whose
// data may run past midnight) its meta.json's time range does.
func dayInRange(fsys vfs.FS, dir string, day time.Time, r timespec.Range) bool {
	start, end := day.UnixNano(), day.AddDate(0, 0, 1).UnixNano()
	if r.HasTo && start >= r.To {
		return false // a day's data starts on its date
	}
	if !r.HasFrom || end > r.From {
		return true
	}
	m, err := archive.ReadMeta(fsys, dir)
	if err != nil {
		return true // let the reader report it
	}
	return m.EventTimeRange != nil && m.EventTimeRange[1] >= uint64(max(r.From, 0))
}

// subdirs lists the directories in dir, without hidden ones, sorted.
func subdirs(fsys vfs.FS, dir string) ([]string, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return list(names)
}

// span describes sorted dates: "2024-05-01..2024-05-03, 3 days".
func span(dates []string) string {
	if len(dates) == 1 {
		return dates[0]
	}
	return fmt.Sprintf("%s..%s, %d days", dates[0], dates[len(dates)-1], len(dates))
}

// rangeString prints r for messages, [from, to).
func rangeString(r timespec.Range) string {
	from, to := "-inf", "+inf"
	if r.HasFrom {
		from = timespec.Format(r.From)
	}
	if r.HasTo {
		to = timespec.Format(r.To)
	}
	return "[" + from + ", " + to + ")"
}
