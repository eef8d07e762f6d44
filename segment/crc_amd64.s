// The folding and Barrett reduction of Go's hash/crc32 ieeeCLMUL
// (crc32_amd64.s, Copyright 2011 The Go Authors, BSD-style license),
// without its AVX-512 path for inputs of 1 KiB and more, which payloadCRC
// leaves to hash/crc32. Based on Intel's "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ Instruction".

#include "textflag.h"

DATA crcK1K2<>+0(SB)/8, $0x154442bd4
DATA crcK1K2<>+8(SB)/8, $0x1c6e41596
DATA crcK3K4<>+0(SB)/8, $0x1751997d0
DATA crcK3K4<>+8(SB)/8, $0x0ccaa009e
// Folding by 32 and 48 bytes (x^(8n+32) and x^(8n-32) mod P, reflected
// and shifted left by one, as K3K4 is for 16 bytes).
DATA crcK256<>+0(SB)/8, $0x0f1da05aa
DATA crcK256<>+8(SB)/8, $0x15a546366
DATA crcK384<>+0(SB)/8, $0x03db1ecdc
DATA crcK384<>+8(SB)/8, $0x174359406
DATA crcPoly<>+0(SB)/8, $0x1db710641
DATA crcPoly<>+8(SB)/8, $0x1f7011641
DATA crcK5<>+0(SB)/8, $0x163cd6124
GLOBL crcK1K2<>(SB), RODATA, $16
GLOBL crcK3K4<>(SB), RODATA, $16
GLOBL crcK256<>(SB), RODATA, $16
GLOBL crcK384<>(SB), RODATA, $16
GLOBL crcPoly<>(SB), RODATA, $16
GLOBL crcK5<>(SB), RODATA, $8

// crcMask: 64 zero bytes, then 64 bytes of 0xff. The 64 bytes from
// crcMask+64-k clear the first k bytes of a 64-byte block.
DATA crcMask<>+0(SB)/8, $0
DATA crcMask<>+8(SB)/8, $0
DATA crcMask<>+16(SB)/8, $0
DATA crcMask<>+24(SB)/8, $0
DATA crcMask<>+32(SB)/8, $0
DATA crcMask<>+40(SB)/8, $0
DATA crcMask<>+48(SB)/8, $0
DATA crcMask<>+56(SB)/8, $0
DATA crcMask<>+64(SB)/8, $-1
DATA crcMask<>+72(SB)/8, $-1
DATA crcMask<>+80(SB)/8, $-1
DATA crcMask<>+88(SB)/8, $-1
DATA crcMask<>+96(SB)/8, $-1
DATA crcMask<>+104(SB)/8, $-1
DATA crcMask<>+112(SB)/8, $-1
DATA crcMask<>+120(SB)/8, $-1
GLOBL crcMask<>(SB), RODATA, $128

// func clmulRecord(r *byte, plen int) uint32
// The CRC-32 of the plen bytes at r+64, behind k = crcPad64(plen) zeros
// taken from the header before them: the register starts at
// ^crcUnzero[k] and runs over the plen+k bytes from r+64-k (a multiple of
// 64, at least 64), whose first k bytes count as zeros.
TEXT ·clmulRecord(SB), NOSPLIT, $0-20
	MOVQ  r+0(FP), SI
	MOVQ  plen+8(FP), CX
	// Prefetch the cache lines 768 bytes past this record's, as many as
	// it has: the records follow one another, so each line of a mapped
	// .q is asked for once, ahead of its parsing. The hardware's own
	// prefetch stops at every 4 KiB page; this took bench/merged from
	// 315-320 to 271-277 ms (250-700 bytes ahead did about as well).
	LEAQ  127(CX), DX
	ANDQ  $-64, DX
	LEAQ  768(SI), BX
	ADDQ  BX, DX
prefetch:
	PREFETCHT0 (BX)
	ADDQ  $64, BX
	CMPQ  BX, DX
	JB    prefetch
	MOVQ  CX, DX
	NEGQ  DX
	ANDQ  $63, DX
	MOVQ  $64, BX
	TESTQ CX, CX
	CMOVQEQ BX, DX
	LEAQ  ·crcUnzero(SB), AX
	MOVL  (AX)(DX*4), BX
	NOTL  BX
	MOVL  BX, X0
	ADDQ  $64, SI
	SUBQ  DX, SI
	ADDQ  DX, CX
	LEAQ  crcMask<>+64(SB), AX
	SUBQ  DX, AX

	MOVOU (SI), X1
	MOVOU 16(SI), X2
	MOVOU 32(SI), X3
	MOVOU 48(SI), X4
	MOVOU (AX), X5
	MOVOU 16(AX), X6
	MOVOU 32(AX), X7
	MOVOU 48(AX), X8
	PAND  X5, X1
	PAND  X6, X2
	PAND  X7, X3
	PAND  X8, X4
	PXOR  X0, X1
	ADDQ  $64, SI
	SUBQ  $64, CX
	CMPQ  CX, $64
	JB    remain64

	MOVOU crcK1K2<>+0(SB), X0

loop64:
	MOVOA     X1, X5
	MOVOA     X2, X6
	MOVOA     X3, X7
	MOVOA     X4, X8
	PCLMULQDQ $0, X0, X1
	PCLMULQDQ $0, X0, X2
	PCLMULQDQ $0, X0, X3
	PCLMULQDQ $0, X0, X4
	MOVOU     (SI), X11
	MOVOU     16(SI), X12
	MOVOU     32(SI), X13
	MOVOU     48(SI), X14
	PCLMULQDQ $0x11, X0, X5
	PCLMULQDQ $0x11, X0, X6
	PCLMULQDQ $0x11, X0, X7
	PCLMULQDQ $0x11, X0, X8
	PXOR      X5, X1
	PXOR      X6, X2
	PXOR      X7, X3
	PXOR      X8, X4
	PXOR      X11, X1
	PXOR      X12, X2
	PXOR      X13, X3
	PXOR      X14, X4
	ADDQ      $64, SI
	SUBQ      $64, CX
	CMPQ      CX, $64
	JGE       loop64

remain64:
	// The four 16-byte lanes folded onto the last at once, by 48, 32
	// and 16 bytes, rather than one after another as hash/crc32 does:
	// the inputs here are short, and three dependent folds were most of
	// the latency of a trade's checksum.
	MOVOU     crcK384<>+0(SB), X9
	MOVOU     crcK256<>+0(SB), X10
	MOVOU     crcK3K4<>+0(SB), X0
	MOVOA     X1, X5
	MOVOA     X2, X6
	MOVOA     X3, X7
	PCLMULQDQ $0, X9, X1
	PCLMULQDQ $0x11, X9, X5
	PCLMULQDQ $0, X10, X2
	PCLMULQDQ $0x11, X10, X6
	PCLMULQDQ $0, X0, X3
	PCLMULQDQ $0x11, X0, X7
	PXOR      X5, X1
	PXOR      X6, X2
	PXOR      X7, X3
	PXOR      X2, X1
	PXOR      X3, X4
	PXOR      X4, X1
	CMPQ      CX, $16
	JB        finish

remain16:
	MOVOU     (SI), X10
	MOVOA     X1, X5
	PCLMULQDQ $0, X0, X1
	PCLMULQDQ $0x11, X0, X5
	PXOR      X5, X1
	PXOR      X10, X1
	SUBQ      $16, CX
	ADDQ      $16, SI
	CMPQ      CX, $16
	JGE       remain16

finish:
	// Fold to 64 bits, then Barrett-reduce to 32.
	PCMPEQB   X3, X3
	PCLMULQDQ $1, X1, X0
	PSRLDQ    $8, X1
	PXOR      X0, X1
	MOVOA     X1, X2
	MOVQ      crcK5<>+0(SB), X0
	PSRLQ     $32, X3
	PSRLDQ    $4, X2
	PAND      X3, X1
	PCLMULQDQ $0, X0, X1
	PXOR      X2, X1
	MOVOU     crcPoly<>+0(SB), X0
	MOVOA     X1, X2
	PAND      X3, X1
	PCLMULQDQ $0x10, X0, X1
	PAND      X3, X1
	PCLMULQDQ $0, X0, X1
	PXOR      X2, X1
	PEXTRD    $1, X1, AX
	NOTL      AX
	MOVL      AX, ret+16(FP)
	RET
