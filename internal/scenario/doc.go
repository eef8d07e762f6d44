// Package scenario holds issue 10's scenario tests, at the level of the
// Go API a researcher uses: several days and symbols of book and trades
// data, generated with ../shared/tools/tardisgen and imported with
// ingest.Import, read back merged (stream.OpenMerged), as a book at a
// moment across days (replay.BookAt, stream.OpenEventsRange) and over a
// window that cuts two days (stream.OpenRecordsRange, OpenEventsRange),
// each compared with what the test computes from the source CSVs alone.
// The package has no code besides its tests.
package scenario
