package s3archive

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/objstore"
)

// GCReport is what GC did.
type GCReport struct {
	Removed []string // version directories removed (stream key/@version)
	Objects int      // objects deleted
	Bytes   int64
	Kept    []string // unreferenced versions kept: younger than the grace period
	Busy    []string // streams skipped: being published (their lease is held)
}

// DefaultGrace is how long GC leaves an unreferenced version alone: the
// lease's ttl and the clock-skew allowance, so that neither an upload that
// stalled past its lease nor a reader still reading a version that a
// --force just replaced loses its files.
const DefaultGrace = DefaultLeaseTTL + objstore.DefaultClockSkew

// GC removes every version directory that no HEAD names and that is older
// than grace: what crashed or failed uploads left, and versions that a
// --force replaced more than grace ago (a reader that resolved the old
// HEAD before then may still be reading them). It takes each such stream's
// lease first and skips a stream whose lease is held. A committed version
// is never removed.
func (a *Archive) GC(ctx context.Context, grace time.Duration) (*GCReport, error) {
	objs, err := a.store.List(ctx, "v1/")
	if err != nil {
		return nil, err
	}
	// stream key -> version -> its objects
	versions := map[string]map[string][]objstore.Info{}
	for _, o := range objs {
		parts := strings.Split(o.Key, "/")
		if len(parts) < 7 || !strings.HasPrefix(parts[5], "@") {
			continue
		}
		sk := strings.Join(parts[:5], "/")
		if versions[sk] == nil {
			versions[sk] = map[string][]objstore.Info{}
		}
		versions[sk][parts[5]] = append(versions[sk][parts[5]], o)
	}
	keys := make([]string, 0, len(versions))
	for sk := range versions {
		keys = append(keys, sk)
	}
	sort.Strings(keys)
	rep := &GCReport{}
	for _, sk := range keys {
		if err := a.gcStream(ctx, sk, versions[sk], grace, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (a *Archive) gcStream(ctx context.Context, sk string, vs map[string][]objstore.Info, grace time.Duration, rep *GCReport) error {
	parts := strings.Split(sk, "/")
	p := archive.Partition{Venue: parts[1], Symbol: parts[2], Date: parts[3], Stream: parts[4]}
	h, _, err := a.readHead(ctx, sk)
	if err != nil {
		return err
	}
	var todo []string
	for v := range vs {
		if h == nil || v != h.Version {
			todo = append(todo, v)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	l, err := a.store.AcquireLeaseOr(ctx, lockKey(p), a.Owner+" gc", a.LeaseTTL, deadHere)
	if errors.Is(err, objstore.ErrLeaseHeld) {
		rep.Busy = append(rep.Busy, sk)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = l.Release(rctx)
	}()
	// Read again under the lease: a commit may have come in meanwhile.
	if h, _, err = a.readHead(ctx, sk); err != nil {
		return err
	}
	sort.Strings(todo)
	now := time.Now()
	for _, v := range todo {
		if h != nil && v == h.Version {
			continue
		}
		// A version is garbage from when it was started, or, if HEAD was
		// committed after that, from when HEAD replaced it.
		since, ok := versionTime(v)
		if h != nil && (!ok || time.Unix(0, h.CommittedNS).After(since)) {
			since, ok = time.Unix(0, h.CommittedNS), true
		}
		if !ok || now.Sub(since) < grace || !l.Valid() {
			rep.Kept = append(rep.Kept, sk+"/"+v)
			continue
		}
		for _, o := range vs[v] {
			if err := a.store.Delete(ctx, o.Key); err != nil {
				return err
			}
			rep.Objects++
			rep.Bytes += o.Size
		}
		rep.Removed = append(rep.Removed, sk+"/"+v)
	}
	return nil
}
