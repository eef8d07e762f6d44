// Package duckdbtest checks Chronicle's Parquet files with DuckDB, a
// reader independent of the writer (parquet-go). It is its own module so
// that users of the main module never download DuckDB: .ci/run runs its
// tests after the main module's.
package duckdbtest
