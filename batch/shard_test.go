package batch

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/tardis"
)

// lakeInputs is days x symbols x types files, two per partition (hive
// parts), plus files whose names say nothing.
func lakeInputs() []Input {
	var ins []Input
	for d := 1; d <= 30; d++ {
		for _, sym := range []string{"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"} {
			for _, typ := range []string{"trades", "quotes", "incremental_book_L2"} {
				for part := range 2 {
					p := fmt.Sprintf("lake/exchange=binance/type=%s/date=2024-05-%02d/symbol=%s/part-%d.csv.gz", typ, d, sym, part)
					ins = append(ins, Input{Path: p, Info: tardis.ParsePath(p)})
				}
			}
		}
	}
	for i := range 50 {
		p := fmt.Sprintf("misc/dump%d.csv", i)
		ins = append(ins, Input{Path: p, Info: tardis.ParsePath(p)})
	}
	return ins
}

func TestShard(t *testing.T) {
	ins := lakeInputs()
	for n := 1; n <= 7; n++ {
		owner := map[string]int{}     // path -> shard
		partShard := map[string]int{} // partition -> shard
		for i := range n {
			share := Shard(ins, i, n)
			if again := Shard(ins, i, n); fmt.Sprint(again) != fmt.Sprint(share) {
				t.Fatalf("n=%d shard %d differs between runs", n, i)
			}
			// Balance: within 25% of a fair share.
			fair := len(ins) / n
			if len(share) < fair*3/4 || len(share) > fair*5/4 {
				t.Errorf("n=%d shard %d has %d of %d files (fair %d)", n, i, len(share), len(ins), fair)
			}
			for _, in := range share {
				if prev, ok := owner[in.Path]; ok {
					t.Fatalf("n=%d: %s in shards %d and %d", n, in.Path, prev, i)
				}
				owner[in.Path] = i
				k := partitionKey(in)
				if prev, ok := partShard[k]; ok && prev != i {
					t.Errorf("n=%d: partition %s split between shards %d and %d", n, k, prev, i)
				}
				partShard[k] = i
			}
		}
		if len(owner) != len(ins) {
			t.Errorf("n=%d: %d of %d files in some shard", n, len(owner), len(ins))
		}
	}
	// The split is by partition, not path: another mount point, same split.
	moved := lakeInputs()
	for i := range moved {
		moved[i].Path = "/mnt/other/" + moved[i].Path
	}
	for i := range 5 {
		if a, b := len(Shard(ins, i, 5)), len(Shard(moved, i, 5)); a != b {
			t.Errorf("shard %d/5: %d files here, %d under /mnt/other", i, a, b)
		}
	}
}

func TestParseShard(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, tc := range []struct {
		flag  string
		count int
		env   func(string) string
		i, n  int
		err   string
	}{
		{"", 0, env(), 0, 1, ""},
		{"0/1", 0, env(), 0, 1, ""},
		{"3/4", 0, env(), 3, 4, ""},
		{"3/4", 4, env(), 3, 4, ""},
		{"4/4", 0, env(), 0, 0, "index 4 of 4"},
		{"-1/4", 0, env(), 0, 0, "index -1"},
		{"1/0", 0, env(), 0, 0, "of 0 shards"},
		{"1", 0, env(), 0, 0, "want i/n"},
		{"a/b", 0, env(), 0, 0, "want i/n"},
		{"1/4", 3, env(), 0, 0, "contradicts --shard-count 3"},
		{"", 4, env(), 0, 0, "needs --shard auto"},
		{"auto", 8, env("JOB_COMPLETION_INDEX", "5"), 5, 8, ""},
		{"auto", 0, env("JOB_COMPLETION_INDEX", "5"), 0, 0, "--shard-count must give"},
		{"auto", 4, env("JOB_COMPLETION_INDEX", "5"), 0, 0, "index 5 of 4"},
		{"auto", 4, env("JOB_COMPLETION_INDEX", "x"), 0, 0, `JOB_COMPLETION_INDEX="x"`},
		// Kubernetes wins when both are set (a Slurm-launched pod is odd, but Kubernetes' index is exact).
		{"auto", 4, env("JOB_COMPLETION_INDEX", "1", "SLURM_ARRAY_TASK_ID", "3"), 1, 4, ""},
		{"auto", 0, env("SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_COUNT", "4", "SLURM_ARRAY_TASK_MIN", "0"), 2, 4, ""},
		{"auto", 0, env("SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_COUNT", "4"), 2, 4, ""},
		{"auto", 0, env("SLURM_ARRAY_TASK_ID", "8", "SLURM_ARRAY_TASK_COUNT", "8", "SLURM_ARRAY_TASK_MIN", "1"), 7, 8, ""},
		{"auto", 0, env("SLURM_ARRAY_TASK_ID", "20", "SLURM_ARRAY_TASK_COUNT", "4", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_STEP", "10"), 2, 4, ""},
		{"auto", 0, env("SLURM_ARRAY_TASK_ID", "8", "SLURM_ARRAY_TASK_COUNT", "8"), 0, 0, "SLURM_ARRAY_TASK_ID=8 is task 8 of 8"},
		{"auto", 0, env("SLURM_ARRAY_TASK_ID", "5", "SLURM_ARRAY_TASK_COUNT", "4", "SLURM_ARRAY_TASK_STEP", "2"), 0, 0, "not on the array's step"},
		{"auto", 0, env("SLURM_ARRAY_TASK_ID", "1"), 0, 0, "SLURM_ARRAY_TASK_COUNT is not"},
		{"auto", 3, env("SLURM_ARRAY_TASK_ID", "1"), 1, 3, ""},
		{"auto", 3, env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_COUNT", "4"), 0, 0, "contradicts SLURM_ARRAY_TASK_COUNT=4"},
		{"auto", 0, env(), 0, 0, "neither JOB_COMPLETION_INDEX"},
		{"auto", -1, env(), 0, 0, "--shard-count -1"},
	} {
		i, n, err := ParseShard(tc.flag, tc.count, tc.env)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseShard(%q, %d): %v", tc.flag, tc.count, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseShard(%q, %d) = %v, want an error with %q", tc.flag, tc.count, err, tc.err)
		case i != tc.i || n != tc.n:
			t.Errorf("ParseShard(%q, %d) = %d/%d, want %d/%d", tc.flag, tc.count, i, n, tc.i, tc.n)
		}
	}
}
