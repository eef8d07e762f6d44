package batch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Status is what became of one file.
type Status int

const (
	Imported        Status = iota // published
	AlreadyImported               // read, and its content hash is in the ledger
	Skipped                       // not read: name, size and mtime match the ledger
	NoData                        // Tardis's empty file for a day without data
	Failed
	NotStarted // the batch stopped (--fail-fast, or ctx) before it finished this file
)

var statusNames = [...]string{"imported", "already imported", "skipped", "no data", "failed", "not started"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("Status(%d)", int(s))
	}
	return statusNames[s]
}

// MarshalText makes a Status a JSON string.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a Status's JSON string (a --json summary read back).
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if n == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("batch: unknown status %q", b)
}

// FileResult is what one import did.
type FileResult struct {
	DataType    string // Tardis's name; "" means Input.Info's
	Status      Status
	Rows        int64
	BytesIn     int64 // bytes of the input file read
	BytesOnDisk int64 // bytes published in the archive
	Stream      string
	Err         error // for Failed: "file:line: field \"value\": reason"
}

// Options configure Run.
type Options struct {
	Jobs     int  // files imported at once; 0 means runtime.NumCPU()
	FailFast bool // stop at the first failure

	// Import and Skip are called from Jobs goroutines at once.
	//
	// Import imports one file. It calls progress with the bytes of the
	// file read and rows done so far (cumulative), as often as it likes:
	// the call is two atomic stores. An error makes the file Failed.
	Import func(ctx context.Context, in Input, progress func(bytesRead, rows int64)) (FileResult, error)

	// Skip, if set, is the cheap check made before Import: true means
	// the file is done already (the result's Status defaults to Skipped).
	Skip func(in Input) (FileResult, bool)

	Report Reporter // nil: silent
}

// Reporter shows a batch's progress. FileDone is called from the workers,
// one at a time; Started is called before the first file and Finished
// after the last.
type Reporter interface {
	Started(p *Progress)
	FileDone(in Input, r FileResult, took time.Duration)
	Finished(s *Summary)
}

// Run imports inputs, Jobs at a time, the largest first (so that the
// longest import does not start last). Files of one partition (by name or
// path) are imported one after the other in input order: at once they
// would contend for the partition, and which won would depend on timing.
// A failed file does not stop the others unless FailFast. A panic in Import is not recovered. The error is
// non-nil only when ctx ended the batch; the summary is complete either way.
func Run(ctx context.Context, inputs []Input, o Options) (*Summary, error) {
	if o.Import == nil {
		return nil, errors.New("batch: Options.Import is nil")
	}
	groups := partitionGroups(inputs)
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	jobs = max(1, min(jobs, len(groups)))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	p := newProgress(inputs)
	if o.Report != nil {
		o.Report.Started(p)
	}
	results := make([]fileOutcome, len(inputs))
	next := make(chan []int)
	var reportMu sync.Mutex // FileDone one at a time
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range next {
				for _, idx := range g {
					in := inputs[idx]
					start := time.Now()
					r, a := runOne(runCtx, in, o, p)
					took := time.Since(start)
					if r.Status == Failed && o.FailFast {
						cancel()
					}
					p.finish(in, r, a)
					results[idx] = fileOutcome{r: r, took: took}
					if o.Report != nil {
						reportMu.Lock()
						o.Report.FileDone(in, r, took)
						reportMu.Unlock()
					}
				}
			}
		}()
	}
	for _, g := range groups {
		next <- g
	}
	close(next)
	wg.Wait()

	s := summarize(inputs, results, p.elapsed())
	if o.Report != nil {
		o.Report.Finished(s)
	}
	return s, ctx.Err()
}

// partitionGroups lists the indexes of inputs by partition, in input order
// within a group, the groups largest first.
func partitionGroups(inputs []Input) [][]int {
	var groups [][]int
	var size []int64
	at := map[string]int{}
	for i, in := range inputs {
		k := partitionKey(in)
		g, ok := at[k]
		if !ok {
			g = len(groups)
			at[k] = g
			groups, size = append(groups, nil), append(size, 0)
		}
		groups[g] = append(groups[g], i)
		size[g] += in.Size
	}
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return size[order[a]] > size[order[b]] })
	out := make([][]int, len(groups))
	for i, g := range order {
		out[i] = groups[g]
	}
	return out
}

// runOne imports in, returning its in-flight entry if it got that far.
func runOne(ctx context.Context, in Input, o Options, p *Progress) (FileResult, *active) {
	if ctx.Err() != nil {
		return FileResult{Status: NotStarted, Err: ctx.Err()}, nil
	}
	var a *active
	r, skipped := FileResult{}, false
	if o.Skip != nil {
		if r, skipped = o.Skip(in); skipped && r.Status == Imported {
			r.Status = Skipped
		}
	}
	var err error
	if !skipped {
		a = p.begin(in)
		r, err = o.Import(ctx, in, a.set)
	}
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// Stopped by the batch, not by the file: a crash-safe import
		// leaves nothing behind.
		r.Status, r.Err = NotStarted, err
	case err != nil:
		r.Status, r.Err = Failed, err
	case r.Status == Failed && r.Err == nil:
		r.Err = errors.New("failed")
	}
	return r, a
}

type fileOutcome struct {
	r    FileResult
	took time.Duration
}

// Progress is a running batch's live state, safe for concurrent use.
type Progress struct {
	Files      int   // files in the batch
	TotalBytes int64 // their sizes
	start      time.Time

	mu                   sync.Mutex
	doneFiles, failed    int
	workBytes, skipBytes int64 // of finished files read (or failed), and not read
	rows                 int64 // of finished files
	active               []*active
}

type active struct {
	name        string
	bytes, rows atomic.Int64
}

func (a *active) set(bytes, rows int64) {
	a.bytes.Store(bytes)
	a.rows.Store(rows)
}

func newProgress(inputs []Input) *Progress {
	p := &Progress{Files: len(inputs), start: time.Now()}
	for _, in := range inputs {
		p.TotalBytes += in.Size
	}
	return p
}

func (p *Progress) elapsed() time.Duration { return time.Since(p.start) }

func (p *Progress) begin(in Input) *active {
	a := &active{name: in.Path}
	p.mu.Lock()
	p.active = append(p.active, a)
	p.mu.Unlock()
	return a
}

// finish moves a file (and a, its in-flight entry if it was imported)
// into the totals, at once so that a Snapshot counts it exactly once.
func (p *Progress) finish(in Input, r FileResult, a *active) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.active {
		if x == a {
			p.active = append(p.active[:i], p.active[i+1:]...)
			break
		}
	}
	switch r.Status {
	case Skipped, AlreadyImported, NotStarted:
		p.skipBytes += in.Size
	default:
		p.workBytes += in.Size
	}
	if r.Status == Failed {
		p.failed++
	}
	p.rows += r.Rows
	p.doneFiles++
}

// Snapshot is Progress at one moment.
type Snapshot struct {
	Files, Done, Failed int
	TotalBytes          int64
	Bytes               int64 // done: read by imports, or of files not read
	WorkBytes           int64 // of Bytes, those read by imports (for the rate)
	Rows                int64
	Elapsed             time.Duration
	InFlight            []string // paths being imported, oldest first
}

// Snapshot reads the progress; InFlight is appended to buf[:0] (to reuse it).
func (p *Progress) Snapshot(buf []string) Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Snapshot{
		Files: p.Files, TotalBytes: p.TotalBytes, Done: p.doneFiles, Failed: p.failed,
		WorkBytes: p.workBytes, Rows: p.rows, Elapsed: p.elapsed(), InFlight: buf[:0],
	}
	for _, a := range p.active {
		s.WorkBytes += a.bytes.Load()
		s.Rows += a.rows.Load()
		s.InFlight = append(s.InFlight, a.name)
	}
	s.Bytes = s.WorkBytes + p.skipBytes
	return s
}
