//go:build race

package segment

// raceEnabled: the race detector allocates, so allocation counts are off.
const raceEnabled = true
