// Command s3 measures the archive on S3 against the same archive on local
// disk, in one run, as ratios S3/local (docs/S3.md; issue 12):
//
//   - import: `chronicle import` of one generated incremental_book_L2
//     .csv.gz into a local root and into s3://BUCKET/PREFIX (a fresh root
//     or prefix each round);
//   - replay: `chronicle replay` of the stream, from each;
//   - book --at: `chronicle book --at T --depth 10 --json` at -at random
//     moments T of the stream, from each (the median of each side).
//
// Every figure is a whole command's wall time, process start included, as
// a user sees it; rounds alternate local and S3 so that the machine's load
// falls on both alike. The outputs of replay and book are compared between
// local and S3: a ratio of two different answers would mean nothing.
//
// The S3 server: with CHRONICLE_TEST_S3=1 and AWS_ENDPOINT_URL set (what
// `eval "$(scripts/s3server.sh start)"` exports), that one; else a private
// versitygw started from the binary scripts/s3server.sh installs, on a free
// port of 127.0.0.1, its files in the scratch directory (the local
// archive's disk), stopped at the end. A server someone else started is
// never stopped.
//
// Usage:
//
//	go run ./bench/s3                        # 3M rows generated with ../shared/tools
//	go run ./bench/s3 -rows 5000000 -runs 5 -at 10 -work /tmp/s3bench
//	go run ./bench/s3 -input day.csv.gz      # a Tardis incremental_book_L2 file
//	go run ./bench/s3 -baseline /tmp/chronicle-old  # also time an older build's reads from S3
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"

	"github.com/chronicle-archive/chronicle/internal/s3test"
)

func main() {
	input := flag.String("input", "", "a Tardis incremental_book_L2 .csv.gz named <exchange>_incremental_book_L2_<date>_<symbol>.csv.gz (default: generate one)")
	rows := flag.Int("rows", 3_000_000, "rows to generate when -input is not given")
	tools := flag.String("tools", "../shared/tools", "the shared tools module (tardisgen)")
	work := flag.String("work", "", "scratch directory (default: a temp dir, removed after)")
	runs := flag.Int("runs", 3, "rounds of import and of replay, each local then S3 (the median is reported)")
	ats := flag.Int("at", 10, "random moments for book --at")
	seed := flag.Uint64("seed", 1, "seed of the random moments")
	baseline := flag.String("baseline", "", "another chronicle binary (say, built from the previous commit) whose replay and book --at from S3 are timed too, in the same rounds, as S3-baseline/local")
	flag.Parse()
	*runs, *ats = max(*runs, 1), max(*ats, 1)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { die("%v", <-sig) }()

	scratch := *work
	if scratch == "" {
		d, err := os.MkdirTemp("", "chronicle-s3bench-")
		check(err)
		atExit(func() { os.RemoveAll(d) })
		scratch = d
	}
	check(os.MkdirAll(scratch, 0o755))
	bin := filepath.Join(scratch, "chronicle")
	run("", "go", "build", "-o", bin, "./cmd/chronicle")

	src := *input
	if src == "" {
		src = filepath.Join(scratch, "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz")
		if _, err := os.Stat(src); err != nil { // -work reused: keep the file
			gen := filepath.Join(scratch, "tardisgen")
			run(*tools, "go", "build", "-o", gen, "./tardisgen")
			csv, err := exec.Command(gen, "-type", "incremental_book_L2", "-rows", strconv.Itoa(*rows), "-depth", "1000", "-seed", "1").Output()
			check(err)
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(csv)
			check(zw.Close())
			check(os.WriteFile(src, b.Bytes(), 0o644))
		}
	}
	fi, err := os.Stat(src)
	check(err)

	srv, stop := server(scratch)
	atExit(stop)
	bucket := fmt.Sprintf("s3bench-%d", time.Now().UnixNano())
	_, err = srv.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket})
	check(err)
	env := append(os.Environ(),
		"AWS_ENDPOINT_URL="+srv.Endpoint, "AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey,
		"AWS_REGION="+srv.Region, "AWS_ENDPOINT_URL_S3=", "AWS_PROFILE=", "AWS_SESSION_TOKEN=",
		"AWS_CONFIG_FILE="+filepath.Join(scratch, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(scratch, "none"),
		"CHRONICLE_ARCHIVE=")
	cmdWith := func(bin string, args ...string) (string, time.Duration) {
		c := exec.Command(bin, args...)
		c.Env = env
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		start := time.Now()
		err := c.Run()
		d := time.Since(start)
		if err != nil {
			die("chronicle %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String(), d
	}
	cmd := func(args ...string) (string, time.Duration) { return cmdWith(bin, args...) }
	// s3Pair runs a read from S3 with this build and, when there is one,
	// the baseline binary, which goes first every other call: the first
	// of two reads of the same bytes may find the server's page cache cold.
	var pairs int
	s3Pair := func(args ...string) (out string, d time.Duration, bout string, bd time.Duration, ok bool) {
		pairs++
		if *baseline != "" && pairs%2 == 0 {
			bout, bd = cmdWith(*baseline, args...)
		}
		out, d = cmd(args...)
		if *baseline != "" && pairs%2 == 1 {
			bout, bd = cmdWith(*baseline, args...)
		}
		return out, d, bout, bd, *baseline != ""
	}

	fmt.Printf("input %s: %d bytes; S3 server %s; load average %s\n", filepath.Base(src), fi.Size(), srv.Endpoint, loadavg())
	var local, remote string // the roots the reads use: the last round's
	var impL, impS []time.Duration
	var summary string
	for r := range *runs {
		local = filepath.Join(scratch, fmt.Sprintf("archive-%d", r))
		check(os.RemoveAll(local))
		remote = fmt.Sprintf("s3://%s/arch-%d", bucket, r)
		out, d := cmd("import", "--archive-root", local, src)
		impL = append(impL, d)
		summary = out
		_, d = cmd("import", "--archive-root", remote, src)
		impS = append(impS, d)
	}
	m := regexp.MustCompile(`rows=(\d+) .*min_ts_ns=(\d+) max_ts_ns=(\d+)`).FindStringSubmatch(summary)
	if m == nil {
		die("import printed %q", summary)
	}
	minTS, _ := strconv.ParseInt(m[2], 10, 64)
	maxTS, _ := strconv.ParseInt(m[3], 10, 64)
	ls, _ := cmd("ls", "--archive-root", local)
	lsLines := strings.Split(strings.TrimSpace(ls), "\n")
	stream := strings.Fields(lsLines[1])[0]
	fmt.Printf("stream %s: %s rows, %s to %s; ls:\n%s\n", stream, m[1],
		time.Unix(0, minTS).UTC().Format(time.RFC3339Nano), time.Unix(0, maxTS).UTC().Format(time.RFC3339Nano), strings.Join(lsLines, "\n"))

	var repL, repS, repB []time.Duration
	for range *runs {
		l, d := cmd("replay", stream, "--archive-root", local)
		repL = append(repL, d)
		s, d, b, bd, ok := s3Pair("replay", stream, "--archive-root", remote)
		repS = append(repS, d)
		if dropTimes(l) != dropTimes(s) {
			die("replay from S3 differs from local:\nlocal:\n%s\nS3:\n%s", l, s)
		}
		if ok {
			repB = append(repB, bd)
			if dropTimes(b) != dropTimes(l) {
				die("replay from S3 by %s differs from local", *baseline)
			}
		}
	}

	rng := rand.New(rand.NewPCG(*seed, 0))
	var atL, atS, atB []time.Duration
	for range *ats {
		t := strconv.FormatInt(minTS+rng.Int64N(maxTS-minTS+1), 10) // ns since the epoch
		l, d := cmd("book", stream, "--at", t, "--depth", "10", "--json", "--archive-root", local)
		atL = append(atL, d)
		s, d, b, bd, ok := s3Pair("book", stream, "--at", t, "--depth", "10", "--json", "--archive-root", remote)
		atS = append(atS, d)
		if l != s {
			die("book --at %s from S3 differs from local:\nlocal: %.500s\nS3:    %.500s", t, l, s)
		}
		if ok {
			atB = append(atB, bd)
			if b != l {
				die("book --at %s from S3 by %s differs from local", t, *baseline)
			}
		}
	}

	fmt.Printf("%-22s %12s %12s %10s\n", "median wall time", "local", "S3", "S3/local")
	for _, row := range []struct {
		name string
		l, s []time.Duration
	}{
		{fmt.Sprintf("import (%d runs)", *runs), impL, impS},
		{fmt.Sprintf("replay (%d runs)", *runs), repL, repS},
		{fmt.Sprintf("book --at (%d T)", *ats), atL, atS},
		{"replay, baseline", repL, repB},
		{"book --at, baseline", atL, atB},
	} {
		if len(row.s) == 0 {
			continue
		}
		l, s := median(row.l), median(row.s)
		// Hundredths, in integers: the figures are printed, never stored.
		ratio := int64(s) * 100 / max(int64(l), 1)
		fmt.Printf("%-22s %12s %12s %7d.%02d\n", row.name, l.Round(time.Millisecond), s.Round(time.Millisecond), ratio/100, ratio%100)
	}
	fmt.Printf("load average %s\n", loadavg())
	cleanup()
}

// cleanups run at the end and on any failure or interrupt, so that a
// server this program started never outlives it.
var (
	cleanMu  sync.Mutex
	cleanups []func()
)

func atExit(f func()) {
	cleanMu.Lock()
	defer cleanMu.Unlock()
	cleanups = append(cleanups, f)
}

func cleanup() {
	cleanMu.Lock()
	defer cleanMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	cleanup()
	os.Exit(1)
}

// server returns the S3 server to use and a function that stops it if
// this program started it.
func server(scratch string) (*s3test.Server, func()) {
	if ep := os.Getenv("AWS_ENDPOINT_URL"); ep != "" && os.Getenv("CHRONICLE_TEST_S3") == "1" {
		srv := &s3test.Server{Endpoint: ep, AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), Region: os.Getenv("AWS_REGION")}
		if srv.Region == "" {
			srv.Region = s3test.Region
		}
		return srv, func() {}
	}
	bin := s3test.BinPath()
	if _, err := os.Stat(bin); err != nil {
		die("no S3 server: run `scripts/s3server.sh install` (builds versitygw %s once) or `eval \"$(scripts/s3server.sh start)\"`, then rerun", s3test.Version)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := l.Addr().String()
	l.Close()
	root := filepath.Join(scratch, "s3root")
	check(os.MkdirAll(root, 0o755))
	c := exec.Command(bin, "--port", addr, "--access", s3test.AccessKey, "--secret", s3test.SecretKey,
		"--region", s3test.Region, "--quiet", "posix", root)
	logf, err := os.Create(filepath.Join(scratch, "s3server.log"))
	check(err)
	c.Stdout, c.Stderr = logf, logf
	check(c.Start())
	exited := make(chan struct{})
	go func() { c.Wait(); close(exited) }()
	stop := func() {
		c.Process.Kill()
		<-exited
		logf.Close()
		os.RemoveAll(root)
	}
	srv := &s3test.Server{Endpoint: "http://" + addr, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Region: s3test.Region}
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-exited:
			die("%s exited; its log: %s", bin, logf.Name())
		default:
		}
		// Any answer (an anonymous request is refused) means it serves.
		if resp, err := hc.Get(srv.Endpoint + "/"); err == nil {
			resp.Body.Close()
			return srv, stop
		}
		if time.Now().After(deadline) {
			stop()
			die("%s: no answer on %s within 30s", bin, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dropTimes removes replay's wall-clock lines, the only ones that may
// differ between two replays of one stream.
func dropTimes(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "wall") && !strings.Contains(l, "updates/s") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
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
		die("%v", err)
	}
}
