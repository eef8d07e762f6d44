package objstore

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// A request or body cut before its first byte fails with an io.EOF deep in
// its error; readers stop at io.EOF as at a file's end, so the store's
// errors must never match it (a dump through a cutting proxy once exited 0
// with no output).
func TestErrorHidesEOF(t *testing.T) {
	s := &Store{bucket: "b"}
	for _, cause := range []error{
		io.EOF,
		fmt.Errorf("offset 0: body cut at 0 of 65536 bytes: %w", io.EOF),
		fmt.Errorf("operation error S3: GetObject: request send failed: %w", fmt.Errorf("Get \"http://x\": %w", io.EOF)),
	} {
		err := s.fail("get", "k", cause)
		if errors.Is(err, io.EOF) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%v: errors.Is io.EOF %v, io.ErrUnexpectedEOF %v; want false, true", err, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF))
		}
	}
	if err := s.fail("get", "k", ErrChanged); !errors.Is(err, ErrChanged) {
		t.Errorf("%v does not match ErrChanged", err)
	}
}
