package objstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrLeaseHeld: another owner holds an unexpired lease (a *HeldError).
	ErrLeaseHeld = errors.New("lease held by another owner")
	// ErrLeaseLost: someone else took the lease over; stop writing.
	ErrLeaseLost = errors.New("lease lost")
)

// HeldError says who holds a lease and until when (by their clock).
type HeldError struct {
	Owner   string
	Expires time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%v: %q until %s", ErrLeaseHeld, e.Owner, e.Expires.UTC().Format(time.RFC3339))
}

func (e *HeldError) Is(target error) bool { return target == ErrLeaseHeld }

// leaseBody is the lock object. Expires is Unix nanoseconds; 0 means free.
type leaseBody struct {
	Owner   string `json:"owner"`
	Expires int64  `json:"expires_unix_ns"`
}

// Lease is a held lock object. Its methods are not for concurrent use.
type Lease struct {
	s        *Store
	key      string
	owner    string
	ttl      time.Duration
	etag     string    // of our last write
	deadline time.Time // local, monotonic: when we stop trusting the lease
}

// AcquireLease takes the lease on key for owner for ttl, or fails at once
// with a *HeldError (errors.Is ErrLeaseHeld) if another owner holds it. See
// the package doc for what expiry means across machines.
func (s *Store) AcquireLease(ctx context.Context, key, owner string, ttl time.Duration) (*Lease, error) {
	return s.AcquireLeaseOr(ctx, key, owner, ttl, nil)
}

// AcquireLeaseOr is AcquireLease, except that an unexpired lease whose
// owner dead reports gone (a process of this machine that no longer runs,
// which the caller can tell and the store cannot) is taken over as an
// expired one is, with PutIfMatch on the ETag read. dead may be nil.
func (s *Store) AcquireLeaseOr(ctx context.Context, key, owner string, ttl time.Duration, dead func(owner string) bool) (*Lease, error) {
	l := &Lease{s: s, key: key, owner: owner, ttl: ttl}
	// A lock object deleted (by gc) or taken over between our read and our
	// write sends us round again, to report the new holder; three rounds
	// are plenty for that.
	var err error
	for range 3 {
		var etag string
		start := time.Now()
		if etag, err = s.PutIfAbsent(ctx, key, l.body(start)); err == nil {
			l.etag, l.deadline = etag, start.Add(ttl)
			return l, nil
		}
		if !errors.Is(err, ErrExists) {
			return nil, err
		}
		cur, info, gerr := s.Get(ctx, key)
		if errors.Is(gerr, ErrNotFound) {
			err = gerr
			continue
		}
		if gerr != nil {
			return nil, gerr
		}
		var held leaseBody
		if jerr := json.Unmarshal(cur, &held); jerr != nil {
			return nil, s.fail("acquire-lease", key, fmt.Errorf("not a lease object: %w", jerr))
		}
		if held.Expires != 0 && !time.Now().After(time.Unix(0, held.Expires).Add(s.ClockSkew)) && (dead == nil || !dead(held.Owner)) {
			return nil, s.fail("acquire-lease", key, &HeldError{Owner: held.Owner, Expires: time.Unix(0, held.Expires)})
		}
		start = time.Now()
		if etag, err = s.PutIfMatch(ctx, key, l.body(start), info.ETag); err == nil {
			l.etag, l.deadline = etag, start.Add(ttl)
			return l, nil
		}
		if !errors.Is(err, ErrChanged) {
			return nil, err
		}
	}
	return nil, err
}

// body is the lock object for a write sent at now.
func (l *Lease) body(now time.Time) []byte {
	b, _ := json.Marshal(leaseBody{Owner: l.owner, Expires: now.Add(l.ttl).UnixNano()})
	return b
}

// Valid reports whether the lease is still ours by our own clock: the
// holder must stop writing once it is false, even before Renew says so.
func (l *Lease) Valid() bool { return time.Now().Before(l.deadline) }

// Renew extends the lease by its ttl from now. ErrLeaseLost if someone else
// took it over (only possible after it expired).
func (l *Lease) Renew(ctx context.Context) error {
	start := time.Now()
	etag, err := l.s.PutIfMatch(ctx, l.key, l.body(start), l.etag)
	if errors.Is(err, ErrChanged) {
		return l.s.fail("renew-lease", l.key, ErrLeaseLost)
	}
	if err != nil {
		return err
	}
	l.etag, l.deadline = etag, start.Add(l.ttl)
	return nil
}

// Release frees the lease for the next taker at once. ErrLeaseLost if
// someone else had already taken it over.
func (l *Lease) Release(ctx context.Context) error {
	b, _ := json.Marshal(leaseBody{Owner: l.owner})
	_, err := l.s.PutIfMatch(ctx, l.key, b, l.etag)
	l.deadline = time.Time{}
	if errors.Is(err, ErrChanged) {
		return l.s.fail("release-lease", l.key, ErrLeaseLost)
	}
	return err
}
