// Package reliability holds the end-to-end tests of Chronicle's
// guarantees, as docs/RELIABILITY.md states them: they build the chronicle
// command (with the chronicle_crashhook tag, see cmd/chronicle/crashhook.go)
// and drive it as a child process, killing it at numbered file-system
// operations and at random moments, feeding it bad input, racing writers
// and readers against each other, and injecting I/O faults.
//
// The package has no non-test code. Run it with
//
//	go test ./internal/reliability/            # everything (a few minutes)
//	go test -short ./internal/reliability/     # fewer kill points and rounds
//	go test -v -run Crash ./internal/reliability/  # the crash matrix, with counts
//
// Tests that need ../shared (the Tardis data generator, present in CI)
// skip with a message when it is absent.
package reliability
