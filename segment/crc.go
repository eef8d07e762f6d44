package segment

import (
	"hash/crc32"
	"unsafe"
)

// crcInPlace is the longest payload payloadCRC checksums itself; from
// 1 KiB hash/crc32 has an AVX-512 loop, and its table loop over a tail of
// under 16 bytes costs little against the rest.
const crcInPlace = 1024

// payloadCRC is crc32.ChecksumIEEE of the payload of record r (r's first
// plen bytes after its HeaderSize-byte header), which costs a replay more
// than any other single step. hash/crc32 uses carry-less multiplication
// only for the first multiple of 16 bytes of an input of 64 or more; a
// trade's payload (under 64 bytes) and the tail of any other go through
// its table loop, several times slower per byte, and every call pays for
// its dispatch (a sync.Once, a function value, the CPU check).
//
// So the payload is checksummed, as the writer does it, behind k zero
// bytes, from the register those zeros bring back to the initial one
// (crcUnzero): here a multiple of 64 bytes in all, straight by clmulRecord.
// The zeros are not copied anywhere: clmulRecord reads the k header bytes
// before the payload and masks them to zero in its registers (copying the
// payload behind zeros instead costs more than it saves: the reads of the
// copy stall on its writes).
//
// scanner.check calls clmulRecord itself (the Go around it here, bounds
// checks and a stack frame, cost a third of the assembly's instructions).
func payloadCRC(r []byte, plen int) uint32 {
	if !hasCLMUL || plen > crcInPlace || len(r) < HeaderSize+plen {
		return crc32.ChecksumIEEE(r[HeaderSize : HeaderSize+plen])
	}
	return clmulRecord(unsafe.SliceData(r), plen)
}

// crcPad64 is how many zero bytes (0 to 64) before an n-byte payload make
// it a non-empty multiple of 64 bytes. A multiple of 16 would do for
// the folding, but each 16 bytes past the last multiple of 64 is one more
// fold in a chain of dependent ones (and a loop exit to mispredict),
// where the zeros of a full 64-byte block are folded at once.
func crcPad64(n int) int {
	if n == 0 {
		return HeaderSize
	}
	return -n & 63
}
