package reliability

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
)

// segSize makes the 1M-row input roll over eleven segments.
const segSize = "4194304"

// op is one line of the crash hook's operation log.
type op struct {
	i          int
	kind, path string
	phase      string
	prio       int    // 1: a step of the publish protocol, 2: near one, 3: filler
	role       string // for the kill points that cover every kind of step
}

func (o op) String() string { return fmt.Sprintf("op %d %s %s", o.i, o.kind, o.path) }

func readOps(t testing.TB, path string) []op {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ops []op
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), " ", 3)
		if len(parts) != 3 {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		i, err := strconv.Atoi(parts[0])
		if err != nil || i != len(ops) {
			t.Fatalf("%s: line %d is %q", path, len(ops)+1, sc.Text())
		}
		ops = append(ops, op{i: i, kind: parts[1], path: parts[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	classify(ops)
	return ops
}

// classify names the phase of each operation and how much a kill there is
// worth: 1 for the steps of the publish protocol (lock, sweep, the seal of
// a segment, the renames of meta.json and the ledger entry, the publishing
// rename or exchange and what follows it), 2 for the operations around
// them, 3 for the rest (mostly buffered writes while the input is parsed).
func classify(ops []op) {
	publish, firstData := -1, -1
	for i, o := range ops {
		if o.kind == "exchange" || (o.kind == "rename-noreplace" && strings.Contains(o.path, ".staging -> ")) {
			publish = i
		}
		if firstData < 0 && (strings.Contains(o.path, ".q") || o.kind == "link" || strings.Contains(o.path, "checkpoints")) {
			firstData = i
		}
	}
	firstSeg, firstZst, firstLink, lastLink, lastSeal := "", "", -1, -1, -1
	for i := range ops {
		o := &ops[i]
		base := filepath.Base(strings.Fields(o.path)[0])
		switch {
		case strings.Contains(o.path, "/imports/"):
			o.phase = "ledger"
		case strings.Contains(o.path, "meta.json"):
			o.phase = "meta.json"
		case publish >= 0 && i >= publish:
			o.phase = "publish"
		case firstData < 0 || i < firstData:
			o.phase = "begin"
		case o.kind == "link":
			o.phase = "link"
		case strings.Contains(o.path, ".q.zst") || strings.Contains(o.path, ".q.col") || (o.kind == "remove" && strings.HasSuffix(o.path, ".q")):
			o.phase = "compress"
		case strings.Contains(o.path, "checkpoints"):
			o.phase = "checkpoints"
		case o.kind == "write" && strings.HasSuffix(o.path, ".q.tmp"):
			o.phase = "parse+append"
		case strings.Contains(o.path, ".q.tmp"):
			o.phase = "segment seal/roll"
		case i > 0:
			o.phase = ops[i-1].phase // a syncdir: part of what came before
		default:
			o.phase = "other"
		}
		if o.kind == "syncdir" && o.phase == "parse+append" {
			o.phase = "segment seal/roll"
		}
		protocolStep := o.kind == "rename" || o.kind == "rename-noreplace" || o.kind == "exchange" ||
			o.kind == "lock" || o.kind == "removeall" || (o.kind == "remove" && o.phase == "ledger")
		o.prio = 3
		switch o.phase {
		case "begin", "meta.json", "publish", "ledger", "checkpoints":
			o.prio = 2
			if protocolStep || o.phase == "publish" {
				o.prio = 1
			}
		case "segment seal/roll":
			if firstSeg == "" && o.kind == "create" {
				firstSeg = base
			}
			if strings.HasPrefix(base, firstSeg) {
				o.prio = 2
			}
			if o.kind == "rename-noreplace" {
				lastSeal = i
				if strings.HasPrefix(base, firstSeg) {
					o.prio = 1
				}
			}
		case "compress":
			id := strings.SplitN(base, ".", 2)[0]
			if firstZst == "" {
				firstZst = id
			}
			switch {
			case id == firstZst && (o.kind == "rename" || o.kind == "remove"):
				o.prio = 1
			case id == firstZst && o.kind != "write":
				o.prio = 2
			}
		case "link":
			if firstLink < 0 {
				firstLink = i
			}
			lastLink = i
		}
	}
	for _, i := range []int{firstLink, lastLink, lastSeal} {
		if i >= 0 {
			ops[i].prio = 1
		}
	}
	// Roles: what an operation does, in which context (the operation
	// before it), whatever the segment number or input hash.
	prev := ""
	for i := range ops {
		o := &ops[i]
		what := o.kind + " " + anonymous(filepath.Base(strings.Fields(o.path)[0]))
		switch o.kind {
		case "write", "writeat", "close", "sync", "create":
			if o.phase == "meta.json" || o.phase == "ledger" {
				o.role = what + " after " + prev
			}
		default:
			o.role = what + " after " + prev
		}
		prev = what
	}
}

var (
	segNum  = regexp.MustCompile(`\d{9}`)
	hexHash = regexp.MustCompile(`[0-9a-f]{64}`)
)

// anonymous replaces segment numbers and hashes in a file name.
func anonymous(name string) string {
	return hexHash.ReplaceAllString(segNum.ReplaceAllString(name, "N"), "H")
}

// pickOps chooses kill points. When covered is not nil, it first takes the
// first and the last operation of every role (see op.role) that covered
// does not hold yet, and adds the roles to covered: over all scenarios,
// every kind of rename, exchange, link, removal, directory fsync and every
// step of writing meta.json and the ledger is killed at least once. Then
// it adds n more: protocol steps (up to half; none when covered is set),
// ops near them (a quarter; a third) and fillers spread evenly over the
// run (mostly buffered writes while the input is parsed).
func pickOps(ops []op, n int, covered map[string]bool) []op {
	var out []op
	seen := map[int]bool{}
	add := func(o op) {
		if !seen[o.i] {
			seen[o.i] = true
			out = append(out, o)
		}
	}
	if covered != nil {
		first, last := map[string]int{}, map[string]int{}
		var roles []string
		for i, o := range ops {
			if o.role == "" {
				continue
			}
			if _, ok := first[o.role]; !ok {
				first[o.role] = i
				roles = append(roles, o.role)
			}
			last[o.role] = i
		}
		for _, r := range roles {
			if !covered[r] {
				covered[r] = true
				add(ops[first[r]])
				add(ops[last[r]])
			}
		}
	}
	var byPrio [4][]op
	for _, o := range ops {
		if !seen[o.i] {
			byPrio[o.prio] = append(byPrio[o.prio], o)
		}
	}
	more := len(out) + n
	p1, p2 := (n+1)/2, (n+3)/4
	if covered != nil { // the protocol steps are covered: mostly fillers
		p1, p2 = 0, n/3
	}
	for _, o := range spread(byPrio[1], p1) {
		add(o)
	}
	for _, o := range spread(byPrio[2], p2) {
		add(o)
	}
	for _, o := range spread(byPrio[3], more-len(out)) {
		add(o)
	}
	for p := 1; p <= 3 && len(out) < more; p++ { // too few of some kind
		for _, o := range byPrio[p] {
			if len(out) < more {
				add(o)
			}
		}
	}
	slices.SortFunc(out, func(a, b op) int { return a.i - b.i })
	return out
}

// spread picks k elements of s evenly, keeping the first and the last.
func spread(s []op, k int) []op {
	if k <= 0 {
		return nil
	}
	if k >= len(s) {
		return slices.Clone(s)
	}
	if k == 1 {
		return []op{s[len(s)/2]}
	}
	out := make([]op, 0, k)
	for j := range k {
		out = append(out, s[j*(len(s)-1)/(k-1)])
	}
	return out
}

// streamState is what the readers of a root must see of bigStream.
type streamState struct {
	present bool
	files   map[string]string // streamFiles
	export  string            // sha256 of `chronicle export`
	events  int64
	ledger  map[string]string // ledgerFiles of bigLedger
}

func describe(t testing.TB, root string) streamState {
	t.Helper()
	dir := filepath.Join(root, bigStream)
	s := streamState{files: streamFiles(t, dir), ledger: ledgerFiles(t, filepath.Join(root, bigLedger))}
	s.present = s.files != nil
	if !s.present {
		return s
	}
	key := fmt.Sprint(s.files)
	describeMu.Lock()
	defer describeMu.Unlock()
	if c, ok := describeCache[key]; ok {
		s.export, s.events = c.export, c.events
		return s
	}
	hw := newHashWriter()
	if r := chronicleTo(t, hw, nil, "export", dir); r.code != 0 {
		t.Fatalf("%v", r)
	}
	s.export = hw.sum()
	n, err := readAll(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	s.events = n
	describeCache[key] = s
	return s
}

// describeCache keeps export digests and event counts by the stream's
// file digests: the scenarios share streams.
var (
	describeMu    sync.Mutex
	describeCache = map[string]streamState{}
)

// scenario is one command killed over and over.
type scenario struct {
	name string
	seed string                     // archive root it starts from, copied for each run
	args func(root string) []string // the command
	// rerun is what finishes the job once the stream is in state ("old"
	// or "new"); nil: the same command.
	rerun   func(root, state string) []string
	opKills int // kill points chosen from the op log, besides those covering every role
	// partial: the command publishes step by step (compress, one segment
	// at a time), so a kill may leave a stream between old and new.
	partial bool
	timed   int // kills after a random delay

	// Filled in by reference.
	points   string // the kill points, for the log
	ops      []op
	dur      time.Duration
	refRoot  string
	old, new streamState
	other    map[string]string // tree of otherStream, which nothing may touch
}

// reference runs the command uninterrupted, logging its operations: the
// kill points, and the bytes every finished run must reproduce.
func (sc *scenario) reference(t *testing.T) {
	sc.refRoot = filepath.Join(work, "ref-"+sc.name)
	copyTree(t, sc.seed, sc.refRoot)
	logPath := filepath.Join(work, "ops-"+sc.name+".log")
	r := chronicle(t, []string{"CHRONICLE_OP_LOG=" + logPath}, sc.args(sc.refRoot)...)
	if r.code != 0 {
		t.Fatalf("reference run: %v", r)
	}
	sc.dur = r.dur
	sc.ops = readOps(t, logPath)
	sc.old = describe(t, sc.seed)
	sc.new = describe(t, sc.refRoot)
	sc.other = tree(t, filepath.Join(sc.seed, otherStream))
	if !sc.new.present {
		t.Fatalf("reference run of %s published nothing", sc.name)
	}
	if got := verifyOK(t, sc.refRoot, false); got != "" {
		t.Fatalf("verify after the reference run of %s: %s", sc.name, got)
	}
}

// tally counts kills by phase, for the log and the report.
type tally struct {
	mu                 sync.Mutex
	tried, survived    map[string]int
	oldState, newState int
	finishedFirst      int
}

func (ta *tally) add(phase string, ok bool, state string) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.tried[phase]++
	if ok {
		ta.survived[phase]++
	}
	switch state {
	case "old":
		ta.oldState++
	case "new":
		ta.newState++
	}
}

// TestCrash kills imports and compressions of a 1M-row file with SIGKILL
// at numbered file-system operations chosen over every phase, and at
// random moments. After each kill, verify, ls, export, replay and an
// in-process reader must see the stream entirely as it was or entirely as
// the command makes it, without an error; rerunning the command must
// finish the job with the same bytes as an uninterrupted run.
func TestCrash(t *testing.T) {
	big := bigInput(t)
	seedOther := filepath.Join(work, "seed-other")
	mustRun(t, nil, "import", "--archive-root", seedOther, testdata(otherFile))
	seedB := filepath.Join(work, "seed-b")
	copyTree(t, seedOther, seedB)
	mustRun(t, nil, "import", "--archive-root", seedB, "--segment-size", segSize, testdata(sample50k))

	short := testing.Short()
	n := func(full, shortN int) int {
		if short {
			return shortN
		}
		return full
	}
	importArgs := func(extra ...string) func(string) []string {
		return func(root string) []string {
			return append([]string{"import", "--archive-root", root, "--segment-size", segSize}, append(extra, big)...)
		}
	}
	a := &scenario{name: "import", seed: seedOther, args: importArgs(), opKills: n(4, 4), timed: n(2, 1)}
	// Once the new stream is published, finish an import --force as a
	// user would: the same import without --force ("already imported").
	b := &scenario{name: "import-force", seed: seedB, args: importArgs("--force"), opKills: n(2, 3), timed: n(1, 0),
		rerun: func(root, state string) []string {
			if state == "new" {
				return importArgs()(root)
			}
			return importArgs("--force")(root)
		}}
	c := &scenario{name: "import-compress", seed: seedOther, args: importArgs("--compress"), opKills: n(4, 3), timed: n(1, 0)}
	a.reference(t)
	b.reference(t)
	c.reference(t)
	d := &scenario{name: "compress", seed: a.refRoot, opKills: n(2, 3), timed: n(1, 1), partial: true,
		args: func(root string) []string { return []string{"compress", filepath.Join(root, bigStream)} }}
	d.reference(t)
	e := &scenario{name: "index", seed: a.refRoot, opKills: n(2, 1), timed: n(1, 0),
		args: func(root string) []string {
			return []string{"index", "--every", "7000", filepath.Join(root, bigStream)}
		}}
	e.reference(t)
	if maps.Equal(e.old.files, e.new.files) {
		t.Errorf("index --every 7000 changed nothing: the kills cannot tell old from new")
	}
	// The same data by two routes must be the same bytes.
	if diff := diffTrees(a.new.files, b.new.files); diff != "" {
		t.Errorf("import --force over another file and a fresh import differ:\n%s", diff)
	}
	if diff := diffTrees(c.new.files, d.new.files); diff != "" {
		t.Errorf("import --compress and import + compress differ:\n%s", diff)
	}

	seed := time.Now().UnixNano()
	if s := os.Getenv("RELIABILITY_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("random kill delays: RELIABILITY_SEED=%d", seed)
	ta := &tally{tried: map[string]int{}, survived: map[string]int{}}
	// Kills run concurrently (the runs spend most of their time in fsync),
	// each as a subtest named after its kill point.
	// b first: its run has every step of a, and the exchange; d has the
	// compression steps c has.
	jobs := killJobs([]*scenario{b, a, d, c, e}, rand.New(rand.NewSource(seed)))
	ch := make(chan killJob)
	var wg sync.WaitGroup
	for range crashWorkers() {
		wg.Go(func() {
			for j := range ch {
				t.Run(j.name, func(t *testing.T) { j.sc.run(t, ta, j) })
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	for _, sc := range []*scenario{a, b, c, d, e} {
		t.Logf("%s: %d operations in an uninterrupted run (%v); kill points %s", sc.name, len(sc.ops), sc.dur.Round(time.Millisecond), sc.points)
	}

	phases := slices.Sorted(maps.Keys(ta.tried))
	total, survived := 0, 0
	for _, p := range phases {
		t.Logf("  %-20s %3d kills, %3d survived", p, ta.tried[p], ta.survived[p])
		total += ta.tried[p]
		survived += ta.survived[p]
	}
	t.Logf("kills: %d tried, %d survived; readers saw the old state %d times, the new one %d times; %d timed runs finished before their kill",
		total, survived, ta.oldState, ta.newState, ta.finishedFirst)
}

// crashWorkers is how many kill runs go on at once: $RELIABILITY_WORKERS,
// else 4.
func crashWorkers() int {
	if n, err := strconv.Atoi(os.Getenv("RELIABILITY_WORKERS")); err == nil && n > 0 {
		return n
	}
	return 4
}

// killJob is one kill: at an operation, or (o.i < 0) after a delay, retried
// with shorter ones while the command finishes first.
type killJob struct {
	name   string
	sc     *scenario
	o      op
	delays []time.Duration
}

// killJobs lists the kills of all scenarios, interleaved.
func killJobs(scs []*scenario, rng *rand.Rand) []killJob {
	// Outside -short, kill every kind of step at least once.
	var covered map[string]bool
	if !testing.Short() {
		covered = map[string]bool{}
	}
	var per [][]killJob
	for _, sc := range scs {
		var js []killJob
		var desc []string
		for _, o := range pickOps(sc.ops, sc.opKills, covered) {
			js = append(js, killJob{name: fmt.Sprintf("%s-op%03d-%s", sc.name, o.i, o.kind), sc: sc, o: o})
			desc = append(desc, fmt.Sprintf("%d:%s:%s", o.i, o.kind, filepath.Base(strings.Fields(o.path)[0])))
		}
		sc.points = strings.Join(desc, " ")
		for k := range sc.timed {
			d := time.Duration(rng.Int63n(int64(sc.dur)*11/10)) + time.Millisecond
			js = append(js, killJob{name: fmt.Sprintf("%s-random%d", sc.name, k), sc: sc, o: op{i: -1, phase: "random time"},
				delays: []time.Duration{d, d / 2, d / 4, d / 8}})
		}
		per = append(per, js)
	}
	var out []killJob
	for i := 0; ; i++ {
		n := len(out)
		for _, js := range per {
			if i < len(js) {
				out = append(out, js[i])
			}
		}
		if len(out) == n {
			return out
		}
	}
}

// run does one kill and counts it.
func (sc *scenario) run(t *testing.T, ta *tally, j killJob) {
	if j.o.i >= 0 {
		ok, state := sc.killAt(t, j.o, 0)
		ta.add(j.o.phase, ok, state)
		return
	}
	for _, d := range j.delays {
		ok, state := sc.killAt(t, j.o, d)
		if state != "finished" {
			ta.add(j.o.phase, ok, state)
			return
		}
		ta.mu.Lock()
		ta.finishedFirst++
		ta.mu.Unlock()
	}
	t.Errorf("%s: finished before every kill %v", sc.name, j.delays)
}

// killAt runs the command on a fresh copy of the seed, kills it at o (or
// after delay), checks what readers see, reruns it and checks the result.
func (sc *scenario) killAt(t *testing.T, o op, delay time.Duration) (ok bool, state string) {
	t.Helper()
	failed := false
	fail := func(format string, args ...any) {
		t.Helper()
		failed = true
		where := o.String() + " (" + o.phase + ")"
		if o.i < 0 {
			where = fmt.Sprintf("kill after %v", delay)
		}
		t.Errorf("%s, %s: %s", sc.name, where, fmt.Sprintf(format, args...))
	}
	root, err := os.MkdirTemp(work, "kill-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	os.Remove(root)
	copyTree(t, sc.seed, root)
	args := sc.args(root)

	var r result
	if o.i >= 0 {
		logPath := filepath.Join(work, filepath.Base(root)+".log")
		defer os.Remove(logPath)
		r = chronicle(t, []string{"CHRONICLE_CRASH_AT_OP=" + strconv.Itoa(o.i), "CHRONICLE_OP_LOG=" + logPath}, args...)
		if r.signal != syscall.SIGKILL {
			fail("not killed: %v", r)
			return false, ""
		}
		// The run must have met the same operations as the reference.
		if got := readOps(t, logPath); len(got) != o.i+1 || got[o.i].kind != o.kind {
			fail("killed after %d operations, the last %v: the operations are not deterministic", len(got), got[len(got)-1])
		}
	} else {
		r = killAfter(t, delay, args)
		if r.signal == 0 {
			if r.code != 0 {
				fail("exited before the kill: %v", r)
			}
			return !failed, "finished"
		}
	}

	state = sc.checkReaders(t, root, fail)

	// Rerunning the command finishes what was killed.
	rerunArgs := sc.args(root)
	if sc.rerun != nil {
		rerunArgs = sc.rerun(root, state)
	}
	if r := chronicle(t, nil, rerunArgs...); r.code != 0 {
		fail("rerun: %v", r)
		return false, state
	}
	if diff := diffTrees(sc.new.files, streamFiles(t, filepath.Join(root, bigStream))); diff != "" {
		fail("after the rerun the stream differs from an uninterrupted run's:\n%s", diff)
	}
	if got := ledgerFiles(t, filepath.Join(root, bigLedger)); !maps.Equal(got, sc.new.ledger) {
		fail("after the rerun the ledger differs from an uninterrupted run's:\n%s", diffJSON(sc.new.ledger, got))
	}
	if l := leftovers(t, root); len(l) > 0 {
		fail("after the rerun, left behind: %v", l)
	}
	// The stream and ledger are now the reference's bytes, which verify
	// passed: no need to verify them again.
	return !failed, state
}

// killAfter starts the command and kills it with SIGKILL after delay,
// unless it has finished by then.
func killAfter(t *testing.T, delay time.Duration, args []string) result {
	t.Helper()
	cmd, so, se := command(t.Context(), nil, args...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
	r, err := finish(cmd, so, se, start, args)
	timer.Stop()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkReaders checks that every reader sees bigStream exactly as it was
// before the command or exactly as the command makes it, and returns which
// ("old" or "new").
func (sc *scenario) checkReaders(t *testing.T, root string, fail func(string, ...any)) string {
	t.Helper()
	dir := filepath.Join(root, bigStream)
	files := streamFiles(t, dir)
	var want streamState
	state := ""
	switch {
	case files == nil && !sc.old.present:
		want, state = sc.old, "old"
	case files != nil && sc.old.present && maps.Equal(files, sc.old.files):
		want, state = sc.old, "old"
	case files != nil && maps.Equal(files, sc.new.files):
		want, state = sc.new, "new"
	case files != nil && sc.partial && partlyCompressed(files, sc.old.files, sc.new.files):
		want, state = sc.old, "partial" // the same data as old and new
	default:
		fail("the stream is neither the old one nor the new one:\nagainst the old:\n%s\nagainst the new:\n%s",
			diffTrees(sc.old.files, files), diffTrees(sc.new.files, files))
		return ""
	}
	if diff := diffTrees(sc.other, tree(t, filepath.Join(root, otherStream))); diff != "" {
		fail("another stream changed:\n%s", diff)
	}
	// The ledger lags the stream by at most the one entry being written.
	ledger := ledgerFiles(t, filepath.Join(root, bigLedger))
	for name, v := range ledger {
		if v != sc.old.ledger[name] && v != sc.new.ledger[name] {
			fail("ledger entry %s is neither the old one nor the new one: %s", name, v)
		}
	}
	if state != "new" && !maps.Equal(ledger, sc.old.ledger) {
		fail("the stream is the old one but the ledger changed: %v", slices.Sorted(maps.Keys(ledger)))
	}

	if v := verifyOK(t, root, true); v != "" {
		fail("verify: %s", v)
	}
	r := chronicle(t, nil, "ls", "--json", root)
	if r.code != 0 {
		fail("ls: %v", r)
	}
	listed := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var s struct {
			Dir    string `json:"dir"`
			Events int64  `json:"events"`
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			fail("ls --json line %q: %v", line, err)
			continue
		}
		rel, _ := filepath.Rel(root, s.Dir)
		listed[filepath.ToSlash(rel)] = s.Events
	}
	if _, ok := listed[otherStream]; !ok || len(listed) != map[bool]int{true: 2, false: 1}[want.present] {
		fail("ls lists %v", listed)
	}
	if !want.present {
		return state
	}
	if listed[bigStream] != want.events {
		fail("ls says %d events, want %d", listed[bigStream], want.events)
	}
	hw := newHashWriter()
	if r := chronicleTo(t, hw, nil, "export", dir); r.code != 0 {
		fail("export: %v", r)
	} else if hw.sum() != want.export {
		fail("export wrote other rows than the %s stream's", state)
	}
	if hasReplay {
		r := chronicle(t, nil, "replay", "--json", dir)
		var rep struct {
			Events int64 `json:"events"`
		}
		if r.code != 0 {
			fail("replay: %v", r)
		} else if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Events != want.events {
			fail("replay --json: %q (%v), want %d events", r.stdout, err, want.events)
		}
	}
	if !hasReplay { // replay reads every event; without it, read them here
		if n, err := readAll(dir); err != nil || n != want.events {
			fail("OpenEvents read %d events (%v), want %d", n, err, want.events)
		}
	}
	return state
}

// partlyCompressed tells whether files is a stream that a killed compress
// left between old and new: each segment there as its old .q or as its new
// .q.zst with its .idx or .q.col, every other file the old or the new one
// of its name.
func partlyCompressed(files, old, new map[string]string) bool {
	for name, d := range files {
		if name != archive.MetaName && d != old[name] && d != new[name] {
			return false
		}
	}
	for name := range maps.Keys(old) {
		if z, ok := strings.CutSuffix(name, ".q"); ok {
			_, q := files[name]
			_, zst := files[z+".q.zst"]
			_, idx := files[z+".q.zst.idx"]
			_, col := files[z+".q.col"]
			if zst != idx || q == (zst || col) || zst && col {
				return false
			}
		} else if _, ok := files[name]; !ok {
			return false
		}
	}
	return true
}

// verifyOK runs `chronicle verify root` and returns "" when it passes
// (with no note either, unless notes is set: a missing ledger entry is a
// note), else what it said.
func verifyOK(t testing.TB, root string, notes bool) string {
	t.Helper()
	r := chronicle(t, nil, "verify", root)
	if r.code != 0 || !strings.Contains(r.stdout, "no problems") || (!notes && strings.Contains(r.stdout, "note:")) {
		return r.String() + "\n" + r.stdout
	}
	return ""
}
