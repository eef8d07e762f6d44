package main

import (
	"fmt"
	"os"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/tardis"
)

// bookDataType is the data type of a book stream, and of every stream
// written before meta.json recorded data types.
const bookDataType = "incremental_book_L2"

// dataTypeName is the stream's Tardis data type name.
func dataTypeName(m *archive.Meta) string {
	if m.DataType == "" {
		return bookDataType
	}
	return m.DataType
}

// streamDataType returns the data type of the stream in dir, whose
// meta.json is m.
func streamDataType(dir string, m *archive.Meta) (tardis.DataType, error) {
	dt, ok := tardis.LookupDataType(dataTypeName(m))
	if !ok {
		return dt, fmt.Errorf("%s: meta.json says data type %q, which this Chronicle does not know (it reads %s)", dir, m.DataType, tardis.KnownDataTypes())
	}
	return dt, nil
}

// isBookStream reads dir's meta.json to tell a book stream from a stream
// of records, which have different readers. One whose meta.json cannot be
// read counts as a book stream: the book reader says what is wrong, as it
// always has.
func isBookStream(dir string) (bool, error) {
	m, err := archive.ReadMeta(nil, dir)
	if err != nil {
		return true, nil
	}
	dt, err := streamDataType(dir, m)
	return dt.IsBook(), err
}

// needBookStream refuses a stream of another data type for the commands
// that rebuild a book.
func needBookStream(dir string) error {
	m, err := archive.ReadMeta(nil, dir)
	if err != nil {
		return nil // not a readable stream: the book reader says why, as it always has
	}
	if name := dataTypeName(m); name != bookDataType {
		return fmt.Errorf("%s holds %s, not an incremental_book_L2 stream: replay, book and snapshots need a book stream", dir, name)
	}
	return nil
}

// refuseBinaryToTerminal refuses to write a binary format to a terminal.
func refuseBinaryToTerminal(e *env, out string) error {
	if out != "" && out != "-" {
		return nil
	}
	if f, ok := e.stdout.(*os.File); ok && isTerminal(f) {
		return usagef("Parquet is binary: give -o FILE or redirect standard output")
	}
	return nil
}
