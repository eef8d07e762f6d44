// Package s3archive keeps a Chronicle archive in an S3 bucket with the
// guarantees it has on disk: an import is all or nothing, readers never see
// part of one (not even while --force replaces a stream), the ledger says
// "already imported" to the second of two machines importing one file, and
// what a crashed upload leaves is never read.
//
// # Layout
//
// Under s3://BUCKET/PREFIX the keys are the paths of a local archive, except
// that a stream's files live in a version directory and a commit object
// says which version is the stream:
//
//	PREFIX/v1/VENUE/SYMBOL/DATE/STREAM/HEAD               the commit object (JSON)
//	PREFIX/v1/VENUE/SYMBOL/DATE/STREAM/@VERSION/meta.json the files of one version,
//	PREFIX/v1/VENUE/SYMBOL/DATE/STREAM/@VERSION/000000000.q  byte for byte those of disk
//	PREFIX/v1/VENUE/SYMBOL/DATE/.STREAM.lock              the partition's lease
//	PREFIX/imports/v1/tardis/VENUE/SYMBOL/DATE/HASH.STREAM.json  ledger entries, as on disk
//
// Publish uploads every file of a version first, under a fresh @VERSION no
// reader looks at, and writes HEAD last with a conditional write
// (create-if-absent for a first import, replace-if-unchanged on the ETag
// it read for --force): that one write is the commit point. Readers (FS)
// resolve HEAD first and read only the version it names, so they see the
// old stream or the new one, whole.
//
// # Reading
//
// FS is a read-only vfs.FS over the archive, rooted at a virtual path
// (Root: /s3:/BUCKET/PREFIX) so that every reader of the archive works on
// it unchanged: <Root>/v1/V/S/D/STREAM/meta.json is HEAD's version's
// meta.json. A process resolves each stream's HEAD once and keeps it, so
// all it reads of a stream comes from one version even if a --force
// commits meanwhile; a superseded version stays readable until GC removes
// it, which it does only after a grace period.
package s3archive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/objstore"
)

// HeadName is the commit object's name in a stream's directory.
const HeadName = "HEAD"

// DefaultLeaseTTL is the partition lease's time to live. A publisher
// renews it every third of that; a lease left by a machine that died is
// free DefaultLeaseTTL + objstore.DefaultClockSkew (2m30s) after its last
// renewal.
const DefaultLeaseTTL = 2 * time.Minute

// virtualPrefix starts the virtual root of an S3 archive: an absolute path
// (readers take absolute paths of stream directories) that names no real
// directory.
const virtualPrefix = "/s3:/"

// IsURL reports whether root names an S3 archive: s3://BUCKET[/PREFIX], or
// its virtual path /s3:/BUCKET[/PREFIX].
func IsURL(root string) bool {
	_, _, ok := parse(root)
	return ok
}

func parse(root string) (bucket, prefix string, ok bool) {
	if rest, found := strings.CutPrefix(root, virtualPrefix); found {
		root = "s3://" + rest
	}
	return objstore.ParseURL(root)
}

// VirtualPath maps s3://BUCKET/KEY to the virtual path /s3:/BUCKET/KEY that
// FS serves; any other string is returned as it is.
func VirtualPath(s string) string {
	if rest, ok := strings.CutPrefix(s, "s3://"); ok {
		return path.Clean(virtualPrefix + rest)
	}
	return s
}

// Archive is an archive in one bucket under one prefix.
type Archive struct {
	store *objstore.Store
	url   string // s3://bucket/prefix
	root  string // the virtual root, /s3:/bucket/prefix

	// LeaseTTL is the partition lease's time to live (DefaultLeaseTTL).
	LeaseTTL time.Duration
	// Owner names this process in the leases it takes.
	Owner string
	// BeforePut, when set, is called before each object Publish uploads
	// (the version's files, then HEAD, then the ledger): tests kill the
	// process there.
	BeforePut func(key string)

	fs *s3FS
}

// Open opens the archive root names (s3://BUCKET/PREFIX or its virtual
// path), configured from the environment as the AWS tools are (see
// objstore.New). It does not contact the server.
func Open(ctx context.Context, root string) (*Archive, error) {
	bucket, prefix, ok := parse(root)
	if !ok {
		return nil, fmt.Errorf("%q is not s3://BUCKET/PREFIX", root)
	}
	st, err := objstore.New(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	return New(st), nil
}

// New is the archive in st's bucket under st's prefix.
func New(st *objstore.Store) *Archive {
	url := "s3://" + st.Bucket()
	root := virtualPrefix + st.Bucket()
	if p := st.Prefix(); p != "" {
		url += "/" + p
		root += "/" + p
	}
	a := &Archive{store: st, url: url, root: root, LeaseTTL: DefaultLeaseTTL, Owner: defaultOwner()}
	a.fs = newFS(a)
	return a
}

// URL is s3://BUCKET/PREFIX.
func (a *Archive) URL() string { return a.url }

// Root is the virtual root path that FS serves: pass it wherever a reader
// wants the archive root.
func (a *Archive) Root() string { return a.root }

// Store is the object store underneath.
func (a *Archive) Store() *objstore.Store { return a.store }

// Display turns the virtual paths in s back into s3:// URLs, for messages.
func (a *Archive) Display(s string) string {
	return strings.ReplaceAll(s, a.root, a.url)
}

// Head is the commit object: the version that is the stream, and its files.
type Head struct {
	Version     string      `json:"version"` // "@..." directory name
	SourceHash  string      `json:"source_hash"`
	CommittedNS int64       `json:"committed_unix_ns"`
	Files       []HeadEntry `json:"files"` // meta.json included
}

// HeadEntry is one file of the committed version.
type HeadEntry struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

func streamKey(p archive.Partition) string {
	return path.Join("v1", p.Venue, p.Symbol, p.Date, p.Stream)
}
func headKey(streamKey string) string { return streamKey + "/" + HeadName }
func lockKey(p archive.Partition) string {
	return path.Join("v1", p.Venue, p.Symbol, p.Date, "."+p.Stream+".lock")
}
func ledgerPrefix(p archive.Partition) string {
	return path.Join("imports", "v1", "tardis", p.Venue, p.Symbol, p.Date) + "/"
}

// readHead reads a stream's commit object: nil and "" when there is none.
func (a *Archive) readHead(ctx context.Context, streamKey string) (*Head, string, error) {
	b, info, err := a.store.Get(ctx, headKey(streamKey))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	h, err := decodeHead(b)
	if err != nil {
		return nil, "", fmt.Errorf("%s/%s: not a commit object: %v", a.url, headKey(streamKey), err)
	}
	return h, info.ETag, nil
}

// decodeHead reads a commit object and checks what readers build keys and
// paths from: the version is a name newVersion makes, and every file is a
// plain name (never a path out of the version) with a size, listed once.
func decodeHead(b []byte) (*Head, error) {
	var h Head
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, err
	}
	if _, ok := versionTime(h.Version); !ok || strings.ContainsAny(h.Version, "/\\") {
		return nil, fmt.Errorf("version %q is not a version name", h.Version)
	}
	seen := make(map[string]bool, len(h.Files))
	for _, e := range h.Files {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\\\x00") {
			return nil, fmt.Errorf("file %q is not a plain file name", e.Name)
		}
		if e.Size < 0 {
			return nil, fmt.Errorf("file %q has size %d", e.Name, e.Size)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("file %q is listed twice", e.Name)
		}
		seen[e.Name] = true
	}
	return &h, nil
}

// newVersion names a version directory by the time it was started (which
// GC's grace period reads) and 64 random bits (two uploads never share one).
func newVersion(now time.Time) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return "@" + now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(r[:])
}

// versionTime is when a version directory was started; false for a name
// newVersion did not make.
func versionTime(v string) (time.Time, bool) {
	s, ok := strings.CutPrefix(v, "@")
	if !ok {
		return time.Time{}, false
	}
	ts, _, ok := strings.Cut(s, "-")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405.000000000Z", ts)
	return t, err == nil
}
