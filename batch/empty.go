package batch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"
)

// IsEmptyInput reports whether the file at path holds no rows: 0 bytes
// (how Tardis serves a day without data), or, decompressed if it is gzip,
// nothing or a header line alone. It reads at most the first two lines.
func IsEmptyInput(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(2)
	if len(magic) == 0 && err == io.EOF {
		return true, nil
	}
	var r io.Reader = br
	if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err == io.EOF { // a gzip header that never came
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	// Past the header line, any byte is a row.
	lines := bufio.NewReader(r)
	for {
		_, err := lines.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		break
	}
	switch _, err := lines.ReadByte(); {
	case err == io.EOF:
		return true, nil
	case err != nil:
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return false, nil
}
