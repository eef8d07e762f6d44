package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/internal/s3test"
)

// stream is a deterministic pseudo-random body of any length that is never
// held in memory whole.
func stream(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), 42}), n)
}

func TestMultipartBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 64 MiB")
	}
	st, _ := newStore(t)
	ctx := context.Background()
	const size = 64 << 20
	want := sha256.New()
	io.Copy(want, stream(9, size))

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
		}
	}()
	start := time.Now()
	err := st.Put(ctx, "big", stream(9, size), size)
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	grew := int64(peak.Load()) - int64(base.HeapAlloc)
	t.Logf("multipart upload of %d MiB in %d parts: %v, peak heap %d KiB above the start (parts %d MiB, %d in flight)",
		size>>20, (size+st.PartSize-1)/st.PartSize, elapsed.Round(time.Millisecond), grew>>10, st.PartSize>>20, uploadConcurrency)
	if limit := int64(uploadConcurrency+2) * st.PartSize; grew > limit {
		t.Fatalf("upload held %d bytes of heap, over %d: memory is not bounded by the parts", grew, limit)
	}

	o, err := st.Open(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	got := sha256.New()
	if n, err := io.Copy(got, io.NewSectionReader(o, 0, o.Size())); err != nil || n != size {
		t.Fatalf("reading back: %d bytes, %v", n, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("the object read back differs from what was uploaded")
	}

	// A body that ends early aborts the upload: the old object stays whole.
	if err := st.Put(ctx, "big", stream(10, size/2), size); err == nil {
		t.Fatal("Put of a short multipart body succeeded")
	}
	if info, err := st.Stat(ctx, "big"); err != nil || info.Size != size || info.ETag != o.ETag() {
		t.Fatalf("after a failed multipart Put: %+v, %v; want the old object", info, err)
	}
}

// Through a proxy that cuts connections at random moments every operation
// either fails or succeeds with the exact bytes; a put never leaves part of
// an object, and what a failed put leaves is the old object or the new one.
func TestFaultyConnections(t *testing.T) {
	for _, tc := range []struct{ name, maxAttempts string }{
		{"sdk-retries", ""}, // as users run it: cuts are mostly retried away
		{"no-retries", "1"}, // every cut surfaces as a failed operation
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_MAX_ATTEMPTS", tc.maxAttempts)
			faultyConnections(t)
		})
	}
}

func faultyConnections(t *testing.T) {
	direct, srv := newStore(t)
	ctx := context.Background()
	proxy := s3test.NewCutProxy(t, srv.Endpoint[len("http://"):], 1, 0)
	proxy.Set(50, 12<<20)
	t.Setenv("AWS_ENDPOINT_URL", proxy.Endpoint())
	st, err := New(ctx, direct.Bucket(), direct.Prefix())
	if err != nil {
		t.Fatal(err)
	}

	sizes := []int{0, 1 << 10, 300 << 10, 3 << 20, 9 << 20} // the last is multipart
	// A put whose connection was cut after its body was sent can still be
	// committed by the server after the client saw the error, even after the
	// next put has started. So the object is, at any check, the last put
	// that succeeded or one of the failed puts since: always a whole body
	// (every body is distinct), never a part of one.
	var cur []byte       // what "obj" holds for sure, nil before the first put
	var pending [][]byte // failed puts since the last successful one
	whole := func(b []byte) bool {
		if cur != nil && bytes.Equal(b, cur) {
			return true
		}
		for _, p := range pending {
			if bytes.Equal(b, p) {
				return true
			}
		}
		return false
	}
	inRange := func(r []byte, off int64) bool {
		for _, p := range append([][]byte{cur}, pending...) {
			if off < int64(len(p)) && bytes.Equal(r, p[off:min(int64(len(p)), off+200_000)]) {
				return true
			}
		}
		return false
	}
	var putOK, putErr, getOK, getErr int
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; i < 40 && time.Now().Before(deadline); i++ {
		body := randBytes(uint64(100+i), sizes[i%len(sizes)])
		if i%7 == 3 {
			go func() { time.Sleep(time.Duration(i) * time.Millisecond); proxy.CutAll() }()
		}
		err := st.Put(ctx, "obj", bytes.NewReader(body), int64(len(body)))
		now, _, gerr := direct.Get(ctx, "obj")
		if err == nil {
			putOK++
			if gerr != nil || !bytes.Equal(now, body) {
				t.Fatalf("put %d reported success, the server holds %d bytes (%v), want the %d put", i, len(now), gerr, len(body))
			}
			cur, pending = body, nil
		} else {
			putErr++
			pending = append(pending, body)
			switch {
			case cur == nil && errors.Is(gerr, ErrNotFound):
			case gerr == nil && whole(now):
			default:
				t.Fatalf("put %d failed (%v) and left %d bytes (%v): neither the old object nor a whole new one", i, err, len(now), gerr)
			}
		}
		if cur == nil && len(pending) == 0 {
			continue
		}
		if got, _, err := st.Get(ctx, "obj"); err == nil {
			getOK++
			if !whole(got) {
				t.Fatalf("get %d reported success with %d bytes that are no whole object put", i, len(got))
			}
		} else if !errors.Is(err, ErrNotFound) || cur != nil {
			getErr++
		}
		if n := len(body); n > 0 {
			off := int64(i*7919) % int64(n)
			r, err := st.GetRange(ctx, "obj", off, 200_000)
			if err == nil && !inRange(r, off) {
				t.Fatalf("ranged get %d at %d reported success with wrong bytes", i, off)
			}
			if o, err := st.Open(ctx, "obj"); err == nil {
				var sink bytes.Buffer
				_, err := io.Copy(&sink, io.NewSectionReader(o, 0, o.Size()))
				o.Close()
				if err == nil && !whole(sink.Bytes()) {
					t.Fatalf("read-ahead read %d reported success with wrong bytes", i)
				}
			}
		}

		key := "cond/" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if etag, err := st.PutIfAbsent(ctx, key, body); err == nil {
			if got, info, gerr := direct.Get(ctx, key); gerr != nil || !bytes.Equal(got, body) || info.ETag != etag {
				t.Fatalf("PutIfAbsent %d reported success, the server holds %d bytes, %v", i, len(got), gerr)
			}
		} else if errors.Is(err, ErrExists) {
			t.Fatalf("PutIfAbsent %d on a fresh key reported ErrExists: %v", i, err)
		}
	}
	t.Logf("puts: %d ok, %d failed; gets: %d ok, %d failed; connections cut: %d", putOK, putErr, getOK, getErr, proxy.Cuts())
	if proxy.Cuts() == 0 || putOK == 0 || getOK == 0 {
		t.Fatal("the fault test exercised nothing: no cuts, or nothing got through")
	}
}
