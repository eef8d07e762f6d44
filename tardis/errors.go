package tardis

import (
	"errors"
	"io"
	"strconv"
	"strings"
)

// ParseError names where bad input is: the file, the 1-based physical line
// (the header is line 1; 0 for errors about the file as a whole), and for
// errors in one value the column and its text.
type ParseError struct {
	File  string
	Line  int64
	Field string
	Value string
	Err   error
}

// Error formats the error as `x.csv.gz:3000: price "abc": not a decimal`,
// `x.csv:7: wrong number of fields: 5, header has 8` (no field) or
// `x.csv.gz: unexpected EOF (truncated gzip)` (no line).
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if e.File == "" {
			b.WriteString("line ")
		} else {
			b.WriteByte(':')
		}
		b.WriteString(strconv.FormatInt(e.Line, 10))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	msg := "<nil>"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	switch {
	case e.Field == "":
		b.WriteString(msg)
	case errors.Is(e.Err, ErrMissingColumn) || errors.Is(e.Err, ErrDuplicateColumn):
		// A header problem has no value to show.
		b.WriteString(msg)
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(e.Field))
	default:
		b.WriteString(e.Field)
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(e.Value))
		b.WriteString(": ")
		b.WriteString(msg)
	}
	return b.String()
}

// Unwrap returns the underlying error, so errors.Is(err, decimal.ErrSyntax)
// and the like work through a ParseError.
func (e *ParseError) Unwrap() error { return e.Err }

// Errors wrapped by ParseError. Errors about numbers wrap the decimal
// package's errors (decimal.ErrSyntax, ErrNegative, ErrPrecision, ErrRange).
var (
	ErrEmptyFile       = errors.New("empty file: no header")
	ErrMissingColumn   = errors.New("missing column")
	ErrDuplicateColumn = errors.New("duplicate column")
	ErrFieldCount      = errors.New("wrong number of fields")
	ErrBlankLine       = errors.New("blank line before more data")
	ErrLineTooLong     = errors.New("line longer than 1 MiB")
	ErrQuote           = errors.New("bad quoted field")
	ErrNotGzip         = errors.New("not a gzip file")
	ErrTruncated       = errors.New("truncated gzip")
	ErrNotInteger      = errors.New("not an integer number of microseconds")
	ErrTimeRange       = errors.New("timestamp is after 2262-04-11, which Chronicle cannot represent")
	ErrBool            = errors.New("is_snapshot must be true or false")
	ErrSide            = errors.New("side must be bid, buy, ask or sell")
	ErrChanged         = errors.New("differs from the first row")
	ErrFixedScale      = errors.New("more decimals than the fixed scale")
	ErrTooManyLevels   = errors.New("snapshot has more than MaxLevelsPerMessage levels")
)

// truncatedError is io.ErrUnexpectedEOF from the gzip decoder, reported as
// "unexpected EOF (truncated gzip)" and matching both sentinels.
type truncatedError struct{}

func (truncatedError) Error() string { return "unexpected EOF (truncated gzip)" }
func (truncatedError) Is(target error) bool {
	return target == io.ErrUnexpectedEOF || target == ErrTruncated
}

// fixedScaleError reports a value with more decimals than a fixed scale:
// "more decimals than the fixed price scale 2".
type fixedScaleError struct {
	what  string // "price" or "size"
	scale int
}

func (e fixedScaleError) Error() string {
	return "more decimals than the fixed " + e.what + " scale " + strconv.Itoa(e.scale)
}

func (e fixedScaleError) Is(target error) bool { return target == ErrFixedScale }

// changedError reports an exchange or symbol that differs from the first
// row's.
type changedError struct{ first string }

func (e changedError) Error() string {
	return "differs from the first row's " + strconv.Quote(e.first)
}

func (e changedError) Is(target error) bool { return target == ErrChanged }

// fieldCountError is "wrong number of fields: 5, header has 8".
type fieldCountError struct{ got, want int }

func (e fieldCountError) Error() string {
	return "wrong number of fields: " + strconv.Itoa(e.got) + ", header has " + strconv.Itoa(e.want)
}

func (e fieldCountError) Is(target error) bool { return target == ErrFieldCount }

// tooManyLevelsError is a snapshot over MaxLevelsPerMessage levels.
type tooManyLevelsError struct{ max int }

func (e tooManyLevelsError) Error() string {
	return "snapshot has more than " + strconv.Itoa(e.max) + " levels (tardis.MaxLevelsPerMessage)"
}

func (e tooManyLevelsError) Is(target error) bool { return target == ErrTooManyLevels }

// rescaleError is an overflow while raising a value to the event's scale.
type rescaleError struct {
	err   error
	what  string
	scale uint8
}

func (e rescaleError) Error() string {
	return e.err.Error() + " at " + e.what + " scale " + strconv.Itoa(int(e.scale))
}

func (e rescaleError) Unwrap() error { return e.err }

// maxValueLen bounds ParseError.Value, so that a corrupt file with a huge
// field does not produce a huge message.
const maxValueLen = 64

func valueText(b []byte) string {
	if len(b) > maxValueLen {
		return string(b[:maxValueLen]) + "..."
	}
	return string(b)
}
