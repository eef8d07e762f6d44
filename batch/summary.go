package batch

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Counts are the files of each outcome, and the rows and bytes of the
// files imported in this run (Imported and NoData: skipped files cost
// nothing and add nothing).
type Counts struct {
	Imported        int   `json:"imported"`
	AlreadyImported int   `json:"already_imported"`
	Skipped         int   `json:"skipped"`
	NoData          int   `json:"no_data"`
	Failed          int   `json:"failed"`
	NotStarted      int   `json:"not_started"`
	Rows            int64 `json:"rows"`
	BytesIn         int64 `json:"bytes_in"`
	BytesOnDisk     int64 `json:"bytes_on_disk"`
}

func (c *Counts) add(r FileResult) {
	switch r.Status {
	case Imported:
		c.Imported++
	case AlreadyImported:
		c.AlreadyImported++
	case Skipped:
		c.Skipped++
	case NoData:
		c.NoData++
	case Failed:
		c.Failed++
	case NotStarted:
		c.NotStarted++
	}
	if r.Status == Imported || r.Status == NoData {
		c.Rows += r.Rows
		c.BytesIn += r.BytesIn
		c.BytesOnDisk += r.BytesOnDisk
	}
}

// Files is the number of files counted.
func (c Counts) Files() int {
	return c.Imported + c.AlreadyImported + c.Skipped + c.NoData + c.Failed + c.NotStarted
}

// TypeSummary is the counts of one data type.
type TypeSummary struct {
	DataType string `json:"data_type"`
	Counts
}

// Failure is one failed file.
type Failure struct {
	File     string `json:"file"`
	DataType string `json:"data_type"`
	Error    string `json:"error"` // names the file: "file:line: field \"value\": reason"
}

// FileSummary is one file's outcome.
type FileSummary struct {
	File        string `json:"file"`
	DataType    string `json:"data_type"`
	Status      Status `json:"status"`
	Rows        int64  `json:"rows"`
	BytesIn     int64  `json:"bytes_in"`
	BytesOnDisk int64  `json:"bytes_on_disk"`
	Stream      string `json:"stream,omitempty"`
	DurationNS  int64  `json:"duration_ns"`
	Error       string `json:"error,omitempty"`
}

// Summary is what a batch did. Failures and Files are in input order.
type Summary struct {
	Types      []TypeSummary `json:"types"` // by data type name
	Total      Counts        `json:"total"`
	Failures   []Failure     `json:"failures"`
	Files      []FileSummary `json:"files"`
	WallNS     int64         `json:"wall_ns"`
	RowsPerSec int64         `json:"rows_per_sec"`
}

// unknownType stands for the data type of a file that neither its name nor
// its import could tell.
const unknownType = "unknown"

// DataTypeOf is the file's data type: the import's, else its name's, else
// "unknown".
func DataTypeOf(in Input, r FileResult) string {
	switch {
	case r.DataType != "":
		return r.DataType
	case in.Info.DataType != "":
		return in.Info.DataType
	}
	return unknownType
}

func summarize(inputs []Input, results []fileOutcome, wall time.Duration) *Summary {
	s := &Summary{Failures: []Failure{}, Files: make([]FileSummary, len(inputs)), WallNS: int64(wall)}
	byType := map[string]*Counts{}
	for i, in := range inputs {
		r := results[i].r
		dt := DataTypeOf(in, r)
		c := byType[dt]
		if c == nil {
			c = &Counts{}
			byType[dt] = c
		}
		c.add(r)
		s.Total.add(r)
		f := FileSummary{File: in.Path, DataType: dt, Status: r.Status, Rows: r.Rows, BytesIn: r.BytesIn,
			BytesOnDisk: r.BytesOnDisk, Stream: r.Stream, DurationNS: int64(results[i].took)}
		if r.Err != nil && r.Status != NotStarted {
			f.Error = ErrorText(in.Path, r.Err)
		}
		if r.Status == Failed {
			s.Failures = append(s.Failures, Failure{File: in.Path, DataType: dt, Error: f.Error})
		}
		s.Files[i] = f
	}
	for dt, c := range byType {
		s.Types = append(s.Types, TypeSummary{DataType: dt, Counts: *c})
	}
	sort.Slice(s.Types, func(i, j int) bool { return s.Types[i].DataType < s.Types[j].DataType })
	s.RowsPerSec = PerSecond(s.Total.Rows, wall)
	return s
}

// ErrorText is err's text, prefixed with the file when it does not name it
// (an open error does; a parse error does; a bare "context canceled" not).
func ErrorText(path string, err error) string {
	t := err.Error()
	if !strings.Contains(t, filepath.Base(path)) {
		t = path + ": " + t
	}
	return t
}

// Wall is the batch's wall time.
func (s *Summary) Wall() time.Duration { return time.Duration(s.WallNS) }

// JSON is the summary as one JSON object (docs/BATCH.md).
func (s *Summary) JSON() ([]byte, error) { return json.Marshal(s) }

// WriteTable writes the per-type table, the totals line and every failure.
func (s *Summary) WriteTable(w io.Writer) error {
	head := []string{"data type", "files", "imported", "skipped", "no data", "failed", "not started", "rows", "in", "on disk"}
	rows := [][]string{head}
	row := func(name string, c Counts) []string {
		return []string{name, fmt.Sprint(c.Files()), fmt.Sprint(c.Imported), fmt.Sprint(c.Skipped + c.AlreadyImported),
			fmt.Sprint(c.NoData), fmt.Sprint(c.Failed), fmt.Sprint(c.NotStarted), fmt.Sprint(c.Rows), Bytes(c.BytesIn), Bytes(c.BytesOnDisk)}
	}
	for _, t := range s.Types {
		rows = append(rows, row(t.DataType, t.Counts))
	}
	rows = append(rows, row("total", s.Total))
	width := make([]int, len(head))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", width[i], c)
			} else {
				fmt.Fprintf(&b, "  %*s", width[i], c)
			}
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%d files in %s, %s rows/s\n", s.Total.Files(), s.Wall().Round(time.Millisecond), Count(s.RowsPerSec))
	if len(s.Failures) > 0 {
		fmt.Fprintf(&b, "%d failed:\n", len(s.Failures))
		for _, f := range s.Failures {
			fmt.Fprintf(&b, "  %s\n", f.Error)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
