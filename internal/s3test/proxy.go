package s3test

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// CutProxy forwards 127.0.0.1 connections to an S3 server and cuts some
// of them after a random number of bytes, or all of them on demand; with a
// latency, it holds each request for that long, as a distant server would.
// The fault tests of objstore and of the CLI's S3 imports go through it.
type CutProxy struct {
	ln      net.Listener
	target  string
	latency time.Duration
	cuts    atomic.Int64

	mu     sync.Mutex
	rng    *rand.Rand
	cutPct int   // share of new connections that get a byte budget
	budget int64 // the most bytes a cut connection carries
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// NewCutProxy starts a proxy to target (host:port) that cuts nothing until
// Set says otherwise; seed makes its choices repeatable. It stops at the
// end of the test.
func NewCutProxy(t testing.TB, target string, seed uint64, latency time.Duration) *CutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &CutProxy{ln: ln, target: target, latency: latency, rng: rand.New(rand.NewPCG(seed, 7)), conns: map[net.Conn]bool{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.CutAll()
		p.wg.Wait()
	})
	return p
}

// Endpoint is the proxy's URL, for AWS_ENDPOINT_URL.
func (p *CutProxy) Endpoint() string { return "http://" + p.ln.Addr().String() }

// Cuts is how many connections the proxy has cut so far.
func (p *CutProxy) Cuts() int64 { return p.cuts.Load() }

// Set makes cutPct percent of the connections opened from now on carry at
// most a random number of bytes below budget.
func (p *CutProxy) Set(cutPct int, budget int64) {
	p.mu.Lock()
	p.cutPct, p.budget = cutPct, budget
	p.mu.Unlock()
}

// CutAll closes every open connection now.
func (p *CutProxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		p.cuts.Add(1)
	}
}

func (p *CutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		left := int64(-1) // unlimited
		if p.cutPct > 0 && p.rng.IntN(100) < p.cutPct {
			left = p.rng.Int64N(p.budget)
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		var budget atomic.Int64
		budget.Store(left)
		pipe := func(dst, src net.Conn, latency time.Duration) {
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				time.Sleep(latency)
				if n > 0 && left >= 0 {
					if rest := budget.Add(-int64(n)); rest < 0 {
						dst.Write(buf[:max(0, int64(n)+rest)])
						p.cuts.Add(1)
						break
					}
				}
				if n > 0 {
					if _, werr := dst.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			c.Close()
			up.Close()
		}
		p.wg.Go(func() { pipe(up, c, p.latency) })
		p.wg.Go(func() {
			pipe(c, up, 0)
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, up)
			p.mu.Unlock()
		})
	}
}
