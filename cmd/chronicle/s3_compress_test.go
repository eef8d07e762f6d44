package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/objstore"
	"github.com/chronicle-archive/chronicle/s3archive"
)

// compress, decompress and index on an S3 archive (docs/S3.md): each
// rewrites a local copy of the committed version and commits the result as
// a new version; the files are those the same command writes on disk.

// sameStreams fails unless the committed streams on S3 are the local
// archive's files, byte for byte (meta.json but its import time).
func sameStreams(t *testing.T, step, local, bucket string) {
	t.Helper()
	want, got := localStreams(t, local), s3Streams(t, bucket)
	if len(want) == 0 {
		t.Fatalf("%s: the local archive has no files", step)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s: on S3 %d bytes, differs from the local %d", step, k, len(got[k]), len(v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s is on S3, not in the local archive", step, k)
		}
	}
}

// sameReads fails unless readers give the same output from both roots.
func sameReads(t *testing.T, step, local, s3root string) {
	t.Helper()
	const b = "binance-futures/BTCUSDT/book"
	cmds := [][]string{
		{"dump", b}, {"replay", b}, {"book", b, "--at", "2024-05-01T00:00:03Z", "--depth", "5"},
		{"dump", "binance-futures/BTCUSDT/trades"}, {"ls"},
	}
	for _, c := range cmds {
		l := mustRun(t, append(c, "--archive-root", local)...)
		s := mustRun(t, append(c, "--archive-root", s3root)...)
		if c[0] == "replay" {
			l, s = dropLines(l, "wall", "updates/s"), dropLines(s, "wall", "updates/s")
		}
		if l != s || l == "" {
			t.Errorf("%s: %s: local and S3 outputs differ (%d, %d bytes)\nlocal: %.300s\nS3:    %.300s", step, strings.Join(c, " "), len(l), len(s), l, s)
		}
	}
	if out := mustRun(t, "verify", "--archive-root", s3root); !strings.Contains(out, "verified 2 streams: no problems") {
		t.Errorf("%s: verify on S3:\n%s", step, out)
	}
}

func TestS3Compress(t *testing.T) {
	s3root, bucket := s3Archive(t)
	local := t.TempDir()
	const book, trades = "binance-futures/BTCUSDT/book", "binance-futures/BTCUSDT/trades"
	for _, root := range []string{local, s3root} {
		mustRun(t, "import", "--archive-root", root, s3Types[0].src)
		mustRun(t, "import", "--archive-root", root, "--type", "trades", "../../tardis/testdata/types/trades.csv")
	}
	imported := localStreams(t, local)
	sameStreams(t, "import", local, bucket)
	nVersions := len(versions(t, bucket))

	steps := []struct {
		name string
		args []string
	}{
		{"compress columnar", []string{"compress", book}},
		{"compress zstd", []string{"compress", "--codec", "zstd", trades}},
		{"index", []string{"index", "--every", "1000", book}},
	}
	for _, st := range steps {
		mustRun(t, append(st.args, "--archive-root", local)...)
		out := mustRun(t, append(st.args, "--archive-root", s3root)...)
		if !strings.Contains(out, s3root+"/v1/") || !strings.Contains(out, "(version @") {
			t.Errorf("%s on S3: %q", st.name, out)
		}
		nVersions++
		sameStreams(t, st.name, local, bucket)
		sameReads(t, st.name, local, s3root)
	}
	if n := len(versions(t, bucket)); n != nVersions {
		t.Errorf("%d versions in the bucket, want %d", n, nVersions)
	}

	// A rerun changes nothing and uploads nothing, and says so.
	for _, args := range [][]string{{"compress", book}, {"compress", "--codec", "zstd", trades}, {"index", "--every", "1000", book}} {
		out := mustRun(t, append(args, "--archive-root", s3root)...)
		if !strings.Contains(out, "nothing changed on S3") {
			t.Errorf("%s again: %q", strings.Join(args, " "), out)
		}
	}
	if n := len(versions(t, bucket)); n != nVersions {
		t.Errorf("after the reruns %d versions, want %d", n, nVersions)
	}
	// The other codec is refused as on disk, and nothing is committed.
	if code, _, stderr := rpRun("compress", "--codec", "zstd", book, "--archive-root", s3root); code == 0 || !strings.Contains(stderr, "decompress the stream") ||
		!strings.Contains(stderr, s3root+"/v1/binance-futures/BTCUSDT/2024-05-01/book/000000000.q.col") || strings.Contains(stderr, "chronicle-s3-rewrite") {
		t.Errorf("compress --codec zstd of a columnar stream: exit %d: %s", code, stderr)
	}

	for _, root := range []string{local, s3root} {
		mustRun(t, "decompress", book, trades, "--archive-root", root)
	}
	sameStreams(t, "decompress", local, bucket)
	sameReads(t, "decompress", local, s3root)
	// Back to the import's files, but the checkpoints index wrote.
	for k, v := range imported {
		if strings.HasSuffix(k, "book/checkpoints.ckpt") || strings.HasSuffix(k, "book/meta.json") {
			continue
		}
		if got := localStreams(t, local)[k]; got != v {
			t.Errorf("decompress: %s is not the import's", k)
		}
	}
	out := mustRun(t, "gc", "--archive-root", s3root, "--grace", "0s")
	if n := len(versions(t, bucket)); n != 2 || !strings.Contains(out, "removed "+strconv.Itoa(nVersions)+" versions") {
		t.Errorf("gc --grace 0s: %s; %d versions left, want 2", out, n)
	}
	sameReads(t, "gc", local, s3root)
}

// TestS3CompressCrash kills compress on S3 before each object it uploads
// in turn (the new version's files, then HEAD): readers see the old
// stream whole each time, and a rerun commits the compressed one, the
// same bytes as on disk.
func TestS3CompressCrash(t *testing.T) {
	s3root, bucket := s3Archive(t)
	local := t.TempDir()
	const trades = "binance-futures/BTCUSDT/trades"
	for _, root := range []string{local, s3root} {
		mustRun(t, "import", "--archive-root", root, "--type", "trades", "../../tardis/testdata/types/trades.csv")
	}
	dump := mustRun(t, "dump", trades, "--archive-root", local)
	mustRun(t, "compress", "--codec", "zstd", trades, "--archive-root", local)
	compressed := localStreams(t, local)

	const puts = 4                 // 000000000.q.zst, its .idx, meta.json, HEAD
	tmp := "TMPDIR=" + t.TempDir() // a killed run leaves its local copy there
	for n := range puts {
		code, _, stderr := cli([]string{tmp, "CHRONICLE_TEST_KILL_AT_PUT=" + strconv.Itoa(n)}, "compress", "--codec", "zstd", trades, "--archive-root", s3root)
		if code != -1 {
			t.Fatalf("kill at put %d: exit %d: %s", n, code, stderr)
		}
		if got := mustRun(t, "dump", trades, "--archive-root", s3root); got != dump {
			t.Errorf("killed at put %d: the stream reads differently", n)
		}
		if got := s3Streams(t, bucket); got[trades2key("meta.json")] == compressed[trades2key("meta.json")] {
			t.Errorf("killed at put %d (before HEAD): the compressed version is committed", n)
		}
		mustRun(t, "verify", "--archive-root", s3root)
	}
	// A kill past the last put: the run finishes (the hook never fires).
	if code, out, stderr := cli([]string{"CHRONICLE_TEST_KILL_AT_PUT=" + strconv.Itoa(puts)}, "compress", "--codec", "zstd", trades, "--archive-root", s3root); code != 0 || !strings.HasPrefix(out, "compressed "+s3root) {
		t.Fatalf("rerun: exit %d %q %s", code, out, stderr)
	}
	sameStreams(t, "rerun", local, bucket)
	if got := mustRun(t, "dump", trades, "--archive-root", s3root); got != dump {
		t.Error("after the rerun the stream reads differently")
	}
	// A kill before the first put uploads nothing: puts-1 leftovers.
	if n := len(versions(t, bucket)); n != puts+1 {
		t.Errorf("%d versions, want the import's, %d leftovers and the commit's", n, puts-1)
	}
	mustRun(t, "gc", "--archive-root", s3root, "--grace", "0s")
	if n := len(versions(t, bucket)); n != 1 {
		t.Errorf("after gc %d versions, want 1", n)
	}
	sameStreams(t, "gc", local, bucket)
}

func trades2key(name string) string { return "v1/binance-futures/BTCUSDT/2024-05-01/trades/" + name }

// TestS3RewriteHeadChanged: a HEAD replaced while Rewrite works (by a
// writer without the lease) is ErrStreamChanged, and HEAD stays the one
// that writer committed.
func TestS3RewriteHeadChanged(t *testing.T) {
	s3root, bucket := s3Archive(t)
	mustRun(t, "import", "--archive-root", s3root, "--type", "trades", "../../tardis/testdata/types/trades.csv")
	ctx := context.Background()
	arch, err := s3archive.Open(ctx, s3root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := objstore.New(ctx, bucket, "arch")
	if err != nil {
		t.Fatal(err)
	}
	head := trades2key(s3archive.HeadName)
	var theirs []byte
	p := archive.Partition{Venue: "binance-futures", Symbol: "BTCUSDT", Date: "2024-05-01", Stream: "trades"}
	_, err = arch.Rewrite(ctx, p, func(dir string) error {
		b, info, err := st.Get(ctx, head)
		if err != nil {
			return err
		}
		var h s3archive.Head
		if err := json.Unmarshal(b, &h); err != nil {
			return err
		}
		h.CommittedNS++
		theirs, _ = json.Marshal(h)
		if _, err := st.PutIfMatch(ctx, head, theirs, info.ETag); err != nil {
			return err
		}
		return archive.Compress(ctx, nil, dir)
	})
	if !errors.Is(err, s3archive.ErrStreamChanged) {
		t.Fatalf("Rewrite with HEAD replaced meanwhile: %v, want ErrStreamChanged", err)
	}
	if b, _, err := st.Get(ctx, head); err != nil || string(b) != string(theirs) {
		t.Errorf("HEAD after the refused commit: %s, %v", b, err)
	}
	if got := s3Streams(t, bucket)[trades2key("meta.json")]; strings.Contains(got, `"compressed":true`) {
		t.Error("the compressed stream is committed")
	}
}

// TestS3MultiSegment: a stream of two segments, each over s3archive's
// 1 MiB small-file size, so read through the read-ahead with the second
// prefetched near the end of the first, replays and dumps from S3 as from
// disk, before and after compress.
func TestS3MultiSegment(t *testing.T) {
	s3root, bucket := s3Archive(t)
	local := t.TempDir()
	const book = "binance-futures/BTCUSDT/book"
	for _, root := range []string{local, s3root} {
		out := mustRun(t, "import", "--archive-root", root, "--segment-size", "1100000", s3Types[0].src)
		if !strings.Contains(out, "segments=2 ") {
			t.Fatalf("import: %q, want 2 segments", out)
		}
	}
	for _, step := range []string{"import", "compress"} {
		if step == "compress" {
			for _, root := range []string{local, s3root} {
				mustRun(t, "compress", book, "--archive-root", root)
			}
		}
		sameStreams(t, step, local, bucket)
		for _, c := range [][]string{{"replay", book}, {"dump", book}} {
			l := dropLines(mustRun(t, append(c, "--archive-root", local)...), "wall", "updates/s")
			s := dropLines(mustRun(t, append(c, "--archive-root", s3root)...), "wall", "updates/s")
			if l != s || l == "" {
				t.Errorf("%s: %s: local and S3 outputs differ (%d, %d bytes)", step, c[0], len(l), len(s))
			}
		}
	}
}
