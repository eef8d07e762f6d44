package segment

import "golang.org/x/sys/cpu"

// hasCLMUL says clmulRecord can run; hash/crc32 asks the same of the CPU.
var hasCLMUL = cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE41

// clmulRecord is the CRC-32 (IEEE) of the plen (<= crcInPlace) payload
// bytes of the record at r, read in place behind crcPad64(plen) bytes of
// its header taken as zeros (see payloadCRC). It reads only the record's
// first HeaderSize+plen bytes.
//
//go:noescape
func clmulRecord(r *byte, plen int) uint32
