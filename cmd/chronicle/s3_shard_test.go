package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/batch"
	"github.com/chronicle-archive/chronicle/internal/s3test"
	"github.com/chronicle-archive/chronicle/objstore"
	"github.com/chronicle-archive/chronicle/s3archive"
)

// Issue 12's scale-out on S3: three workers with --shard i/3 importing one
// tree into one bucket at once leave exactly what one process leaves.

// shardTree writes a small Tardis download: 3 data types × 3 symbols ×
// 3 days, gzipped or plain, one day in a hive tree, plus Tardis's empty
// gzip for a day without liquidations. It returns the tree's directory.
func shardTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	day0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for d := range 3 {
		day := day0.AddDate(0, 0, d)
		date := day.Format(time.DateOnly)
		for si, sym := range []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"} {
			for ti, typ := range []string{"trades", "quotes", "incremental_book_L2"} {
				body := shardCSV(typ, sym, day.UnixMicro(), d*100+si*10+ti)
				var p string
				if d == 2 { // a hive partition: the name says nothing
					p = filepath.Join(dir, "hive", "exchange=binance-futures", "type="+typ, "date="+date, "symbol="+sym, "part-0.csv")
				} else {
					p = filepath.Join(dir, date, fmt.Sprintf("binance-futures_%s_%s_%s.csv", typ, date, sym))
				}
				data := []byte(body)
				if (si+ti)%2 == 0 {
					p, data = p+".gz", gz(data)
				}
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	empty := filepath.Join(dir, "2024-05-01", "binance-futures_liquidations_2024-05-01_BTCUSDT.csv.gz")
	if err := os.WriteFile(empty, gz(nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shardCSV is a small file of typ for sym starting at startUS, its values
// varied by seed so that no two files are alike.
func shardCSV(typ, sym string, startUS int64, seed int) string {
	var b strings.Builder
	px := 1000 + seed*7
	switch typ {
	case "trades":
		b.WriteString("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n")
		for i := range 40 {
			ts := startUS + int64(i)*250_000
			side := "buy"
			if (i+seed)%3 == 0 {
				side = "sell"
			}
			fmt.Fprintf(&b, "binance-futures,%s,%d,%d,%d,%s,%d.%d,0.%03d\n", sym, ts-900, ts, seed*1000+i, side, px+i%5, i%10, 1+(i*37+seed)%999)
		}
	case "quotes":
		b.WriteString("exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n")
		for i := range 40 {
			ts := startUS + int64(i)*300_000
			if i%13 == 5 { // an empty ask side: absent, not 0
				fmt.Fprintf(&b, "binance-futures,%s,%d,%d,,,%d.5,1.25\n", sym, ts-700, ts, px+i%3)
				continue
			}
			fmt.Fprintf(&b, "binance-futures,%s,%d,%d,%d.5,%d.1,%d.9,3.%d\n", sym, ts-700, ts, 1+i%4, px+1+i%3, px+i%3, i%10)
		}
	case "incremental_book_L2":
		b.WriteString("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n")
		ts := startUS + 1000
		for l := range 5 { // the opening snapshot: one message
			fmt.Fprintf(&b, "binance-futures,%s,%d,%d,true,ask,%d.5,%d.0\n", sym, ts-500, ts, px+1+l, 1+l)
			fmt.Fprintf(&b, "binance-futures,%s,%d,%d,true,bid,%d.5,%d.0\n", sym, ts-500, ts, px-1-l, 2+l)
		}
		for i := range 30 {
			ts := startUS + 1000 + int64(i+1)*200_000
			side, price := "bid", px-1-(i+seed)%5
			if i%2 == 1 {
				side, price = "ask", px+1+(i+seed)%5
			}
			amt := fmt.Sprintf("%d.%d", (i*7+seed)%4, i%10) // "0.0" removes the level
			fmt.Fprintf(&b, "binance-futures,%s,%d,%d,false,%s,%d.5,%s\n", sym, ts-400, ts, side, price, amt)
		}
	default:
		panic("shardCSV: " + typ)
	}
	return b.String()
}

// prefixObjects is every object under one archive prefix of the bucket by
// its key below the prefix: the committed stream files (each HEAD, then
// its version's objects, meta.json without its import time) and the ledger
// entries (without theirs). It also returns the versions uploaded per
// stream, committed or not.
func prefixObjects(t *testing.T, bucket, prefix string) (files map[string]string, versionsPerStream map[string]int) {
	t.Helper()
	ctx := context.Background()
	st, err := objstore.New(ctx, bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	files, versionsPerStream = map[string]string{}, map[string]int{}
	seen := map[string]bool{}
	for _, o := range objs {
		if parts := strings.Split(o.Key, "/"); parts[0] == "v1" && len(parts) >= 7 && strings.HasPrefix(parts[5], "@") {
			if v := strings.Join(parts[:6], "/"); !seen[v] {
				seen[v] = true
				versionsPerStream[strings.Join(parts[:5], "/")]++
			}
		}
		switch {
		case strings.HasPrefix(o.Key, "imports/"):
			b, _, err := st.Get(ctx, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("ledger entry %s: %v", o.Key, err)
			}
			delete(m, "imported_at_ns")
			out, _ := json.Marshal(m)
			files[o.Key] = string(out)
		case strings.HasSuffix(o.Key, "/"+s3archive.HeadName):
			sk := strings.TrimSuffix(o.Key, "/"+s3archive.HeadName)
			b, _, err := st.Get(ctx, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			var h s3archive.Head
			if err := json.Unmarshal(b, &h); err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			for _, f := range h.Files {
				b, _, err := st.Get(ctx, sk+"/"+h.Version+"/"+f.Name)
				if err != nil {
					t.Fatal(err)
				}
				files[sk+"/"+f.Name] = normalMeta(t, f.Name, b)
			}
		}
	}
	return files, versionsPerStream
}

// TestS3ShardedImport: 3 worker processes with --shard 0/3, 1/3 and 2/3
// import one tree into one prefix at once, one process the whole tree into
// another: the same streams byte for byte, the same ledger entries, one
// version per stream, and every file imported by exactly one worker.
func TestS3ShardedImport(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	tree := shardTree(t)
	one, sharded := "s3://"+bucket+"/one", "s3://"+bucket+"/sharded"

	summary := func(what string, code int, out, stderr string) *batch.Summary {
		t.Helper()
		var s batch.Summary
		if err := json.Unmarshal([]byte(out), &s); err != nil || code != 0 {
			t.Fatalf("%s: exit %d, summary %.1000q (%v)\nstderr: %.2000s", what, code, out, err, stderr)
		}
		if s.Total.Failed != 0 || s.Total.NotStarted != 0 {
			t.Fatalf("%s: %+v, failures %v", what, s.Total, s.Failures)
		}
		return &s
	}
	start := time.Now()
	code, out, stderr := cli(nil, "import", "--archive-root", one, "--json", tree)
	whole := summary("one process", code, out, stderr)
	t.Logf("one process: %d files in %s", len(whole.Files), time.Since(start).Round(time.Millisecond))
	const files, noData = 3*3*3 + 1, 1
	if whole.Total.Imported != files-noData || whole.Total.NoData != noData || len(whole.Files) != files {
		t.Fatalf("one process: %+v over %d files, want %d imported and %d no data", whole.Total, len(whole.Files), files-noData, noData)
	}

	shards := make([]*batch.Summary, 3)
	res := make([]struct {
		code        int
		out, stderr string
	}, 3)
	start = time.Now()
	var wg sync.WaitGroup
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &res[i]
			r.code, r.out, r.stderr = cli(nil, "import", "--archive-root", sharded, "--json", "--jobs", "1", "--shard", fmt.Sprintf("%d/3", i), tree)
		}()
	}
	wg.Wait()
	t.Logf("3 shards at once: %s", time.Since(start).Round(time.Millisecond))
	var tot batch.Counts
	byFile := map[string]int{} // file -> the shard that had it
	for i, r := range res {
		s := summary(fmt.Sprintf("shard %d/3", i), r.code, r.out, r.stderr)
		shards[i] = s
		if len(s.Files) == 0 {
			t.Errorf("shard %d/3 got no files: the test shows nothing about the split", i)
		}
		for _, f := range s.Files {
			if j, dup := byFile[f.File]; dup {
				t.Errorf("%s is in shards %d and %d", f.File, j, i)
			}
			byFile[f.File] = i
		}
		tot.Imported += s.Total.Imported
		tot.AlreadyImported += s.Total.AlreadyImported
		tot.Skipped += s.Total.Skipped
		tot.NoData += s.Total.NoData
		tot.Rows += s.Total.Rows
		tot.BytesIn += s.Total.BytesIn
		t.Logf("shard %d/3: %d files, %d imported, %d rows", i, len(s.Files), s.Total.Imported, s.Total.Rows)
	}
	if tot.Imported != whole.Total.Imported || tot.NoData != whole.Total.NoData || tot.AlreadyImported != 0 || tot.Skipped != 0 ||
		tot.Rows != whole.Total.Rows || tot.BytesIn != whole.Total.BytesIn {
		t.Errorf("the shards add up to %+v, one process %+v", tot, whole.Total)
	}
	var wantFiles, gotFiles []string
	for _, f := range whole.Files {
		wantFiles = append(wantFiles, f.File)
	}
	for f := range byFile {
		gotFiles = append(gotFiles, f)
	}
	sort.Strings(wantFiles)
	sort.Strings(gotFiles)
	if !slices.Equal(wantFiles, gotFiles) {
		t.Errorf("the shards' files:\n%v\none process's:\n%v", gotFiles, wantFiles)
	}

	want, wantVers := prefixObjects(t, bucket, "one")
	got, gotVers := prefixObjects(t, bucket, "sharded")
	streams, ledgers := 0, 0
	for k, v := range want {
		if strings.HasPrefix(k, "imports/") {
			ledgers++
		} else if strings.HasSuffix(k, "/meta.json") {
			streams++
		}
		if g, ok := got[k]; !ok {
			t.Errorf("%s: in one process's import, not the shards'", k)
		} else if g != v {
			t.Errorf("%s: the shards' (%d bytes) differs from one process's (%d bytes)", k, len(g), len(v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: in the shards' import, not one process's", k)
		}
	}
	if streams != files-noData || ledgers != files {
		t.Errorf("one process's import has %d streams and %d ledger entries, want %d and %d", streams, ledgers, files-noData, files)
	}
	for _, vers := range []map[string]int{wantVers, gotVers} {
		for sk, n := range vers {
			if n != 1 {
				t.Errorf("%s: %d versions uploaded, want 1", sk, n)
			}
		}
	}
	if len(gotVers) != files-noData {
		t.Errorf("the shards uploaded %d streams, want %d", len(gotVers), files-noData)
	}
	if l, s := mustRun(t, "ls", "--archive-root", one), mustRun(t, "ls", "--archive-root", sharded); l != s {
		t.Errorf("ls differs:\none process:\n%s\nshards:\n%s", l, s)
	}
	mustRun(t, "verify", "--archive-root", sharded)

	// A rerun of every shard skips every file of its share.
	for i := range 3 {
		code, out, stderr := rpRun("import", "--archive-root", sharded, "--json", "--shard", fmt.Sprintf("%d/3", i), tree)
		s := summary(fmt.Sprintf("rerun of shard %d/3", i), code, out, stderr)
		if s.Total.Skipped != len(shards[i].Files) || len(s.Files) != len(shards[i].Files) {
			t.Errorf("rerun of shard %d/3: %+v, want all %d skipped", i, s.Total, len(shards[i].Files))
		}
	}
}
