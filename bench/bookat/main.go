// Command bookat times `chronicle book STREAM --at T` at random T within a
// stream, for several streams (plain and compressed copies, or two
// binaries), alternating them at each T so that load on the machine hits
// each alike, and prints the median and spread of the wall time per stream.
//
//	go run ./bench/bookat -n 20 -bin /tmp/h2/chronicle -from 2024-05-01T00:00:00Z -to 2024-05-01T00:20:00Z PLAIN_STREAM COMP_STREAM
//
// A STREAM argument of the form BIN=STREAM runs that binary instead.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 20, "random times")
	bin := flag.String("bin", "chronicle", "chronicle binary")
	from := flag.String("from", "", "first time (RFC 3339)")
	to := flag.String("to", "", "last time (RFC 3339)")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	t0, err1 := time.Parse(time.RFC3339Nano, *from)
	t1, err2 := time.Parse(time.RFC3339Nano, *to)
	if err1 != nil || err2 != nil || !t1.After(t0) || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "bookat: need -from < -to (RFC 3339) and streams")
		os.Exit(2)
	}
	rng := rand.New(rand.NewPCG(*seed, 0))
	args := flag.Args()
	walls := make([][]time.Duration, len(args))
	cpus := make([][]time.Duration, len(args)) // user+sys: less noisy than wall on a shared machine
	rss := make([]int64, len(args))            // the largest peak RSS of any run, KiB
	for range *n {
		at := t0.Add(time.Duration(rng.Int64N(int64(t1.Sub(t0))))).UTC().Format(time.RFC3339Nano)
		for i, a := range args {
			b, s := *bin, a
			if k := strings.IndexByte(a, '='); k >= 0 {
				b, s = a[:k], a[k+1:]
			}
			cmd := exec.Command(b, "book", s, "--at", at, "--depth", "1")
			start := time.Now()
			out, err := cmd.CombinedOutput()
			d := time.Since(start)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bookat: %s --at %s: %v\n%s", a, at, err, out)
				os.Exit(1)
			}
			walls[i] = append(walls[i], d)
			ps := cmd.ProcessState
			cpus[i] = append(cpus[i], ps.UserTime()+ps.SystemTime())
			if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
				rss[i] = max(rss[i], ru.Maxrss)
			}
		}
	}
	for i, a := range args {
		w, c := walls[i], cpus[i]
		slices.Sort(w)
		slices.Sort(c)
		fmt.Printf("%-60s median %6.1f ms  min %6.1f  max %6.1f  cpu median %6.1f ms  peak RSS %3d MiB  (n=%d)\n", a,
			ms(w[len(w)/2]), ms(w[0]), ms(w[len(w)-1]), ms(c[len(c)/2]), rss[i]>>10, len(w))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
