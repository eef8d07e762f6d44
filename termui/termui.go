// Package termui shows a batch import's progress: on a terminal one status
// line redrawn in place, with a plain line per finished file above it; on
// a pipe the plain lines alone.
package termui

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/chronicle-archive/chronicle/batch"
)

// New returns the terminal reporter when f (stderr, usually) is a
// terminal, else the plain one.
func New(f *os.File) batch.Reporter {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return NewPlain(f)
	}
	return NewTerminal(f, func() int {
		w, _, err := term.GetSize(fd)
		if err != nil || w <= 0 {
			return 80
		}
		return w
	})
}

// Plain writes one line per finished file.
type Plain struct{ w io.Writer }

// NewPlain returns a Plain writing to w.
func NewPlain(w io.Writer) *Plain { return &Plain{w: w} }

func (p *Plain) Started(*batch.Progress) {}
func (p *Plain) Finished(*batch.Summary) {}

func (p *Plain) FileDone(in batch.Input, r batch.FileResult, took time.Duration) {
	io.WriteString(p.w, fileLine(in, r, took)+"\n")
}

// fileLine is a finished file's line: status, data type, file, and rows,
// bytes and time, or the error.
func fileLine(in batch.Input, r batch.FileResult, took time.Duration) string {
	dt := batch.DataTypeOf(in, r)
	switch r.Status {
	case batch.Failed:
		return fmt.Sprintf("failed %s %s", dt, batch.ErrorText(in.Path, r.Err))
	case batch.Imported, batch.NoData:
		return fmt.Sprintf("%s %s %s rows=%d in=%s disk=%s %s", r.Status, dt, in.Path,
			r.Rows, batch.Bytes(r.BytesIn), batch.Bytes(r.BytesOnDisk), took.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s %s %s", r.Status, dt, in.Path)
}

// Terminal keeps one status line at the bottom of a terminal: bytes done
// of the total, files done and failed, rows/s, ETA and the files in
// flight, cut to the terminal's width (so it never wraps, and \r plus
// erase-to-end-of-line always replaces it whole), redrawn at most every
// interval. A finished file's line is printed above it.
type Terminal struct {
	w     io.Writer
	width func() int

	mu       sync.Mutex
	p        *batch.Progress
	drawn    bool
	last     time.Time
	names    []string // reused by Snapshot
	stop     chan struct{}
	stopped  chan struct{}
	interval time.Duration
}

// NewTerminal returns a Terminal writing to w, whose width in columns
// width reports (asked at each redraw, so a resize is followed).
func NewTerminal(w io.Writer, width func() int) *Terminal {
	return &Terminal{w: w, width: width, interval: 100 * time.Millisecond}
}

func (t *Terminal) Started(p *batch.Progress) {
	t.mu.Lock()
	t.p = p
	t.stop, t.stopped = make(chan struct{}), make(chan struct{})
	t.mu.Unlock()
	go func() {
		defer close(t.stopped)
		tick := time.NewTicker(t.interval)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
				t.mu.Lock()
				t.draw()
				t.mu.Unlock()
			}
		}
	}()
}

func (t *Terminal) FileDone(in batch.Input, r batch.FileResult, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	io.WriteString(t.w, fileLine(in, r, took)+"\n")
	// Many files finishing at once (a rerun's skips) must not redraw the
	// status line for each: the ticker brings it back.
	if time.Since(t.last) >= t.interval {
		t.draw()
	}
}

// Finished clears the status line, leaving the terminal to whatever
// prints next.
func (t *Terminal) Finished(*batch.Summary) {
	if t.stop != nil {
		close(t.stop)
		<-t.stopped
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
}

func (t *Terminal) clear() {
	if t.drawn {
		io.WriteString(t.w, "\r\033[K")
		t.drawn = false
	}
}

func (t *Terminal) draw() {
	if t.p == nil {
		return
	}
	s := t.p.Snapshot(t.names)
	t.names = s.InFlight
	t.drawSnapshot(s)
}

func (t *Terminal) drawSnapshot(s batch.Snapshot) {
	io.WriteString(t.w, "\r"+statusLine(s, t.width())+"\033[K")
	t.drawn = true
	t.last = time.Now()
}

// statusLine renders s in at most width-1 columns (the last column would
// make some terminals wrap).
func statusLine(s batch.Snapshot, width int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s / %s", batch.Bytes(s.Bytes), batch.Bytes(s.TotalBytes))
	if s.TotalBytes > 0 {
		fmt.Fprintf(&b, " (%d%%)", s.Bytes*100/s.TotalBytes)
	}
	fmt.Fprintf(&b, "  files %d/%d", s.Done, s.Files)
	if s.Failed > 0 {
		fmt.Fprintf(&b, " (%d failed)", s.Failed)
	}
	fmt.Fprintf(&b, "  %s rows/s", batch.Count(batch.PerSecond(s.Rows, s.Elapsed)))
	if eta := batch.ETA(s.WorkBytes, s.TotalBytes-s.Bytes, s.Elapsed); eta >= time.Second && s.Elapsed > time.Second {
		fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
	}
	if room := width - 1 - columns(b.String()) - 2; len(s.InFlight) > 0 && room >= 2 {
		b.WriteString("  " + inFlight(s.InFlight, room))
	}
	return fit(b.String(), width-1)
}

// minName is the fewest columns a file in flight is shown in.
const minName = 12

// inFlight lists the base names of files in flight, without .csv[.gz],
// in at most cols columns. When they do not fit, each gets an equal share, keeping the end
// of its name (where Tardis names differ: date and symbol), and those
// that cannot get minName columns are counted as "+N".
func inFlight(paths []string, cols int) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		// Every file is .csv or .csv.gz: the columns are better spent on the name.
		names[i] = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), ".gz"), ".csv")
	}
	if all := strings.Join(names, ", "); columns(all) <= cols {
		return all
	}
	k, more := len(names), ""
	for ; k > 0; k-- {
		if k < len(names) {
			more = fmt.Sprintf(" +%d", len(names)-k)
		}
		if (cols-len(more)-2*(k-1))/k >= minName {
			break
		}
	}
	if k == 0 {
		return fit(fmt.Sprintf("+%d", len(names)), cols)
	}
	per := (cols - len(more) - 2*(k-1)) / k
	for i := range names[:k] {
		names[i] = fitTail(names[i], per)
	}
	return strings.Join(names[:k], ", ") + more
}

// fitTail keeps the end of s that fits in cols columns, after "…".
func fitTail(s string, cols int) string {
	if columns(s) <= cols {
		return s
	}
	rs := []rune(s)
	w, i := 1, len(rs) // 1: the "…"
	for i > 0 && w+runeWidth(rs[i-1]) <= cols {
		i--
		w += runeWidth(rs[i])
	}
	return "…" + string(rs[i:])
}

func columns(s string) int {
	w := 0
	for _, r := range s {
		w += runeWidth(r)
	}
	return w
}

// fit cuts s to at most cols terminal columns, ending a cut line with "…".
func fit(s string, cols int) string {
	if cols <= 0 {
		return ""
	}
	w, cut := 0, -1
	for i, r := range s {
		rw := runeWidth(r)
		if cut < 0 && w+rw > cols-1 {
			cut = i // where "…" goes if the rest does not fit
		}
		if w += rw; w > cols {
			return s[:cut] + "…"
		}
	}
	return s
}

// runeWidth is the columns r takes: 2 for East Asian wide and fullwidth
// characters and emoji, 1 otherwise (names have no control characters
// worth rendering; combining marks are rare in file names).
func runeWidth(r rune) int {
	switch {
	case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0xa4cf && r != 0x303f,
		r >= 0xac00 && r <= 0xd7a3, r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f,
		r >= 0xff00 && r <= 0xff60, r >= 0xffe0 && r <= 0xffe6, r >= 0x1f300 && r <= 0x1f64f,
		r >= 0x1f900 && r <= 0x1f9ff, r >= 0x20000 && r <= 0x3fffd:
		return 2
	}
	return 1
}
