package s3archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/objstore"
	"github.com/chronicle-archive/chronicle/vfs"
)

// ErrHoldsOther: the stream holds data from another input; --force replaces it.
var ErrHoldsOther = errors.New("the stream holds data imported from another file")

// ErrBusy: another machine holds the partition's lease.
var ErrBusy = errors.New("another chronicle process is publishing this stream")

// Result is what Publish did.
type Result struct {
	Dir             string // the stream's virtual directory (Root/v1/...)
	Version         string // the committed version, "" when nothing was committed
	AlreadyImported bool   // the stream already held this input: nothing changed
}

// LedgerHas reports whether the archive's ledger has an entry for the input
// with blake3 hash in p's stream: the check made before any work, so that
// a rerun or a second machine says "already imported" at once. A data
// entry counts only while the stream's HEAD still holds that input.
func (a *Archive) LedgerHas(ctx context.Context, p archive.Partition, hash string) (*archive.Ledger, bool, error) {
	b, _, err := a.store.Get(ctx, ledgerPrefix(p)+hash+"."+p.Stream+".json")
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var l archive.Ledger
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, false, nil // not ours to judge here: the import goes on
	}
	if l.Status == archive.LedgerNoData {
		return &l, true, nil
	}
	h, _, err := a.readHead(ctx, streamKey(p))
	if err != nil {
		return nil, false, err
	}
	return &l, h != nil && h.SourceHash == hash, nil
}

// Publish uploads the stream of p that an import wrote into the local
// archive localRoot (with ingest.Import, Root: localRoot) and commits it,
// with its ledger entries. It holds p's lease meanwhile. Without force, a
// stream that holds another input is ErrHoldsOther, and one that holds this
// input already is Result.AlreadyImported. A local partition with no
// stream (Tardis's empty file) publishes only its no-data ledger entry.
//
// A Publish that fails or is killed leaves the stream as it was: its
// uploaded version is never named by HEAD and GC removes it.
func (a *Archive) Publish(ctx context.Context, localRoot string, p archive.Partition, force bool) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	sk := streamKey(p)
	res := &Result{Dir: a.root + "/" + sk}
	local := vfs.Default
	m, err := archive.ReadMeta(local, p.Dir(localRoot))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	hash := ""
	if m != nil {
		hash = m.SourceHash
	}

	lease, err := a.acquire(ctx, p, hash)
	if err != nil {
		return nil, err
	}
	stop := lease.keep(ctx)
	defer func() {
		stop()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = lease.l.Release(rctx)
	}()

	if m == nil { // no data: only the ledger
		return res, a.putLedgers(ctx, localRoot, p, "")
	}
	old, etag, err := a.readHead(ctx, sk)
	if err != nil {
		return nil, err
	}
	if old != nil && !force {
		if old.SourceHash == hash {
			res.AlreadyImported = true
			// A publish killed after its commit left no ledger entry.
			return res, a.putLedgers(ctx, localRoot, p, hash)
		}
		return nil, fmt.Errorf("%s/%s: %w (blake3 %.16s…, this one %.16s…); use --force to replace it", a.url, sk, ErrHoldsOther, old.SourceHash, hash)
	}

	dir := p.Dir(localRoot)
	ents, err := local.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	h, err := newHead(ents, hash)
	if err != nil {
		return nil, err
	}
	body, err := a.uploadVersion(ctx, sk, dir, h, lease)
	if err != nil {
		return nil, err
	}
	// The commit point.
	if old == nil {
		_, err = a.store.PutIfAbsent(ctx, headKey(sk), body)
	} else {
		_, err = a.store.PutIfMatch(ctx, headKey(sk), body, etag)
	}
	switch {
	case errors.Is(err, objstore.ErrExists) || errors.Is(err, objstore.ErrChanged):
		// Only a writer without our lease could have committed: say so.
		return nil, fmt.Errorf("%s/%s: not committed, another writer committed meanwhile: %w", a.url, sk, err)
	case err != nil:
		// A write whose answer was lost may have been stored: the stream
		// is the old version or this one, whole, and a rerun settles it.
		return nil, fmt.Errorf("%s/%s: the commit's outcome is unknown (the stream is the old version or this one, whole; rerun the import): %w", a.url, sk, err)
	}
	a.fs.forget(sk)
	res.Version = h.Version
	return res, a.putLedgers(ctx, localRoot, p, hash)
}

// newHead is the commit object of a new version holding the regular
// files of ents, sorted by name.
func newHead(ents []fs.DirEntry, sourceHash string) (*Head, error) {
	h := &Head{Version: newVersion(time.Now()), SourceHash: sourceHash}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		h.Files = append(h.Files, HeadEntry{Name: e.Name(), Size: info.Size()})
	}
	sort.Slice(h.Files, func(i, j int) bool { return h.Files[i].Name < h.Files[j].Name })
	return h, nil
}

// uploadVersion puts h's files, from the local directory dir, under the
// new version's name, where no reader looks, and returns the commit
// object to write: only if the lease is still ours, right before the
// commit point.
func (a *Archive) uploadVersion(ctx context.Context, sk, dir string, h *Head, lease *heldLease) ([]byte, error) {
	for _, fe := range h.Files {
		if err := a.upload(ctx, sk+"/"+h.Version+"/"+fe.Name, filepath.Join(dir, fe.Name), fe.Size); err != nil {
			return nil, err
		}
	}
	if err := lease.check(); err != nil {
		return nil, err
	}
	h.CommittedNS = time.Now().UnixNano()
	body, _ := json.Marshal(h)
	a.hook(headKey(sk))
	return body, nil
}

// upload puts one local file at key.
func (a *Archive) upload(ctx context.Context, key, local string, size int64) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	a.hook(key)
	return a.store.Put(ctx, key, f, size)
}

func (a *Archive) hook(key string) {
	if a.BeforePut != nil {
		a.BeforePut(key)
	}
}

// putLedgers copies the local ledger entries of p's stream to the archive,
// each created if absent (replaced when it differs, under our lease: a
// --force re-import of the same file), and removes the stream's entries of
// other inputs, which the commit replaced (keep: the committed input's hash;
// "" keeps all, as a no-data entry describes no stream).
func (a *Archive) putLedgers(ctx context.Context, localRoot string, p archive.Partition, keep string) error {
	dir := p.LedgerDir(localRoot)
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	suffix := "." + p.Stream + ".json"
	prefix := ledgerPrefix(p)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), suffix) || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		key := prefix + e.Name()
		a.hook(key)
		if _, err := a.store.PutIfAbsent(ctx, key, b); errors.Is(err, objstore.ErrExists) {
			cur, info, gerr := a.store.Get(ctx, key)
			if gerr != nil {
				return gerr
			}
			if !bytes.Equal(cur, b) {
				if _, err := a.store.PutIfMatch(ctx, key, b, info.ETag); err != nil {
					return err
				}
			}
		} else if err != nil {
			return err
		}
	}
	if keep == "" {
		return nil
	}
	files, _, err := a.store.ListDir(ctx, prefix)
	if err != nil {
		return err
	}
	for _, o := range files {
		name := path.Base(o.Key)
		hash, ok := strings.CutSuffix(name, suffix)
		if !ok || hash == keep || len(hash) != 64 {
			continue
		}
		if err := a.store.Delete(ctx, o.Key); err != nil {
			return err
		}
	}
	return nil
}

// heldLease is a partition lease kept alive in the background.
type heldLease struct {
	l    *objstore.Lease
	ttl  time.Duration
	mu   sync.Mutex
	lost error
}

// owner names this process in a lease, with the input it publishes, so
// that a second publisher of the same input waits for the first instead of
// failing (and then finds it imported).
func (a *Archive) owner(hash string) string {
	if hash == "" {
		return a.Owner
	}
	return a.Owner + " src=" + hash
}

// acquire takes p's lease. Held by another process publishing the same
// input, it waits (up to the lease's ttl and the clock-skew allowance, the
// longest a dead holder keeps it); held for anything else, it fails at
// once with ErrBusy naming the holder, as a local lock does.
func (a *Archive) acquire(ctx context.Context, p archive.Partition, hash string) (*heldLease, error) {
	deadline := time.Now().Add(a.LeaseTTL + a.store.ClockSkew)
	for {
		l, err := a.store.AcquireLeaseOr(ctx, lockKey(p), a.owner(hash), a.LeaseTTL, deadHere)
		if err == nil {
			return &heldLease{l: l, ttl: a.LeaseTTL}, nil
		}
		var held *objstore.HeldError
		if !errors.As(err, &held) {
			return nil, err
		}
		if hash == "" || !strings.HasSuffix(held.Owner, " src="+hash) || time.Now().After(deadline) {
			return nil, fmt.Errorf("%s/%s: %w (%v); try again when it has finished", a.url, streamKey(p), ErrBusy, held)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// keep renews the lease every third of its ttl until stop is called.
func (h *heldLease) keep(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(h.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				// Under mu: check reads the lease's deadline Renew sets.
				h.mu.Lock()
				err := h.l.Renew(ctx)
				valid := h.l.Valid()
				h.mu.Unlock()
				if err == nil {
					t.Reset(h.ttl / 3)
					continue
				}
				if errors.Is(err, objstore.ErrLeaseLost) || !valid {
					h.mu.Lock()
					h.lost = err
					h.mu.Unlock()
					return
				}
				// A request that failed (the SDK's retries spent): the
				// lease is ours until Valid says otherwise, so try again
				// soon rather than give up a long upload for one blip.
				t.Reset(renewRetry)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// renewRetry is how soon a renewal that failed is tried again (a variable
// for the tests).
var renewRetry = 2 * time.Second

// check says whether the lease is still ours, just before the commit.
func (h *heldLease) check() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost != nil {
		return fmt.Errorf("not committed: %w", h.lost)
	}
	if !h.l.Valid() {
		return errors.New("not committed: the partition's lease ran out before the upload finished")
	}
	return nil
}

func defaultOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s pid %d", host, os.Getpid())
}

// deadHere reports whether a lease's owner is a process of this machine
// that no longer runs (killed mid-publish): its lease is taken over at
// once instead of after its ttl. Another machine's holder is judged by the
// lease's expiry alone. (A pid reused since is taken for alive: the lease
// then expires as usual.)
func deadHere(owner string) bool {
	host, _ := os.Hostname()
	var h string
	var pid int
	if n, _ := fmt.Sscanf(owner, "%s pid %d", &h, &pid); n != 2 || h != host || pid <= 0 || pid == os.Getpid() {
		return false
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	return errors.Is(proc.Signal(syscall.Signal(0)), os.ErrProcessDone)
}
