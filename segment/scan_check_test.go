package segment

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// TestCheckPadding checks scanner.check's word-wise padding test at every
// payload length across two 64-byte blocks: each padding byte set alone is
// ErrPadding, and the payload's last byte is never taken for padding.
func TestCheckPadding(t *testing.T) {
	for plen := 0; plen <= 2*HeaderSize+1; plen++ {
		n := recordLen(int64(plen))
		b := make([]byte, n)
		le := binary.LittleEndian
		le.PutUint32(b[offCommitLen:], uint32(plen+1))
		for i := range plen {
			b[HeaderSize+i] = byte(i*7 + 1)
		}
		le.PutUint32(b[offChecksum:], crc32.ChecksumIEEE(b[HeaderSize:HeaderSize+plen]))
		var s scanner
		var rec Record
		if err := s.check(&rec, b, int64(plen)); err != nil {
			t.Fatalf("payload %d: clean record: %v", plen, err)
		}
		for i := HeaderSize + plen; i < int(n); i++ {
			b[i] = 0x80
			s = scanner{}
			if err := s.check(&rec, b, int64(plen)); !errors.Is(err, ErrPadding) {
				t.Fatalf("payload %d: padding byte %d set: %v, want ErrPadding", plen, i, err)
			}
			b[i] = 0
		}
		if plen > 0 {
			b[HeaderSize+plen-1] ^= 0xff
			s = scanner{}
			if err := s.check(&rec, b, int64(plen)); !errors.Is(err, ErrChecksum) || errors.Is(err, ErrPadding) {
				t.Fatalf("payload %d: last payload byte changed: %v, want ErrChecksum alone", plen, err)
			}
			b[HeaderSize+plen-1] ^= 0xff
		}
	}
}
