package s3archive

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/internal/s3test"
	"github.com/chronicle-archive/chronicle/objstore"
	"github.com/chronicle-archive/chronicle/vfs"
)

// The end-to-end tests (every data type, --force under readers, two
// processes, crashes, gc) are in cmd/chronicle/s3_test.go; these check the
// package's own rules.

func TestPaths(t *testing.T) {
	for _, tt := range []struct {
		in      string
		url     bool
		virtual string
	}{
		{"s3://b/p", true, "/s3:/b/p"},
		{"s3://b", true, "/s3:/b"},
		{"s3://b/p/v1/x/", true, "/s3:/b/p/v1/x"},
		{"/s3:/b/p", true, "/s3:/b/p"},
		{"s3://", false, "/s3:"},
		{"archive", false, "archive"},
		{"/data/s3:/x", false, "/data/s3:/x"},
	} {
		if got := IsURL(tt.in); got != tt.url {
			t.Errorf("IsURL(%q) = %v", tt.in, got)
		}
		if got := VirtualPath(tt.in); got != tt.virtual {
			t.Errorf("VirtualPath(%q) = %q, want %q", tt.in, got, tt.virtual)
		}
	}
}

func TestVersionNames(t *testing.T) {
	now := time.Date(2026, 12, 1, 23, 59, 58, 123456789, time.UTC)
	a, b := newVersion(now), newVersion(now)
	if a == b || !strings.HasPrefix(a, "@20261201T235958.123456789Z-") {
		t.Fatalf("versions %q, %q", a, b)
	}
	if got, ok := versionTime(a); !ok || !got.Equal(now) {
		t.Errorf("versionTime(%q) = %v, %v", a, got, ok)
	}
	for _, bad := range []string{"000000000.q", "@", "@x-y", "@20261201T235958Z"} {
		if _, ok := versionTime(bad); ok {
			t.Errorf("versionTime(%q) accepted", bad)
		}
	}
}

func TestDeadHere(t *testing.T) {
	host, _ := os.Hostname()
	for _, tt := range []struct {
		owner string
		dead  bool
	}{
		{defaultOwner(), false}, // ourselves
		{host + " pid 1 src=ab", false},
		{host + " pid 2147483000", true},
		{"elsewhere pid 2147483000", false}, // another machine: its expiry decides
		{"not an owner", false},
	} {
		if got := deadHere(tt.owner); got != tt.dead {
			t.Errorf("deadHere(%q) = %v, want %v", tt.owner, got, tt.dead)
		}
	}
}

// TestFSAndGC publishes a small stream by hand: the FS shows only the
// committed version, refuses writes, hides uncommitted uploads; GC removes
// a leftover only past the grace period and never the committed version.
func TestFSAndGC(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	st, err := objstore.New(ctx, bucket, "pre")
	if err != nil {
		t.Fatal(err)
	}
	arch := New(st)
	p := archive.Partition{Venue: "v", Symbol: "S", Date: "2024-05-01", Stream: "trades"}
	local := t.TempDir()
	dir := p.Dir(local)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "meta.json"), []byte(`{"source_hash":"`+strings.Repeat("a", 64)+`"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "000000000.q"), []byte("segment bytes"), 0o644)
	res, err := arch.Publish(ctx, local, p, false)
	if err != nil || res.Version == "" {
		t.Fatalf("publish: %+v, %v", res, err)
	}
	if res, err := arch.Publish(ctx, local, p, false); err != nil || !res.AlreadyImported {
		t.Fatalf("publish again: %+v, %v", res, err)
	}
	// A leftover: an upload never committed.
	if err := st.Put(ctx, streamKey(p)+"/"+newVersion(time.Now())+"/000000000.q", strings.NewReader("junk"), 4); err != nil {
		t.Fatal(err)
	}

	fsys := arch.FS(nil)
	sdir := arch.Root() + "/v1/v/S/2024-05-01/trades"
	ents, err := fsys.ReadDir(sdir)
	if err != nil || len(ents) != 2 || ents[0].Name() != "000000000.q" || ents[1].Name() != "meta.json" {
		t.Fatalf("ReadDir(stream) = %v, %v", ents, err)
	}
	if b, err := vfs.ReadFile(fsys, sdir+"/000000000.q"); err != nil || string(b) != "segment bytes" {
		t.Errorf("segment: %q, %v", b, err)
	}
	if ents, err := fsys.ReadDir(arch.Root() + "/v1/v/S/2024-05-01"); err != nil || len(ents) != 2 { // trades/ and .trades.lock
		t.Errorf("ReadDir(date) = %v, %v", ents, err)
	}
	if _, err := fsys.Stat(sdir + "/" + HeadName); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("HEAD is visible as a stream file: %v", err)
	}
	if _, err := fsys.Create(sdir + "/x"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Create on S3: %v", err)
	}
	if err := fsys.RemoveAll(sdir); !errors.Is(err, ErrReadOnly) {
		t.Errorf("RemoveAll on S3: %v", err)
	}
	if f, err := fsys.Create(filepath.Join(t.TempDir(), "out")); err != nil {
		t.Errorf("a local path through the same FS: %v", err)
	} else {
		f.Close()
	}

	rep, err := arch.GC(ctx, time.Hour)
	if err != nil || len(rep.Removed) != 0 || len(rep.Kept) != 1 {
		t.Fatalf("gc with an hour's grace: %+v, %v", rep, err)
	}
	rep, err = arch.GC(ctx, 0)
	if err != nil || len(rep.Removed) != 1 || rep.Objects != 1 {
		t.Fatalf("gc: %+v, %v", rep, err)
	}
	if b, err := vfs.ReadFile(New(st).FS(nil), sdir+"/000000000.q"); err != nil || string(b) != "segment bytes" {
		t.Errorf("after gc: %q, %v", b, err)
	}
}
