// Command snapshots measures snapshot export to Parquet against snapshot
// export to CSV of the same rows, in the same run (issue 11: "snapshots
// depth 25 to Parquet / to CSV, wall <= 1.0"). It generates an
// incremental_book_L2 file with ../shared/tools tardisgen, imports it with
// ingest.Import into a temporary archive, then alternates snapshots.Write
// to CSV and to Parquet -runs times (the output goes to a counting
// io.Discard, so the disk does not count) and prints the best wall time of
// each, their ratio, rows/s, the CPU time (user+sys) of each best run and
// the load average before and after: the machine may be shared, and the
// ratio of two runs in the same process is the figure to compare.
//
// Usage, from the repository root:
//
//	go run ./bench/snapshots
//	go run ./bench/snapshots -rows 4000000 -depth 25 -runs 5
//	go run ./bench/snapshots -input FILE.csv.gz      # an existing book file
//	go run ./bench/snapshots -cpuprofile parquet.prof
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/snapshots"
)

func main() {
	input := flag.String("input", "", "a Tardis incremental_book_L2 .csv.gz (default: generate one)")
	rows := flag.Int("rows", 2_000_000, "incremental_book_L2 rows to generate when -input is not given")
	tools := flag.String("tools", "../shared/tools", "the shared tools module (tardisgen)")
	depth := flag.Int("depth", 25, "snapshot depth")
	interval := flag.Duration("interval", 0, "snapshot interval (0: a row per top-N change)")
	runs := flag.Int("runs", 3, "rounds of CSV + Parquet (the best of each is reported)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the Parquet runs to this file")
	flag.Parse()
	*runs = max(*runs, 1)

	scratch, err := os.MkdirTemp("", "chronicle-bench-snapshots-")
	check(err)
	defer os.RemoveAll(scratch)
	if *input == "" {
		*input = filepath.Join(scratch, "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz")
		fmt.Printf("generating %d rows of incremental_book_L2 with tardisgen ...\n", *rows)
		generate(*tools, *rows, *input)
	}
	t0 := time.Now()
	res, err := ingest.Import(context.Background(), ingest.Options{Root: filepath.Join(scratch, "archive"), Input: *input})
	check(err)
	fmt.Printf("imported %d rows, %d events in %v\n", res.Rows, res.Events, time.Since(t0).Round(time.Millisecond))

	o := snapshots.Options{Depth: *depth, Interval: *interval}
	var prof *os.File
	if *cpuprofile != "" {
		prof, err = os.Create(*cpuprofile)
		check(err)
	}
	fmt.Printf("load average before: %s\n", loadavg())
	best := map[snapshots.Format]result{}
	for i := range *runs {
		for _, f := range []snapshots.Format{snapshots.CSV, snapshots.Parquet} {
			if prof != nil && f == snapshots.Parquet {
				check(pprof.StartCPUProfile(prof))
			}
			r := measure(res.Dir, o, f)
			if prof != nil && f == snapshots.Parquet {
				pprof.StopCPUProfile()
				prof = nil // the first Parquet run only: one profile
			}
			fmt.Printf("run %d %-7s %d rows, %s, %v wall, %v CPU, %d GCs, %s allocated\n", i+1, f, r.rows, mib(r.bytes),
				r.wall.Round(time.Millisecond), r.cpu.Round(time.Millisecond), r.gcs, mib(r.alloc))
			if b, ok := best[f]; !ok || r.wall < b.wall {
				best[f] = r
			}
		}
	}
	fmt.Printf("load average after:  %s\n", loadavg())
	c, p := best[snapshots.CSV], best[snapshots.Parquet]
	if c.rows != p.rows {
		check(fmt.Errorf("CSV has %d rows, Parquet %d", c.rows, p.rows))
	}
	fmt.Printf("depth %d, %d rows, GOMAXPROCS %d, best of %d:\n", *depth, c.rows, runtime.GOMAXPROCS(0), *runs)
	for _, f := range []snapshots.Format{snapshots.CSV, snapshots.Parquet} {
		r := best[f]
		fmt.Printf("  %-7s %8v wall %8v CPU  %.0fk rows/s  %s\n", f, r.wall.Round(time.Millisecond), r.cpu.Round(time.Millisecond),
			float64(r.rows)/r.wall.Seconds()/1e3, mib(r.bytes))
	}
	fmt.Printf("Parquet / CSV: %.2f wall, %.2f CPU (target: wall <= 1.0)\n",
		p.wall.Seconds()/c.wall.Seconds(), p.cpu.Seconds()/c.cpu.Seconds())
}

type result struct {
	rows, bytes int64
	wall, cpu   time.Duration
	gcs         uint32 // garbage collections during the run
	alloc       int64  // bytes allocated during the run
}

func measure(dir string, o snapshots.Options, f snapshots.Format) result {
	o.Format = f
	var w counter
	runtime.GC() // the previous run's garbage is not this run's cost
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	c0, t0 := cpu(), time.Now()
	n, err := snapshots.Write(context.Background(), dir, o, &w)
	check(err)
	wall, c := time.Since(t0), cpu()-c0
	runtime.ReadMemStats(&m1)
	return result{rows: n, bytes: int64(w), wall: wall, cpu: c, gcs: m1.NumGC - m0.NumGC, alloc: int64(m1.TotalAlloc - m0.TotalAlloc)}
}

// counter is io.Discard that counts.
type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }

func cpu() time.Duration {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func generate(tools string, rows int, out string) {
	gen := filepath.Join(filepath.Dir(out), "tardisgen")
	build := exec.Command("go", "build", "-o", gen, "./tardisgen")
	build.Dir, build.Stderr = tools, os.Stderr
	check(build.Run())
	f, err := os.Create(out)
	check(err)
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	check(err)
	bw := bufio.NewWriterSize(zw, 1<<20)
	cmd := exec.Command(gen, "-rows", strconv.Itoa(rows), "-resnap-every", "200000")
	cmd.Stdout, cmd.Stderr = bw, os.Stderr
	check(cmd.Run())
	check(bw.Flush())
	check(zw.Close())
	check(f.Close())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/snapshots:", err)
		os.Exit(1)
	}
}
