// Command merged measures the merged replay (stream.OpenMerged): trades and
// book of two symbols on one day, read in one time order from .q segments
// on one core (GOMAXPROCS=1), through Merged.NextItem with every reader
// check on (CRC, header, seq, manifest, counts, payload decode). It prints
// records/s, where a record is one book event (a group of Tardis
// incremental_book_L2 rows with one local timestamp) or one trade; book
// level updates/s, which are the book's CSV rows; wall and CPU time; and
// the replay's peak RSS (getrusage; the replay runs in a child process of
// its own so that generating and importing do not count).
//
// Usage, from the repository root:
//
//	go run ./bench/merged                       # generates with ../shared/tools
//	go run ./bench/merged -book-rows 1000000 -trade-rows 400000
//	go run ./bench/merged -dir ROOT             # an archive that has the streams
//	go run ./bench/merged -work DIR             # keep DIR/archive for -dir (and
//	                                            # stream's BenchmarkMergedNext)
//
// Figures on the shared 2-core machine of issue 10 (AMD EPYC; load average
// 4-6 from other work, so CPU time is the steadier figure), defaults: 5.52M
// records (1.52M book events holding 10.0M level updates, 4.0M trades;
// 14.0M Tardis rows), 908 MB of .q. Before the reader work of December
// 2026, medians 1.54 and 1.61 s CPU (3.4-3.6M records/s per CPU second);
// after its first round, 1.17 and 1.28 s (4.3-4.7M records/s).
//
// Second round (CRC-32 by carry-less multiplication for every payload
// length, segment/crc.go; padding checked by words; trade decode and
// NextItem without redundant stores), seven interleaved runs of each
// binary on another EPYC, load average 5-7: medians 629 ms CPU before and
// 451 ms after (8.8M and 12.3M records/s per CPU second; 22M and 31M Tardis
// rows/s), best 550 and 445 ms; callgrind: 699M and 546M instructions for
// the whole process on a 0.55M-record archive. Peak RSS 11-12 MiB either way.
//
// Third round (book levels as views of the read buffer,
// protocol.DecodeEventView; the range reader decoding straight from
// archive.Stream, and segment.Reader.NextInto with the scanner's fast
// path, three call levels fewer; an Item per input; CRC lanes folded at
// once, payloads padded to 64 bytes and the assembly called from the
// scanner directly, segment/crc*.go; padding checked without a branch),
// on a 2-core EPYC (Zen 5) shared with other helpers: callgrind 547M ->
// 456M instructions for the whole process on the 0.55M-record archive
// (-book-rows 500000 -trade-rows 200000); CPU time, two rounds of 11
// interleaved runs of each binary at load average 9-10: medians 533 and
// 501 ms before, 448 and 422 after (10.4-11.0M -> 12.3-13.1M records/s
// per CPU second; 26-28M -> 31-33M Tardis rows/s), best 461 and 397
// (12.0M -> 13.9M records/s; 30M -> 35M Tardis rows/s).
//
// Fourth round (December 2026, a 2-core Intel Xeon VM, load under 1):
// .q files read through read-only maps of 4 MiB windows instead of
// pread into a buffer (the kernel's copy, _copy_to_iter, was 28% of the
// profile), and the CRC's assembly prefetching the lines 768 bytes ahead
// of each record (the data now comes from memory rather than a buffer in
// L2, and the hardware prefetcher stops at each 4 KiB page). Interleaved
// runs of both binaries: 360-384 ms -> 275-305 ms wall (14.4-15.3M ->
// 18.1-20.1M records/s; the machine's speed drifted by 5% during the
// session, the ratio stayed at 0.76-0.78). CHRONICLE_MMAP=off gives the
// old figures back. Peak RSS 25 MiB (the mapped windows count).
//
// Before that round, where the time went (pprof -top): the CRC-32 of every payload a
// fifth to a quarter (about 20 ns a record in place, against 8-17 ns for
// the same call in a loop by itself, BenchmarkPayloadCRC; this VM has no
// hardware counters to say why, mispredicted merge branches flushing its
// chain of dependent multiplications being the likely cause), the
// kernel's copy of the .q into the read buffer
// (pread) 12-17%, the message header checks and the reader calls a
// sixth, the trade decode a tenth, the merge a tenth. 20M records/s would
// leave 50 ns a record (276 ms for this archive): the copy (900 MB at
// 20-27 GB/s) and the CRC alone take 27-30 of it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
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
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/timespec"
)

const (
	venue = "binance-futures"
	day   = "2024-05-01"
)

func main() {
	dir := flag.String("dir", "", "archive root that already holds the streams (default: generate and import)")
	symbols := flag.String("symbols", "BTCUSDT,ETHUSDT", "symbols, comma-separated")
	bookRows := flag.Int("book-rows", 5_000_000, "incremental_book_L2 rows per symbol to generate")
	tradeRows := flag.Int("trade-rows", 2_000_000, "trades rows per symbol to generate")
	tools := flag.String("tools", "../shared/tools", "the shared tools module (tardisgen)")
	work := flag.String("work", "", "scratch directory (default: a temp dir, removed after)")
	runs := flag.Int("runs", 3, "replays (the best is reported)")
	replay := flag.String("replay", "", "internal: replay the archive at this root and print the figures")
	cpuProfile := flag.String("cpuprofile", "", "write the replays' CPU profile to this file (the last run's)")
	flag.Parse()
	syms := strings.Split(*symbols, ",")
	if *replay != "" {
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			check(err)
			check(pprof.StartCPUProfile(f))
			defer pprof.StopCPUProfile()
		}
		replayOnce(*replay, syms)
		return
	}

	root := *dir
	if root == "" {
		scratch := *work
		if scratch == "" {
			d, err := os.MkdirTemp("", "chronicle-bench-merged-")
			check(err)
			defer os.RemoveAll(d)
			scratch = d
		}
		root = filepath.Join(scratch, "archive")
		generateAndImport(scratch, root, *tools, syms, *bookRows, *tradeRows)
	}
	self, err := os.Executable()
	check(err)
	for i := range max(*runs, 1) {
		cmd := exec.Command(self, "-replay", root, "-symbols", *symbols, "-cpuprofile", *cpuProfile)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		fmt.Printf("run %d: ", i+1)
		check(cmd.Run())
	}
}

// generateAndImport writes the Tardis files with tardisgen and imports
// them with the chronicle CLI, or with ingest.Import when the CLI does not
// build.
func generateAndImport(scratch, root, tools string, syms []string, bookRows, tradeRows int) {
	gen := filepath.Join(scratch, "tardisgen")
	run(tools, "go", "build", "-o", gen, "./tardisgen")
	cli := filepath.Join(scratch, "chronicle")
	if err := exec.Command("go", "build", "-o", cli, "./cmd/chronicle").Run(); err != nil {
		fmt.Fprintf(os.Stderr, "the chronicle CLI does not build (%v): importing with ingest.Import\n", err)
		cli = ""
	}
	start, err := timespec.Parse(day)
	check(err)
	for i, sym := range syms {
		for _, f := range []struct {
			typ  string
			rows int
		}{{"incremental_book_L2", bookRows}, {"trades", tradeRows}} {
			path := filepath.Join(scratch, fmt.Sprintf("%s_%s_%s_%s.csv.gz", venue, f.typ, day, sym))
			t0 := time.Now()
			generate(path, gen, "-type", f.typ, "-rows", strconv.Itoa(f.rows), "-symbol", sym,
				"-seed", strconv.Itoa(i+1), "-start-us", strconv.FormatInt(start/1000, 10))
			t1 := time.Now()
			if cli != "" {
				run("", cli, "import", "--archive-root", root, path)
			} else {
				_, err := ingest.Import(context.Background(), ingest.Options{Root: root, Input: path})
				check(err)
			}
			fmt.Printf("%s: generated in %v, imported in %v\n", filepath.Base(path), t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
		}
	}
}

func generate(path, gen string, args ...string) {
	f, err := os.Create(path)
	check(err)
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	check(err)
	bw := bufio.NewWriterSize(zw, 1<<20)
	cmd := exec.Command(gen, args...)
	cmd.Stdout, cmd.Stderr = bw, os.Stderr
	check(cmd.Run())
	check(bw.Flush())
	check(zw.Close())
	check(f.Close())
}

// replayOnce replays every stream of the symbols on one core and prints
// the figures.
func replayOnce(root string, syms []string) {
	runtime.GOMAXPROCS(1)
	var inputs []stream.Input
	for _, sym := range syms {
		for _, typ := range []string{"book", "trades"} {
			inputs = append(inputs, stream.Input{Address: stream.Address{Venue: venue, Symbol: sym, Type: typ}})
		}
	}
	// The CLI's tie-break: inputs in the order of their address strings.
	stream.SortInputs(inputs)
	t0 := time.Now()
	m, err := stream.OpenMerged(nil, root, inputs)
	check(err)
	var records, events, trades, levels int64
	var last uint64
	for {
		it, err := m.NextItem()
		if err == io.EOF {
			break
		}
		check(err)
		if it.LocalTS < last {
			check(fmt.Errorf("record %d at %d is before the previous one at %d", records, it.LocalTS, last))
		}
		last = it.LocalTS
		records++
		if it.Event != nil {
			events++
			levels += int64(len(it.Event.Bids) + len(it.Event.Asks))
		} else {
			trades++
		}
	}
	check(m.Close())
	wall := time.Since(t0)
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	// On a shared machine the CPU time (user+sys) is the steadier figure.
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	s, c := wall.Seconds(), cpu.Seconds()
	fmt.Printf("%d records (%d book events + %d trades; %d level updates) in %v wall, %v CPU: "+
		"%.1fM records/s (%.1fM per CPU second), %.1fM level updates/s, peak RSS %.1f MiB\n",
		records, events, trades, levels, wall.Round(time.Millisecond), cpu.Round(time.Millisecond),
		float64(records)/s/1e6, float64(records)/c/1e6, float64(levels)/s/1e6, float64(ru.Maxrss)/1024)
}

func run(dir, name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Stderr = dir, os.Stderr
	check(cmd.Run())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/merged:", err)
		os.Exit(1)
	}
}
