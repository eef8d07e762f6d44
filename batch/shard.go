package batch

import (
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strconv"
	"strings"
)

// Shard returns worker i's share (0 <= i < n) of inputs, in their order.
// A file goes to the worker its partition key hashes to, so the files of
// one partition (exchange, data type, date, symbol) always go to one
// worker, and the same n gives the same split on every run and machine.
func Shard(inputs []Input, i, n int) []Input {
	var out []Input
	for _, in := range inputs {
		if shardOf(in, n) == i {
			out = append(out, in)
		}
	}
	return out
}

func shardOf(in Input, n int) int {
	h := fnv.New64a()
	h.Write([]byte(partitionKey(in)))
	return int(mix(h.Sum64()) % uint64(n))
}

// partitionKey is the partition a file's name or path gives; for a file
// they say nothing about, its base name (not its path, which differs
// between machines that mount the tree elsewhere).
func partitionKey(in Input) string {
	fi := in.Info
	if fi.Exchange == "" && fi.DataType == "" && fi.Date == "" && fi.Symbol == "" {
		return filepath.Base(in.Path)
	}
	return fi.Exchange + "/" + fi.DataType + "/" + fi.Date + "/" + fi.Symbol
}

// mix is splitmix64's finalizer: FNV-1a's low bits vary little between
// keys that differ only near their end (dates, symbols), and the modulus
// keeps only the low bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// ParseShard reads --shard: "" (no sharding: 0, 1), "i/n" (0 <= i < n),
// or "auto": the index of a Kubernetes Indexed Job (JOB_COMPLETION_INDEX,
// with shardCount, --shard-count, set to the Job's completions) or of a
// Slurm array task (SLURM_ARRAY_TASK_ID less SLURM_ARRAY_TASK_MIN, divided
// by SLURM_ARRAY_TASK_STEP, of SLURM_ARRAY_TASK_COUNT tasks). shardCount 0
// means not given; given, it must agree with n.
func ParseShard(flag string, shardCount int, getenv func(string) string) (i, n int, err error) {
	if shardCount < 0 {
		return 0, 0, fmt.Errorf("--shard-count %d: must be at least 1", shardCount)
	}
	switch flag {
	case "":
		if shardCount > 0 {
			return 0, 0, errors.New("--shard-count needs --shard auto")
		}
		return 0, 1, nil
	case "auto":
		i, n, err = autoShard(shardCount, getenv)
		if err != nil {
			return 0, 0, fmt.Errorf("--shard auto: %w", err)
		}
	default:
		is, ns, ok := strings.Cut(flag, "/")
		var e1, e2 error
		i, e1 = strconv.Atoi(is)
		n, e2 = strconv.Atoi(ns)
		if !ok || e1 != nil || e2 != nil {
			return 0, 0, fmt.Errorf("--shard %q: want i/n (e.g. 0/4) or auto", flag)
		}
		if shardCount > 0 && shardCount != n {
			return 0, 0, fmt.Errorf("--shard %s contradicts --shard-count %d", flag, shardCount)
		}
	}
	if n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard: index %d of %d shards: want 0 <= index < count", i, n)
	}
	return i, n, nil
}

func autoShard(shardCount int, getenv func(string) string) (i, n int, err error) {
	if idx := getenv("JOB_COMPLETION_INDEX"); idx != "" {
		if i, err = envInt("JOB_COMPLETION_INDEX", idx); err != nil {
			return 0, 0, err
		}
		if shardCount == 0 {
			return 0, 0, errors.New("JOB_COMPLETION_INDEX is set (Kubernetes Indexed Job): --shard-count must give the Job's completions")
		}
		return i, shardCount, nil
	}
	id := getenv("SLURM_ARRAY_TASK_ID")
	if id == "" {
		return 0, 0, errors.New("neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID (Slurm array) is set: use --shard i/n")
	}
	if i, err = envInt("SLURM_ARRAY_TASK_ID", id); err != nil {
		return 0, 0, err
	}
	count := getenv("SLURM_ARRAY_TASK_COUNT")
	if count == "" {
		if shardCount == 0 {
			return 0, 0, errors.New("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: give --shard-count")
		}
		n = shardCount
	} else if n, err = envInt("SLURM_ARRAY_TASK_COUNT", count); err != nil {
		return 0, 0, err
	} else if shardCount > 0 && shardCount != n {
		return 0, 0, fmt.Errorf("--shard-count %d contradicts SLURM_ARRAY_TASK_COUNT=%d", shardCount, n)
	}
	// Arrays need not start at 0 (--array=1-8) or step by 1 (--array=0-30:10).
	if v := getenv("SLURM_ARRAY_TASK_MIN"); v != "" {
		min, err := envInt("SLURM_ARRAY_TASK_MIN", v)
		if err != nil {
			return 0, 0, err
		}
		i -= min
	}
	if v := getenv("SLURM_ARRAY_TASK_STEP"); v != "" {
		step, err := envInt("SLURM_ARRAY_TASK_STEP", v)
		if err != nil || step < 1 {
			return 0, 0, fmt.Errorf("SLURM_ARRAY_TASK_STEP=%q: want a positive integer", v)
		}
		if i%step != 0 {
			return 0, 0, fmt.Errorf("SLURM_ARRAY_TASK_ID=%s is not on the array's step %d: use a range array (--array=0-%d)", id, step, n-1)
		}
		i /= step
	}
	if i < 0 || i >= n {
		return 0, 0, fmt.Errorf("SLURM_ARRAY_TASK_ID=%s is task %d of %d: use a range array (--array=0-%d)", id, i, n, n-1)
	}
	return i, n, nil
}

func envInt(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a non-negative integer", name, v)
	}
	return n, nil
}
