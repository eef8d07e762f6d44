// Command batch measures a batch import's use of the machine: it
// generates -files Tardis .csv.gz files of -rows rows in all (every data
// type in turn, one partition each) with ../shared/tools/tardisgen, runs
// `chronicle import --jobs N` over their directory once, and reports the
// wall time, rows/s and the child's CPU time (user+sys, from getrusage) as
// a share of wall × jobs: 1.0 is every core busy for the whole run.
//
// Usage:
//
//	go run ./bench/batch                       # 40 files, 10M rows, --jobs 2
//	go run ./bench/batch -files 40 -rows 10000000 -jobs 2 -work /tmp/batchbench
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
)

var types = []string{"incremental_book_L2", "trades", "quotes", "book_ticker", "book_snapshot_25", "derivative_ticker", "liquidations", "options_chain"}

func main() {
	files := flag.Int("files", 40, "files to generate")
	rows := flag.Int("rows", 10_000_000, "rows in all")
	jobs := flag.Int("jobs", 2, "chronicle import --jobs")
	tools := flag.String("tools", "../shared/tools", "the shared tools module (tardisgen)")
	work := flag.String("work", "", "scratch directory (default: a temp dir, removed after)")
	flag.Parse()

	scratch := *work
	if scratch == "" {
		d, err := os.MkdirTemp("", "chronicle-batchbench-")
		check(err)
		defer os.RemoveAll(d)
		scratch = d
	}
	bin := filepath.Join(scratch, "chronicle")
	gen := filepath.Join(scratch, "tardisgen")
	run("", "go", "build", "-o", bin, "./cmd/chronicle")
	run(*tools, "go", "build", "-o", gen, "./tardisgen")

	dir := filepath.Join(scratch, "datasets")
	check(os.MkdirAll(dir, 0o755))
	day0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	per := *rows / *files
	for i := range *files {
		typ := types[i%len(types)]
		day := day0.AddDate(0, 0, i/len(types))
		sym := "BTCUSDT"
		args := []string{"-type", typ, "-rows", strconv.Itoa(per), "-seed", strconv.Itoa(i + 1), "-depth", "100",
			"-start-us", strconv.FormatInt(day.UnixMicro(), 10)}
		if typ == "options_chain" {
			sym = "OPTIONS"
			args = append(args, "-exchange", "deribit")
		}
		ex := "binance-futures"
		if typ == "options_chain" {
			ex = "deribit"
		}
		name := filepath.Join(dir, fmt.Sprintf("%s_%s_%s_%s.csv.gz", ex, typ, day.Format(time.DateOnly), sym))
		if _, err := os.Stat(name); err == nil {
			continue // -work reused
		}
		csv, err := exec.Command(gen, args...).Output()
		check(err)
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(csv)
		check(zw.Close())
		check(os.WriteFile(name, b.Bytes(), 0o644))
	}

	root := filepath.Join(scratch, "archive")
	check(os.RemoveAll(root))
	cmd := exec.Command(bin, "import", "--json", "--jobs", strconv.Itoa(*jobs), "--archive-root", root, dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	check(cmd.Start())
	stop := make(chan struct{})
	sched := make(chan [2]int64)
	go pollSched(cmd.Process.Pid, stop, sched)
	err := cmd.Wait()
	wall := time.Since(start)
	close(stop)
	st := <-sched
	if err != nil {
		fmt.Fprintf(os.Stderr, "chronicle import: %v\n%s", err, errb.String())
		os.Exit(1)
	}
	var s struct {
		Total struct {
			Imported int   `json:"imported"`
			Rows     int64 `json:"rows"`
			BytesIn  int64 `json:"bytes_in"`
		} `json:"total"`
	}
	check(json.Unmarshal(out.Bytes(), &s))
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
	// Per mille, in integers: the figures are printed, never stored.
	util := int64(cpu) * 1000 / (int64(wall) * int64(*jobs))
	fmt.Printf("batch import: %d files, %d rows, %d bytes in, --jobs %d\n", s.Total.Imported, s.Total.Rows, s.Total.BytesIn, *jobs)
	fmt.Printf("wall %s  cpu (user+sys) %s  rows/s %d  cpu/(wall×jobs) %d.%03d\n",
		wall.Round(time.Millisecond), cpu.Round(time.Millisecond), s.Total.Rows*int64(time.Second)/int64(wall), util/1000, util%1000)
	// On a shared machine the child's threads also wait for a CPU that
	// other processes hold: running + waiting to run is the work it had
	// ready, which is what --jobs controls.
	ready := (st[0] + st[1]) * 1000 / (int64(wall) * int64(*jobs))
	fmt.Printf("schedstat: running %s, runnable but waiting for a CPU %s; (running+waiting)/(wall×jobs) %d.%03d; load average %s\n",
		time.Duration(st[0]).Round(time.Millisecond), time.Duration(st[1]).Round(time.Millisecond), ready/1000, ready%1000, loadavg())
}

// pollSched sums, over the threads of pid, the ns they ran and waited on
// a run queue (/proc/<pid>/task/*/schedstat), polled until stop: a thread
// counts as last seen.
func pollSched(pid int, stop chan struct{}, out chan [2]int64) {
	seen := map[string][2]int64{}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			var run, wait int64
			if _, err := fmt.Sscan(string(b), &run, &wait); err == nil {
				seen[t] = [2]int64{run, wait}
			}
		}
		select {
		case <-stop:
			var sum [2]int64
			for _, v := range seen {
				sum[0] += v[0]
				sum[1] += v[1]
			}
			out <- sum
			return
		case <-tick.C:
		}
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := bytes.Fields(b)
	if len(f) < 3 {
		return "?"
	}
	return string(bytes.Join(f[:3], []byte(" ")))
}

func run(dir, name string, args ...string) {
	c := exec.Command(name, args...)
	c.Dir = dir
	c.Stderr = os.Stderr
	check(c.Run())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
