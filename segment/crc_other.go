//go:build !amd64

package segment

const hasCLMUL = false

func clmulRecord(r *byte, plen int) uint32 { panic("segment: clmulRecord without amd64") }
