package objstore

import (
	"bytes"
	"context"
	"testing"
)

// Prefetch before any read starts a run from offset 0 that the first
// reads continue: the header read at 0 is served from the prefetched
// chunk, not by a GET of its own; once read, an object ignores it.
func TestPrefetch(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	data := randBytes(7, 3<<20+555)
	if err := st.Put(ctx, "obj", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	const full = 1 << 20
	o := st.OpenSized(ctx, "obj", int64(len(data)))
	defer o.Close()
	o.chunkSize, o.readAhead = full, 3
	o.Prefetch()
	o.mu.Lock()
	var ahead []int64
	for _, c := range o.ahead {
		ahead = append(ahead, c.off, c.size)
	}
	o.mu.Unlock()
	if !equal(ahead, []int64{0, full, full, full}) {
		t.Fatalf("after Prefetch: chunks (offset, size) %v, want [0 %d %d %d]", ahead, full, full, full)
	}
	buf := make([]byte, 64)
	for off := int64(0); off < int64(len(data)); {
		n, err := o.ReadAt(buf, off)
		if n == 0 || !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
			t.Fatalf("ReadAt(%d): %d, %v or wrong bytes", off, n, err)
		}
		if off == 0 {
			o.mu.Lock()
			cur := o.cur
			o.mu.Unlock()
			if cur == nil || cur.off != 0 || cur.size != full {
				t.Fatalf("the first read did not take the prefetched chunk: cur %+v", cur)
			}
			buf = make([]byte, 64<<10)
		}
		off += int64(n)
	}
	o.Prefetch() // read already: nothing to do
	o.mu.Lock()
	n := len(o.ahead)
	o.mu.Unlock()
	if n != 0 {
		t.Errorf("Prefetch after the whole read queued %d chunks", n)
	}
}
