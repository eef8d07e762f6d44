package tardis

import (
	"strconv"
	"strings"

	"github.com/chronicle-archive/chronicle/record"
)

// DataType is one Tardis data type and how Chronicle stores it.
//
// For every type but incremental_book_L2 (EventReader's) and
// book_snapshot_N (booksnapshot.go), the Tardis columns are exchange,
// symbol, timestamp, local_timestamp and then the record's fields after
// symbol, by name and in order: one generic mapping (records.go) serves
// them all.
type DataType struct {
	Name   string       // Tardis's name: "trades", "book_snapshot_25", "incremental_book_L2"
	Stream string       // the stream directory: "trades", "book_snapshot_25", "book"
	Record *record.Type // what a row becomes; record.BookEvent for incremental_book_L2
	Depth  int          // book_snapshot_N: N
}

// IsBook reports whether dt is incremental_book_L2, which EventReader reads
// into protocol.Events rather than records.
func (dt DataType) IsBook() bool { return dt.Record == record.BookEvent }

const snapshotPrefix = "book_snapshot_"

var dataTypes = []DataType{
	{Name: "incremental_book_L2", Stream: "book", Record: record.BookEvent},
	{Name: "trades", Stream: "trades", Record: record.Trade},
	{Name: "quotes", Stream: "quotes", Record: record.Quote},
	{Name: "book_ticker", Stream: "book_ticker", Record: record.BookTicker},
	{Name: "derivative_ticker", Stream: "derivative_ticker", Record: record.DerivativeTicker},
	{Name: "liquidations", Stream: "liquidations", Record: record.Liquidation},
	{Name: "options_chain", Stream: "options_chain", Record: record.OptionsChain},
}

// LookupDataType returns the data type with Tardis's name: one of the
// fixed names or book_snapshot_N for any N from 1 to record.MaxLevels
// (written without leading zeros, as Tardis names them).
func LookupDataType(name string) (DataType, bool) {
	for _, dt := range dataTypes {
		if dt.Name == name {
			return dt, true
		}
	}
	n, ok := strings.CutPrefix(name, snapshotPrefix)
	depth, err := strconv.Atoi(n)
	// The round trip refuses "05" and "+5": Tardis writes plain digits.
	if !ok || err != nil || strconv.Itoa(depth) != n || depth < 1 || depth > record.MaxLevels {
		return DataType{}, false
	}
	return snapshotType(depth), true
}

func snapshotType(depth int) DataType {
	name := snapshotPrefix + strconv.Itoa(depth)
	return DataType{Name: name, Stream: name, Record: record.BookSnapshot, Depth: depth}
}

// commonColumns start every Tardis file.
var commonColumns = []string{"exchange", "symbol", "timestamp", "local_timestamp"}

// Columns returns Tardis's header for dt, in Tardis's order.
func (dt DataType) Columns() []string {
	cols := append([]string(nil), commonColumns...)
	switch {
	case dt.IsBook():
		return append(cols, "is_snapshot", "side", "price", "amount")
	case dt.Depth > 0:
		for i := range dt.Depth {
			for _, c := range levelColumns {
				cols = append(cols, levelColumn(c, i))
			}
		}
		return cols
	}
	for _, f := range dt.Record.Fields[1:] { // Fields[0] is symbol
		cols = append(cols, f.Name)
	}
	return cols
}

// DetectDataType infers the data type from a header's columns, in any
// order; columns Chronicle does not know are allowed, as the readers ignore
// them. The type whose columns are all there and most numerous wins:
// options_chain also has every quotes column. It returns false when no
// type fits, and when the header cannot tell two types apart: trades and
// liquidations have the same columns, and so do quotes and book_ticker, so
// for those the file name (or --type) must say.
func DetectDataType(header []string) (DataType, bool) {
	have := make(map[string]bool, len(header))
	for _, h := range header {
		have[h] = true
	}
	// book_snapshot_N: N is the number of ask levels the header has.
	depth := 0
	for have[levelColumn(levelColumns[0], depth)] {
		depth++
	}
	cands := dataTypes
	if depth > 0 {
		cands = append(cands[:len(cands):len(cands)], snapshotType(depth))
	}
	var best DataType
	bestN, ties := 0, 0
	for _, dt := range cands {
		cols := dt.Columns()
		all := true
		for _, c := range cols {
			all = all && have[c]
		}
		switch {
		case !all || len(cols) < bestN:
		case len(cols) == bestN:
			ties++
		default:
			best, bestN, ties = dt, len(cols), 0
		}
	}
	if bestN == 0 || ties > 0 {
		return DataType{}, false
	}
	return best, true
}

// GroupedSymbol reports whether s is one of the symbols Tardis uses in the
// names of files that hold many instruments, each row with its own symbol.
func GroupedSymbol(s string) bool {
	switch s {
	case "OPTIONS", "PERPETUALS", "FUTURES", "SPOT":
		return true
	}
	return false
}

// KnownDataTypes lists the data types Chronicle imports, for messages.
func KnownDataTypes() string {
	names := make([]string, 0, len(dataTypes)+1)
	for _, dt := range dataTypes {
		names = append(names, dt.Name)
	}
	return strings.Join(append(names, snapshotPrefix+"N"), ", ")
}

// GuessDataType names the data type a header that DetectDataType cannot
// place was most likely meant to be: the one type with the most of its own
// columns (beyond exchange, symbol, timestamp, local_timestamp) present, so
// that its reader can say which column is missing. It reports false when
// no type has any of its own columns or two types tie.
func GuessDataType(header []string) (DataType, bool) {
	have := make(map[string]bool, len(header))
	for _, h := range header {
		have[h] = true
	}
	var best DataType
	bestN, ties := 0, 0
	for _, dt := range dataTypes {
		n := 0
		for _, c := range dt.Columns()[4:] {
			if have[c] {
				n++
			}
		}
		switch {
		case n == 0 || n < bestN:
		case n == bestN:
			ties++
		default:
			best, bestN, ties = dt, n, 0
		}
	}
	if bestN == 0 || ties > 0 {
		return DataType{}, false
	}
	return best, true
}
