package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// termWidth is f's width in columns, 80 when it cannot tell.
func termWidth(f *os.File) int {
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 {
		return 80
	}
	return w
}

// fitWidth cuts line to width-1 columns: a line as wide as the terminal
// wraps on some terminals, and then "\r" no longer returns to its start.
func fitWidth(line string, width int) string {
	cols := 0
	for i := range line {
		if cols >= width-1 {
			return line[:i]
		}
		cols++
	}
	return line
}

// progress draws one status line on a terminal (bytes, rows/s, ETA),
// redrawn at most a few times a second. On anything else it stays silent
// so that piped output is only the final machine-readable line.
type progress struct {
	w      io.Writer
	width  func() int
	on     bool
	start  time.Time
	mu     sync.Mutex
	last   time.Time
	drawn  bool
	prefix string
}

func newProgress(e *env, prefix string) *progress {
	width := e.width
	if width == nil {
		width = func() int { return 80 }
	}
	return &progress{w: e.stderr, width: width, on: e.isTerminal, start: time.Now(), prefix: prefix}
}

// update reports done of total bytes and rows so far.
func (p *progress) update(done, total, rows int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	line := fmt.Sprintf("%s %s / %s", p.prefix, byteSize(done), byteSize(total))
	if total > 0 {
		line += fmt.Sprintf(" (%.0f%%)", 100*float64(done)/float64(total))
	}
	if el > 0 {
		line += fmt.Sprintf("  %s rows  %s rows/s", count(rows), count(int64(float64(rows)/el)))
	}
	if done > 0 && total > done && el > 0.5 {
		eta := time.Duration(el * float64(total-done) / float64(done) * float64(time.Second))
		line += "  ETA " + eta.Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\033[K%s", fitWidth(line, p.width()))
	p.drawn = true
}

// done clears the status line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func count(n int64) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
