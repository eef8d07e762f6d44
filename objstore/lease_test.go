package objstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestLease(t *testing.T) {
	st, _ := newStore(t)
	st.ClockSkew = 0 // one machine: expiry is exact
	ctx := context.Background()
	const ttl = 400 * time.Millisecond

	a, err := st.AcquireLease(ctx, "v1/x/.book.lock", "host-a", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Valid() {
		t.Fatal("a fresh lease is not valid")
	}
	_, err = st.AcquireLease(ctx, "v1/x/.book.lock", "host-b", ttl)
	var held *HeldError
	if !errors.Is(err, ErrLeaseHeld) || !errors.As(err, &held) || held.Owner != "host-a" {
		t.Fatalf("second taker: %v, want ErrLeaseHeld by host-a", err)
	}

	// Renewing keeps the lease past its first ttl.
	for range 3 {
		time.Sleep(ttl / 2)
		if err := a.Renew(ctx); err != nil {
			t.Fatalf("Renew: %v", err)
		}
		if _, err := st.AcquireLease(ctx, "v1/x/.book.lock", "host-b", ttl); !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("taker of a renewed lease: %v, want ErrLeaseHeld", err)
		}
	}

	// A holder that stops renewing (a dead machine) loses the lease after ttl.
	time.Sleep(ttl + 50*time.Millisecond)
	if a.Valid() {
		t.Fatal("lease still valid by the holder's clock after ttl")
	}
	b, err := st.AcquireLease(ctx, "v1/x/.book.lock", "host-b", ttl)
	if err != nil {
		t.Fatalf("taking over an expired lease: %v", err)
	}
	if err := a.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("old holder's Renew after takeover: %v, want ErrLeaseLost", err)
	}
	if err := a.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("old holder's Release after takeover: %v, want ErrLeaseLost", err)
	}

	// Release frees it for the next taker at once.
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := st.AcquireLease(ctx, "v1/x/.book.lock", "host-c", time.Minute)
	if err != nil {
		t.Fatalf("taking a released lease: %v", err)
	}

	// The clock-skew allowance delays a takeover past the written expiry.
	st.ClockSkew = time.Hour
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AcquireLease(ctx, "v1/x/.book.lock", "host-d", time.Millisecond); err != nil {
		t.Fatal(err) // released: free at once whatever the skew
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := st.AcquireLease(ctx, "v1/x/.book.lock", "host-e", ttl); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("taker within the skew allowance: %v, want ErrLeaseHeld", err)
	}
}

func TestLeaseTakeoverRace(t *testing.T) {
	st, _ := newStore(t)
	st.ClockSkew = 0
	ctx := context.Background()
	for round := range 3 {
		key := fmt.Sprintf("lock-%d", round)
		if _, err := st.AcquireLease(ctx, key, "dead", time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		leases := make([]*Lease, 12)
		won := race(t, len(leases), ErrLeaseHeld, func(i int) error {
			l, err := st.AcquireLease(ctx, key, fmt.Sprintf("taker-%d", i), time.Minute)
			leases[i] = l
			return err
		})
		if len(won) != 1 {
			t.Fatalf("round %d: %d takers won an expired lease (%v), want exactly one", round, len(won), won)
		}
		if err := leases[won[0]].Renew(ctx); err != nil {
			t.Fatalf("round %d: winner's Renew: %v", round, err)
		}
	}
}

// TestLeaseOfDeadOwner: AcquireLeaseOr takes over an unexpired lease only
// when its owner is reported dead, and the old holder has lost it.
func TestLeaseOfDeadOwner(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	const key = "v1/x/.trades.lock"
	a, err := st.AcquireLease(ctx, key, "host pid 1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	alive := func(string) bool { return false }
	if _, err := st.AcquireLeaseOr(ctx, key, "host pid 2", time.Hour, alive); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("a live owner's lease: %v, want ErrLeaseHeld", err)
	}
	var asked string
	dead := func(owner string) bool { asked = owner; return owner == "host pid 1" }
	b, err := st.AcquireLeaseOr(ctx, key, "host pid 2", time.Hour, dead)
	if err != nil || asked != "host pid 1" {
		t.Fatalf("a dead owner's lease: %v (asked about %q)", err, asked)
	}
	if err := a.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("the dead owner's Renew: %v, want ErrLeaseLost", err)
	}
	if _, err := st.AcquireLeaseOr(ctx, key, "host pid 3", time.Hour, dead); !errors.Is(err, ErrLeaseHeld) {
		t.Errorf("the new holder's lease: %v, want ErrLeaseHeld", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Error(err)
	}
}
