// Command export measures `chronicle export --format parquet` against
// `chronicle export` (Tardis CSV) of the same stream, in the same run
// (issue 11: "Parquet export as fast as CSV export of the same rows",
// target Parquet / CSV wall <= 1.0). For each type (default: a book
// stream and a trades stream) it generates a file with ../shared/tools
// tardisgen, imports it with `chronicle import` (built from
// ./cmd/chronicle) into a temporary archive, then alternates the two
// exports -runs times, each to /dev/null (the disk does not count), and
// prints the best wall time of each, the CPU time (user+sys of the
// process) of those runs, the ratios and the load average before and
// after: the machine may be shared, and the ratio of two runs in the same
// process is the figure to compare.
//
// Usage, from the repository root:
//
//	go run ./bench/export
//	go run ./bench/export -rows 2000000 -types incremental_book_L2,trades -runs 5
//	go run ./bench/export -compress   # import --compress (columnar segments)
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

var streams = map[string]string{"incremental_book_L2": "book"} // else the type's own name

func main() {
	rows := flag.Int("rows", 2_000_000, "rows to generate of each type")
	typesFlag := flag.String("types", "incremental_book_L2,trades", "comma-separated tardisgen types")
	tools := flag.String("tools", "../shared/tools", "the shared tools module (tardisgen)")
	runs := flag.Int("runs", 3, "rounds of CSV + Parquet (the best of each is reported)")
	compress := flag.Bool("compress", false, "import with --compress")
	flag.Parse()
	*runs = max(*runs, 1)

	scratch, err := os.MkdirTemp("", "chronicle-bench-export-")
	check(err)
	defer os.RemoveAll(scratch)
	gen := filepath.Join(scratch, "tardisgen")
	run(*tools, io.Discard, "go", "build", "-o", gen, "./tardisgen")
	chron := filepath.Join(scratch, "chronicle")
	run(".", io.Discard, "go", "build", "-o", chron, "./cmd/chronicle")
	root := filepath.Join(scratch, "archive")

	type line struct {
		typ       string
		csv, pq   result
		csvB, pqB int64
	}
	var lines []line
	for _, typ := range strings.Split(*typesFlag, ",") {
		in := filepath.Join(scratch, "binance-futures_"+typ+"_2024-05-01_BTCUSDT.csv.gz")
		fmt.Printf("%s: generating %d rows, importing ...\n", typ, *rows)
		generate(gen, typ, *rows, in)
		imp := []string{"--archive-root", root, "import"}
		if *compress {
			imp = append(imp, "--compress")
		}
		run(".", io.Discard, chron, append(imp, in)...)
		check(os.Remove(in))
		name := streams[typ]
		if name == "" {
			name = typ
		}
		stream := "binance-futures/BTCUSDT/" + name
		args := map[string][]string{
			"csv":     {"--archive-root", root, "export", stream},
			"parquet": {"--archive-root", root, "export", stream, "--format", "parquet"},
		}
		l := line{typ: typ, csvB: outSize(chron, args["csv"]), pqB: outSize(chron, args["parquet"])}
		fmt.Printf("load average before: %s\n", loadavg())
		for i := range *runs {
			for _, f := range []string{"csv", "parquet"} {
				r := measure(chron, args[f])
				fmt.Printf("  run %d %-7s %v wall %v CPU\n", i+1, f, r.wall.Round(time.Millisecond), r.cpu.Round(time.Millisecond))
				best := &l.csv
				if f == "parquet" {
					best = &l.pq
				}
				if best.wall == 0 || r.wall < best.wall {
					*best = r
				}
			}
		}
		fmt.Printf("load average after:  %s\n", loadavg())
		lines = append(lines, l)
	}
	fmt.Printf("\n%d rows each, best of %d, output to /dev/null:\n", *rows, *runs)
	fmt.Printf("%-20s %9s %9s %9s %9s %10s %10s %8s %8s\n", "type", "csv wall", "csv CPU", "pq wall", "pq CPU", "csv MiB", "pq MiB", "wall x", "CPU x")
	for _, l := range lines {
		fmt.Printf("%-20s %9v %9v %9v %9v %10.1f %10.1f %8.2f %8.2f\n", l.typ,
			l.csv.wall.Round(time.Millisecond), l.csv.cpu.Round(time.Millisecond),
			l.pq.wall.Round(time.Millisecond), l.pq.cpu.Round(time.Millisecond),
			float64(l.csvB)/(1<<20), float64(l.pqB)/(1<<20),
			l.pq.wall.Seconds()/l.csv.wall.Seconds(), l.pq.cpu.Seconds()/l.csv.cpu.Seconds())
	}
	fmt.Println("(target: Parquet / CSV wall <= 1.0)")
}

type result struct{ wall, cpu time.Duration }

func measure(chron string, args []string) result {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	check(err)
	defer devnull.Close()
	cmd := exec.Command(chron, args...)
	cmd.Stdout, cmd.Stderr = devnull, os.Stderr
	t0 := time.Now()
	check(cmd.Run())
	return result{wall: time.Since(t0), cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
}

// outSize runs an export once into a counter, for the table.
func outSize(chron string, args []string) int64 {
	var c counter
	run(".", &c, chron, args...)
	return int64(c)
}

type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }

func generate(gen, typ string, rows int, out string) {
	f, err := os.Create(out)
	check(err)
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	check(err)
	bw := bufio.NewWriterSize(zw, 1<<20)
	args := []string{"-type", typ, "-rows", strconv.Itoa(rows)}
	if typ == "incremental_book_L2" {
		args = append(args, "-resnap-every", "200000")
	}
	cmd := exec.Command(gen, args...)
	cmd.Stdout, cmd.Stderr = bw, os.Stderr
	check(cmd.Run())
	check(bw.Flush())
	check(zw.Close())
	check(f.Close())
}

func run(dir string, stdout io.Writer, name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		check(fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err))
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/export:", err)
		os.Exit(1)
	}
}
