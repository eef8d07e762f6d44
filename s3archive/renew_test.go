package s3archive

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/internal/s3test"
	"github.com/chronicle-archive/chronicle/objstore"
)

// offProxy forwards 127.0.0.1 connections to the server, or, while off,
// drops every connection, as a link that is down for a moment.
type offProxy struct {
	ln  net.Listener
	off atomic.Bool
	wg  sync.WaitGroup
	mu  sync.Mutex
	cs  []net.Conn
}

func newOffProxy(t *testing.T, target string) *offProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &offProxy{ln: ln}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.off.Load() {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.cs = append(p.cs, c, up)
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(up, c); up.Close(); c.Close() })
			p.wg.Go(func() { io.Copy(c, up); up.Close(); c.Close() })
		}
	})
	t.Cleanup(func() { ln.Close(); p.down(); p.wg.Wait() })
	return p
}

// down drops every open connection; with off set, new ones too.
func (p *offProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cs {
		c.Close()
	}
	p.cs = nil
}

// A renewal that fails for a moment (the link down, the SDK's retries
// spent) is tried again while the lease is still valid: the publish keeps
// its lease instead of refusing to commit after a long upload.
func TestLeaseRenewRidesOutABlip(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	proxy := newOffProxy(t, strings.TrimPrefix(srv.Endpoint, "http://"))
	t.Setenv("AWS_ENDPOINT_URL", "http://"+proxy.ln.Addr().String())
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	ctx := context.Background()
	st, err := objstore.New(ctx, bucket, "arch")
	if err != nil {
		t.Fatal(err)
	}
	a := New(st)
	a.LeaseTTL = 900 * time.Millisecond // renewed every 300 ms
	defer func(d time.Duration) { renewRetry = d }(renewRetry)
	renewRetry = 50 * time.Millisecond
	p := archive.Partition{Venue: "v", Symbol: "s", Date: "2024-05-01", Stream: "trades"}
	h, err := a.acquire(ctx, p, "")
	if err != nil {
		t.Fatal(err)
	}
	stop := h.keep(ctx)
	defer stop()
	// Down from 200 ms to 450 ms: the renewal at 300 ms fails.
	time.Sleep(200 * time.Millisecond)
	proxy.off.Store(true)
	proxy.down()
	time.Sleep(250 * time.Millisecond)
	proxy.off.Store(false)
	// Past the first lease's ttl: only a later renewal keeps it valid.
	time.Sleep(900 * time.Millisecond)
	if err := h.check(); err != nil {
		t.Fatalf("after a 250 ms blip: %v", err)
	}
}
