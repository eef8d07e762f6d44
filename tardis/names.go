package tardis

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// FileInfo is what a file's name or path says about its contents. Fields
// the name and path do not give are empty (the file's header may).
type FileInfo struct {
	Exchange, DataType, Date, Symbol string
}

// tardisFileName is Tardis's download name,
// <exchange>_<data_type>_<YYYY-MM-DD>_<SYMBOL>.csv[.gz]. Exchange names
// have no '_', so the first '_' ends the exchange; the data type runs to
// the first _YYYY-MM-DD_ after it (checked against LookupDataType); the
// symbol runs to the first '.', so extra dotted parts (BTCUSDT.sample.csv)
// are not part of it.
var tardisFileName = regexp.MustCompile(`^([a-z0-9-]+)_([A-Za-z0-9_]+?)_(\d{4}-\d{2}-\d{2})_([^.]+)(?:\.[^/]*)?\.csv(?:\.gz)?$`)

// typeAndDate finds "<data_type>_<YYYY-MM-DD>" inside a name that is not
// Tardis's (tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv).
var typeAndDate = regexp.MustCompile(`(?:^|_)([A-Za-z0-9_]+?)_(\d{4}-\d{2}-\d{2})(?:[_.]|$)`)

// bareDate is a YYYY-MM-DD on its own in a name (BTCUSDT-2024-05-01.csv).
var bareDate = regexp.MustCompile(`(?:^|[_.=-])(\d{4}-\d{2}-\d{2})(?:[_.-]|$)`)

// ParsePath reads exchange, data type, date and symbol from a Tardis file
// name; failing that, from hive-style path components (exchange=, type= or
// data_type=, date=, symbol=, anywhere in the path), with what the file
// name says (a data type and date inside it, or a bare date) filling what
// the path lacks.
func ParsePath(path string) FileInfo {
	slash := filepath.ToSlash(path)
	base := slash[strings.LastIndexByte(slash, '/')+1:]
	if fi, ok := parseTardisName(base); ok {
		return fi
	}
	var fi FileInfo
	for _, c := range strings.Split(slash, "/") {
		k, v, ok := strings.Cut(c, "=")
		if !ok || v == "" {
			continue
		}
		// Hive writers (pyarrow among them) percent-escape values.
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		switch k {
		case "exchange":
			fi.Exchange = v
		case "type", "data_type":
			fi.DataType = v
		case "date":
			fi.Date = v
		case "symbol":
			fi.Symbol = v
		}
	}
	name := nameHints(base)
	if fi.DataType == "" {
		fi.DataType = name.DataType
	}
	if fi.Date == "" {
		fi.Date = name.Date
	}
	return fi
}

func parseTardisName(base string) (FileInfo, bool) {
	m := tardisFileName.FindStringSubmatch(base)
	if m == nil || !knownType(m[2]) || !validDate(m[3]) {
		return FileInfo{}, false
	}
	return FileInfo{Exchange: m[1], DataType: m[2], Date: m[3], Symbol: m[4]}, true
}

// nameHints is what a name that is not Tardis's still says: a known data
// type followed by a date, else a date alone.
func nameHints(base string) FileInfo {
	for _, m := range typeAndDate.FindAllStringSubmatch(base, -1) {
		// The lazy match starts at the leftmost '_': try each suffix of
		// the words before the date for a known type.
		words := m[1]
		for {
			if knownType(words) && validDate(m[2]) {
				return FileInfo{DataType: words, Date: m[2]}
			}
			_, rest, ok := strings.Cut(words, "_")
			if !ok {
				break
			}
			words = rest
		}
	}
	if m := bareDate.FindStringSubmatch(base); m != nil && validDate(m[1]) {
		return FileInfo{Date: m[1]}
	}
	return FileInfo{}
}

func knownType(name string) bool {
	_, ok := LookupDataType(name)
	return ok
}

func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}
