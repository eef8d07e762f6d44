// Command bench measures Chronicle against baselines measured in the same
// run, on one Tardis .csv.gz (incremental_book_L2 by default; -type for
// the others, whose runs measure import only):
//
//   - import: `chronicle import` wall time as a ratio to decompressing the
//     same file with klauspost/compress gzip, rows/s, the import's peak RSS,
//     and the --compress archive's size as a ratio to the .csv.gz;
//   - replay: `chronicle replay` of the imported stream, uncompressed and
//     compressed, in level updates/s and as a speed-up over a plain Go
//     program that parses the .csv.gz with encoding/csv and strconv into a
//     map-based book.
//
// Usage:
//
//	go run ./bench -input /tmp/l2-10m.csv.gz
//	go run ./bench -rows 10000000        # generates the input with ../shared/tools
//	go run ./bench -type trades -rows 10000000
//
// Ratios, not absolute times, are the figures to compare across machines.
// On a shared machine, -runs N alternates gunzip and import N times and
// reports the best time of each, the median of the per-round ratios, the
// import's CPU time (user+sys, and each: system time is mostly copying
// into the page cache, and it is what other processes' I/O inflates) and
// the load average before and after.
package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/chronicle-archive/chronicle/tardis"
)

func main() {
	input := flag.String("input", "", "Tardis .csv.gz (default: generate one of -type)")
	typ := flag.String("type", "incremental_book_L2", "Tardis data type to generate (tardisgen -type); replay runs for incremental_book_L2 only")
	rows := flag.Int("rows", 10_000_000, "rows to generate when -input is not given")
	tools := flag.String("tools", "../shared/tools", "the shared tools module (tardisgen)")
	work := flag.String("work", "", "scratch directory (default: a temp dir, removed after)")
	skipReplay := flag.Bool("skip-replay", false, "measure import only")
	runs := flag.Int("runs", 3, "rounds of gunzip + import (best of each is reported)")
	flag.Parse()
	*runs = max(*runs, 1)

	scratch := *work
	if scratch == "" {
		d, err := os.MkdirTemp("", "chronicle-bench-")
		check(err)
		defer os.RemoveAll(d)
		scratch = d
	}
	if *input == "" {
		name := "binance-futures_" + *typ + "_2024-05-01_BTCUSDT.csv.gz"
		if *typ == "options_chain" {
			name = "deribit_options_chain_2024-05-01_OPTIONS.csv.gz"
		}
		*input = filepath.Join(scratch, name)
		fmt.Printf("generating %d rows of %s with tardisgen ...\n", *rows, *typ)
		generate(*tools, *typ, *rows, *input)
	}
	if dt := tardis.ParsePath(*input).DataType; dt != "" {
		*typ = dt
	}
	st, err := os.Stat(*input)
	check(err)
	bin := filepath.Join(scratch, "chronicle")
	// Static, as README's install builds it: a cgo build's dynamic
	// loading adds about half a millisecond to every command.
	os.Setenv("CGO_ENABLED", "0")
	run("go", "build", "-o", bin, "./cmd/chronicle")

	fmt.Printf("input: %s (%s)\n\n", *input, mib(st.Size()))

	load0 := loadAvg()
	// Baseline first, so the page cache holds the input for both. Each
	// round imports into a fresh root, as a first import would.
	gz := timeIt(func() { gunzip(*input) })
	imp, cpu, rss := time.Duration(1<<62), usage{cpu: 1 << 62}, int64(0)
	var ratios []float64
	var nrows int64
	rootPlain := filepath.Join(scratch, "plain")
	for i := 0; i < *runs; i++ {
		g := timeIt(func() { gunzip(*input) })
		gz = min(gz, g)
		os.RemoveAll(rootPlain)
		d, r, out := runChronicle(bin, "import", "--archive-root", rootPlain, "--force", *input)
		nrows = parseRows(out)
		imp, rss = min(imp, d), max(rss, r.rss)
		if r.cpu < cpu.cpu {
			cpu = r
		}
		ratios = append(ratios, d.Seconds()/g.Seconds())
	}
	// --compress, as many rounds, each against a gunzip of its own round.
	rootZst := filepath.Join(scratch, "zst")
	impZ, rZ := time.Duration(1<<62), usage{cpu: 1 << 62}
	var ratiosZ []float64
	for i := 0; i < *runs; i++ {
		g := timeIt(func() { gunzip(*input) })
		gz = min(gz, g)
		os.RemoveAll(rootZst)
		d, r, _ := runChronicle(bin, "import", "--archive-root", rootZst, "--force", "--compress", *input)
		impZ = min(impZ, d)
		if r.cpu < rZ.cpu {
			rZ.cpu, rZ.user, rZ.sys = r.cpu, r.user, r.sys
		}
		rZ.rss = max(rZ.rss, r.rss)
		ratiosZ = append(ratiosZ, d.Seconds()/g.Seconds())
	}
	plainSize := dirSize(rootPlain + "/v1")
	zstSize := dirSize(rootZst + "/v1")

	fmt.Printf("== import (best of %d; load average %s before, %s after)\n", *runs, load0, loadAvg())
	fmt.Printf("gunzip (klauspost/compress gzip) : %8.3fs\n", gz.Seconds())
	fmt.Printf("chronicle import                 : %8.3fs  ratio %.2f (median per round %.2f)  %s rows/s  peak RSS %s  cpu %.3fs (user %.3fs, sys %.3fs)\n",
		imp.Seconds(), imp.Seconds()/gz.Seconds(), median(ratios), rate(nrows, imp), mib(rss), cpu.cpu.Seconds(), cpu.user.Seconds(), cpu.sys.Seconds())
	fmt.Printf("chronicle import --compress      : %8.3fs  ratio %.2f (median per round %.2f)  %s rows/s  peak RSS %s  cpu %.3fs (user %.3fs, sys %.3fs)\n",
		impZ.Seconds(), impZ.Seconds()/gz.Seconds(), median(ratiosZ), rate(nrows, impZ), mib(rZ.rss), rZ.cpu.Seconds(), rZ.user.Seconds(), rZ.sys.Seconds())
	fmt.Printf("archive size: .q %s (%.2fx the .csv.gz), --compress %s (%.2fx the .csv.gz)\n\n",
		mib(plainSize), float64(plainSize)/float64(st.Size()), mib(zstSize), float64(zstSize)/float64(st.Size()))

	if *skipReplay || *typ != "incremental_book_L2" {
		return
	}
	fmt.Println("== replay (full, from the start)")
	base, updates := baselineReplay(*input)
	fmt.Printf("baseline encoding/csv+strconv map book: %8.3fs  %s level updates/s\n", base.Seconds(), rate(updates, base))
	// Interleaved rounds, so that a change in the machine's speed falls on
	// both alike; the ratio is the issue-11 target (compressed / plain).
	names := []string{"uncompressed", "compressed  "}
	dirs := []string{filepath.Join(rootPlain, "v1/binance-futures/BTCUSDT/2024-05-01/book"),
		filepath.Join(rootZst, "v1/binance-futures/BTCUSDT/2024-05-01/book")}
	best := []time.Duration{1 << 62, 1 << 62}
	var rr []float64
	for range max(*runs, 5) {
		var d [2]time.Duration
		for k, dir := range dirs {
			d[k], _, _ = runChronicle(bin, "replay", dir)
			best[k] = min(best[k], d[k])
		}
		rr = append(rr, d[1].Seconds()/d[0].Seconds())
	}
	for k, name := range names {
		fmt.Printf("chronicle replay %s         : %8.3fs  %s level updates/s  %.1fx the baseline\n",
			name, best[k].Seconds(), rate(updates, best[k]), base.Seconds()/best[k].Seconds())
	}
	fmt.Printf("compressed / uncompressed replay: %.2f best, %.2f median per round (%d rounds)\n",
		best[1].Seconds()/best[0].Seconds(), median(rr), len(rr))
}

func generate(tools, typ string, rows int, out string) {
	f, err := os.Create(out)
	check(err)
	zw := gzip.NewWriter(f)
	args := []string{"run", "./tardisgen", "-type", typ, "-rows", strconv.Itoa(rows)}
	if typ == "incremental_book_L2" {
		args = append(args, "-resnap-every", "200000")
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = tools
	cmd.Stdout = zw
	cmd.Stderr = os.Stderr
	check(cmd.Run())
	check(zw.Close())
	check(f.Close())
}

func gunzip(path string) {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	check(err)
	_, err = io.Copy(io.Discard, zr)
	check(err)
}

// usage is what a child process used.
type usage struct {
	rss       int64         // peak RSS, bytes
	cpu       time.Duration // user + system CPU time
	user, sys time.Duration
}

// runChronicle runs the binary and returns its wall time, resource usage
// and stdout.
func runChronicle(bin string, args ...string) (time.Duration, usage, string) {
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	t := time.Now()
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", bin, strings.Join(args, " "), err)
		os.Exit(1)
	}
	d := time.Since(t)
	var u usage
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.rss = ru.Maxrss * 1024 // kilobytes on Linux
	}
	u.user, u.sys = cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	u.cpu = u.user + u.sys
	return d, u, out.String()
}

// loadAvg is the 1, 5 and 15 minute load averages, "?" where unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var rowsRE = regexp.MustCompile(`rows=(\d+)`)

func parseRows(s string) int64 {
	m := rowsRE.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// baselineReplay is what a researcher would write without Chronicle:
// encoding/csv over the gzip stream, strconv for numbers, a map per side.
// It returns its wall time and the level updates it applied.
func baselineReplay(path string) (time.Duration, int64) {
	t := time.Now()
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	check(err)
	r := csv.NewReader(zr)
	r.ReuseRecord = true
	header, err := r.Read()
	check(err)
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	bids, asks := map[float64]float64{}, map[float64]float64{}
	var updates int64
	inSnapshot := false
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		check(err)
		_, err = strconv.ParseInt(rec[col["local_timestamp"]], 10, 64)
		check(err)
		// A run of snapshot rows after updates resets the book (Tardis).
		snap := rec[col["is_snapshot"]] == "true"
		if snap && !inSnapshot {
			clear(bids)
			clear(asks)
		}
		inSnapshot = snap
		price, err := strconv.ParseFloat(rec[col["price"]], 64)
		check(err)
		amount, err := strconv.ParseFloat(rec[col["amount"]], 64)
		check(err)
		side := bids
		if s := rec[col["side"]]; s == "ask" || s == "sell" {
			side = asks
		}
		if amount == 0 {
			delete(side, price)
		} else {
			side[price] = amount
		}
		updates++
	}
	return time.Since(t), updates
}

func timeIt(fn func()) time.Duration {
	t := time.Now()
	fn()
	return time.Since(t)
}

func dirSize(root string) int64 {
	var n int64
	filepath.Walk(root, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func rate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.2fM", float64(n)/d.Seconds()/1e6)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Run())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
