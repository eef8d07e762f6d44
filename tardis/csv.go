package tardis

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// maxLine bounds one line, so that a file without line breaks cannot make
// the reader buffer all of it.
const maxLine = 1 << 20

var errClosed = errors.New("tardis: reader closed")

// csvReader reads a Tardis CSV file line by line with no per-row
// allocation. It is the engine under every reader of a Tardis data type:
// it owns the input (and the gzip goroutine), the line numbers and the
// field splitting; the readers own the meaning of the columns.
type csvReader struct {
	name    string
	src     source
	counter *countingReader
	chunk   []byte // the current chunk, returned to src when used up
	buf     []byte // its unconsumed part
	carry   []byte // a line split across chunks
	srcErr  error  // the source's error, once buf is used up
	line    int64  // physical lines read
	blank   int64  // line of a pending blank line, 0 if none
	err     error  // sticky: the first error Next returned, or errClosed

	header []string
	fields [][]byte // the current line's fields
	unq    []byte   // scratch for unescaped quoted fields
}

// openCSV opens path and reads the header. Gzip (including multi-member
// files) is recognised by its magic bytes and decompressed in a separate
// goroutine; a file named *.gz that is not gzip is an error. name is used
// in errors.
func openCSV(path string, name string, tee io.Writer) (*csvReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	cr := &countingReader{r: f}
	if tee != nil {
		cr.tee = newAsyncTee(tee)
	}
	// Until a source owns cr, failures stop its tee here.
	fail := func() { cr.finish(); f.Close() }
	br := bufio.NewReaderSize(cr, 256<<10)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		fail()
		return nil, err
	}
	var src source
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			fail()
			if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
				err = truncatedError{}
			}
			return nil, &ParseError{File: name, Err: err}
		}
		src = newGzipSource(zr, f, cr)
	} else {
		if strings.HasSuffix(path, ".gz") {
			fail()
			return nil, &ParseError{File: name, Err: ErrNotGzip}
		}
		src = &readerSource{r: br, closer: f, counter: cr}
	}
	return newCSV(src, cr, name)
}

// newCSVReader reads uncompressed CSV from r, header first.
func newCSVReader(r io.Reader, name string) (*csvReader, error) {
	cr := &countingReader{r: r}
	return newCSV(&readerSource{r: cr, counter: cr}, cr, name)
}

func newCSV(src source, cr *countingReader, name string) (*csvReader, error) {
	c := &csvReader{name: name, src: src, counter: cr}
	if err := c.readHeader(); err != nil {
		src.close()
		return nil, err
	}
	return c, nil
}

// Header returns the column names as in the file (BOM stripped).
func (c *csvReader) Header() []string { return c.header }

// Column returns the index of the column called name, -1 if absent.
func (c *csvReader) Column(name string) int {
	for i, h := range c.header {
		if h == name {
			return i
		}
	}
	return -1
}

// Line returns the 1-based line of the last line returned (the header is
// line 1).
func (c *csvReader) Line() int64 { return c.line }

// BytesRead returns how many raw input bytes (compressed bytes for gzip)
// have been read so far. It is safe to call from another goroutine.
func (c *csvReader) BytesRead() int64 { return c.counter.n.Load() }

// Close stops decompression and closes the file openCSV opened. Next
// fails after Close.
func (c *csvReader) Close() error {
	c.err = errClosed
	return c.src.close()
}

// fieldError is the *ParseError for column col of the current line:
// `file:line: field "value": reason`.
func (c *csvReader) fieldError(col int, value []byte, err error) *ParseError {
	return c.errAt(c.line, c.header[col], value, err)
}

func (c *csvReader) errAt(line int64, field string, value []byte, err error) *ParseError {
	return &ParseError{File: c.name, Line: line, Field: field, Value: valueText(value), Err: err}
}

// Next splits the next data line into fields. The slices alias internal
// buffers and are valid until the next call. It returns io.EOF after the
// last line; blank lines are allowed at the end of the file only. After an
// error every call returns the same error.
func (c *csvReader) Next() ([][]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	line, err := c.nextRecord()
	if err == nil {
		err = c.split(line)
	}
	if err != nil {
		c.err = err
		return nil, err
	}
	return c.fields, nil
}

// nextRecord returns the next data line, without its line break, for
// readers that parse the raw line on a fast path and call split only when
// that fails. It aliases internal buffers until the next call.
func (c *csvReader) nextRecord() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	for {
		l, err := c.nextLine()
		if err != nil {
			return nil, err
		}
		l = trimCR(l)
		if len(l) == 0 {
			if c.blank == 0 {
				c.blank = c.line
			}
			continue
		}
		if c.blank != 0 {
			return nil, &ParseError{File: c.name, Line: c.blank, Err: ErrBlankLine}
		}
		return l, nil
	}
}

// nextLine returns the next physical line without its '\n'. The line
// aliases the current chunk or c.carry and is valid until the next call.
func (c *csvReader) nextLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(c.buf, '\n'); i >= 0 {
			line := c.buf[:i]
			c.buf = c.buf[i+1:]
			c.line++
			if len(c.carry) > 0 {
				if len(c.carry)+len(line) > maxLine {
					return nil, &ParseError{File: c.name, Line: c.line, Err: ErrLineTooLong}
				}
				line = append(c.carry, line...)
				c.carry = line[:0]
			}
			return line, nil
		}
		if len(c.carry)+len(c.buf) > maxLine {
			return nil, &ParseError{File: c.name, Line: c.line + 1, Err: ErrLineTooLong}
		}
		c.carry = append(c.carry, c.buf...)
		c.buf = nil
		if c.srcErr != nil {
			if c.srcErr != io.EOF {
				return nil, &ParseError{File: c.name, Err: c.srcErr}
			}
			if len(c.carry) > 0 {
				// The last line has no '\n'.
				line := c.carry
				c.carry = c.carry[:0]
				c.line++
				return line, nil
			}
			return nil, io.EOF
		}
		c.chunk, c.srcErr = c.src.next(c.chunk)
		c.buf = c.chunk
	}
}

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

func (c *csvReader) readHeader() error {
	line, err := c.nextLine()
	if err == io.EOF {
		return &ParseError{File: c.name, Err: ErrEmptyFile}
	}
	if err != nil {
		return err
	}
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	line = trimCR(line)
	if len(line) == 0 {
		return &ParseError{File: c.name, Err: ErrEmptyFile}
	}
	if err := c.splitQuoted(line); err != nil {
		return &ParseError{File: c.name, Line: c.line, Err: err}
	}
	c.header = make([]string, len(c.fields))
	for i, f := range c.fields {
		c.header[i] = string(f)
	}
	return nil
}

// split splits a data line into c.fields and checks their number against
// the header.
func (c *csvReader) split(line []byte) error {
	if bytes.IndexByte(line, '"') < 0 {
		c.fields = c.fields[:0]
		for {
			k := bytes.IndexByte(line, ',')
			if k < 0 {
				c.fields = append(c.fields, line)
				break
			}
			c.fields = append(c.fields, line[:k])
			line = line[k+1:]
		}
	} else if err := c.splitQuoted(line); err != nil {
		return &ParseError{File: c.name, Line: c.line, Err: err}
	}
	if len(c.fields) != len(c.header) {
		return &ParseError{File: c.name, Line: c.line, Err: fieldCountError{len(c.fields), len(c.header)}}
	}
	return nil
}

// splitQuoted splits a line with RFC 4180 quoting into c.fields: a field
// that opens with '"' is quoted, a '"' elsewhere in an unquoted field is
// an ordinary byte. Quoted fields may not span lines: no Tardis field
// contains a line break.
func (c *csvReader) splitQuoted(line []byte) error {
	c.fields = c.fields[:0]
	c.unq = c.unq[:0]
	i := 0
	for {
		if i < len(line) && line[i] == '"' {
			// Fields without "" escapes alias the line; others are
			// copied to c.unq.
			start := i + 1
			j := start
			escaped := false
			for {
				k := bytes.IndexByte(line[j:], '"')
				if k < 0 {
					return ErrQuote
				}
				j += k
				if j+1 < len(line) && line[j+1] == '"' {
					escaped = true
					j += 2
					continue
				}
				break
			}
			f := line[start:j]
			if escaped {
				off := len(c.unq)
				for k := 0; k < len(f); k++ {
					c.unq = append(c.unq, f[k])
					if f[k] == '"' {
						k++
					}
				}
				f = c.unq[off:]
			}
			c.fields = append(c.fields, f)
			i = j + 1
			if i == len(line) {
				return nil
			}
			if line[i] != ',' {
				return ErrQuote
			}
			i++
			continue
		}
		k := bytes.IndexByte(line[i:], ',')
		if k < 0 {
			c.fields = append(c.fields, line[i:])
			return nil
		}
		c.fields = append(c.fields, line[i:i+k])
		i += k + 1
	}
}

// maxMicros is the largest µs count whose ns fit in int64: Chronicle's
// timestamps are u64 on disk, but readers and tools do ns arithmetic in
// int64 (time.Time, durations), so 2^63 ns and later are refused.
const maxMicros = math.MaxInt64 / 1000

// parseMicros parses a non-negative integer count of µs and returns ns. It
// refuses values whose ns do not fit in int64 (after 2262-04-11).
func parseMicros(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, ErrNotInteger
	}
	var v uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, ErrNotInteger
		}
		// Saturate rather than wrap, and finish the scan so that a
		// non-digit is reported as such.
		if v <= maxMicros {
			v = v*10 + uint64(d)
		}
	}
	if v > maxMicros {
		return 0, ErrTimeRange
	}
	return v * 1000, nil
}
