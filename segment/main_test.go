package segment

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if goroutines running this package's code outlive
// the tests: every reader's decoder goroutines and every writer's
// background goroutines must be gone once closed (a light goleak). Only
// goroutines with a segment frame count, so the test framework's own (the
// fuzzer's signal handler, for one) do not.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for len(leaked()) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if l := leaked(); len(l) > 0 {
			fmt.Fprintf(os.Stderr, "%d goroutines leaked:\n%s\n", len(l), strings.Join(l, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

func leaked() []string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "chronicle/segment.") && !strings.Contains(g, "segment.TestMain") {
			out = append(out, g)
		}
	}
	return out
}
