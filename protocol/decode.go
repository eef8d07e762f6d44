package protocol

import "unsafe"

// DecodeEventView is DecodeEvent without the copy of the levels: on a
// little-endian machine, where the payload's levels are the memory of a
// []Level, e.Bids and e.Asks are views of p (length and capacity the
// levels'), valid as long as p is and not to be written through; elsewhere
// they are copies as DecodeEvent makes them. The checks are DecodeEvent's.
// A replay decodes every event, and copying its levels out of the read
// buffer was most of what decoding cost.
//
// An Event it filled must not be given to DecodeEvent before its Bids and
// Asks are set to nil: DecodeEvent reuses their memory, here p's.
func DecodeEventView(p []byte, e *Event) error {
	off, nb, na, err := decodeHead(p, e)
	if err != nil {
		return err
	}
	if !nativeLittle {
		e.Bids = getLevels(nil, p[off:off+nb*LevelSize])
		e.Asks = getLevels(nil, p[off+nb*LevelSize:])
		return nil
	}
	e.Bids = viewLevels(p[off:off+nb*LevelSize], nb)
	e.Asks = viewLevels(p[off+nb*LevelSize:], na)
	return nil
}

// viewLevels is b, n levels long, as a []Level. Level holds no pointers,
// so its alignment does not matter to the garbage collector (or to
// checkptr); x86 and arm64 load unaligned words.
func viewLevels(b []byte, n int) []Level {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*Level)(unsafe.Pointer(unsafe.SliceData(b))), n)
}
