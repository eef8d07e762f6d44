package objstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// A run of contiguous reads starts with small chunks and few in flight, and
// grows to full chunks: a lookup that reads on a little past its block
// fetches little more than it reads.
func TestReadAheadRamp(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	data := randBytes(4, 8<<20+777)
	if err := st.Put(ctx, "obj", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	const full, mid = 1 << 20, 3 << 20
	for _, tc := range []struct {
		name      string
		from      int64 // offset of the first read
		step      int   // bytes per read
		reads     int   // how many
		wantCur   int64 // size of the chunk being read after them
		wantAhead []int64
	}{
		{"one-read", mid, 1000, 1, 0, nil}, // not contiguous with anything: an exact GET
		{"two-reads", mid, 1000, 2, firstChunk, []int64{2 * firstChunk}},
		{"large-reads", mid, 300 << 10, 2, 600 << 10, []int64{full}},                        // twice the read, then at most a chunk
		{"second-chunk", mid, 1000, 1 + firstChunk/1000 + 1, 2 * firstChunk, []int64{full}}, // still one ahead while growing
		{"grown", mid, 64 << 10, 24, full, []int64{full, full, full}},
		{"from-start", 0, 1000, 2, full, []int64{full, full, full}}, // a whole read: full chunks at once
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := st.Open(ctx, "obj")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			o.chunkSize, o.readAhead = full, 3
			buf := make([]byte, tc.step)
			off := tc.from
			for range tc.reads {
				n, err := o.ReadAt(buf, off)
				if err != nil || !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
					t.Fatalf("ReadAt(%d): %d, %v or wrong bytes", off, n, err)
				}
				off += int64(n)
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			var cur int64
			if o.cur != nil {
				cur = o.cur.size
			}
			var ahead []int64
			for _, c := range o.ahead {
				ahead = append(ahead, c.size)
			}
			if cur != tc.wantCur || !equal(ahead, tc.wantAhead) {
				t.Fatalf("after %d reads of %d from %d: chunk %d, ahead %v; want %d, %v", tc.reads, tc.step, tc.from, cur, ahead, tc.wantCur, tc.wantAhead)
			}
		})
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// OpenSized sends no HEAD: it pins the version of the first answer, and an
// object of another size or replaced after that first read fails.
func TestOpenSized(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	data := randBytes(5, 3<<20)
	if err := st.Put(ctx, "obj", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  string
		size int64
		want error // of the first read
	}{
		{"right-size", "obj", int64(len(data)), nil},
		{"wrong-size", "obj", int64(len(data)) + 1, ErrChanged},
		{"missing", "nothing", 10, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := st.OpenSized(ctx, tc.key, tc.size)
			defer o.Close()
			if o.ETag() != "" {
				t.Fatalf("ETag before a read: %q", o.ETag())
			}
			got, err := io.ReadAll(io.NewSectionReader(o, 0, tc.size))
			if !errors.Is(err, tc.want) {
				t.Fatalf("read: %v, want %v", err, tc.want)
			}
			if err == nil && (!bytes.Equal(got, data) || o.ETag() == "") {
				t.Fatalf("%d bytes read, ETag %q", len(got), o.ETag())
			}
		})
	}

	// Pinned by the first read: a replacement is not mixed in.
	o := st.OpenSized(ctx, "obj", int64(len(data)))
	defer o.Close()
	if _, err := o.ReadAt(make([]byte, 10), 0); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "obj", bytes.NewReader(randBytes(6, len(data))), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ReadAt(make([]byte, 10), 1<<20); !errors.Is(err, ErrChanged) {
		t.Fatalf("ReadAt after the object was replaced: %v, want ErrChanged", err)
	}
}
