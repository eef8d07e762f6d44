package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chronicle-archive/chronicle/internal/s3test"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in             string
		bucket, prefix string
		ok             bool
	}{
		{"s3://b", "b", "", true},
		{"s3://b/", "b", "", true},
		{"s3://b/p", "b", "p", true},
		{"s3://b/p/q/", "b", "p/q", true},
		{"s3://b//p", "b", "p", true},
		{"s3://", "", "", false},
		{"s3:///p", "", "", false},
		{"S3://b/p", "", "", false},
		{"/data/archive", "", "", false},
		{"s3://b?x=1", "", "", false},
	} {
		b, p, ok := ParseURL(tc.in)
		if b != tc.bucket || p != tc.prefix || ok != tc.ok {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q, %v", tc.in, b, p, ok, tc.bucket, tc.prefix, tc.ok)
		}
	}
}

func TestIsLocalEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"http://127.0.0.1:7070", true},
		{"http://localhost:9000", true},
		{"http://s3.localhost", true},
		{"http://[::1]:9000", true},
		{"https://10.1.2.3", true},
		{"https://s3.eu-west-1.amazonaws.com", false},
		{"https://storage.example.com:443", false},
		{"::bad", false},
	} {
		if got := isLocalEndpoint(tc.in); got != tc.want {
			t.Errorf("isLocalEndpoint(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// newStore starts (or finds) a real server and returns a Store on a fresh
// bucket under a prefix, so prefix handling is always exercised.
func newStore(t testing.TB) (*Store, *s3test.Server) {
	t.Helper()
	srv := s3test.Start(t)
	st, err := New(context.Background(), srv.NewBucket(t), "archive/root")
	if err != nil {
		t.Fatal(err)
	}
	return st, srv
}

func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	_, _ = r.Read(b)
	return b
}

func TestOperations(t *testing.T) {
	st, srv := newStore(t)
	ctx := context.Background()
	data := randBytes(1, 100_000)

	if err := st.Put(ctx, "v1/a/seg-0.q", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	// The key is under the prefix on the server: the same layout as on disk.
	if _, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(st.Bucket()), Key: aws.String("archive/root/v1/a/seg-0.q")}); err != nil {
		t.Fatalf("object not at prefix/key: %v", err)
	}

	got, info, err := st.Get(ctx, "v1/a/seg-0.q")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %d bytes, err %v; want the %d put", len(got), err, len(data))
	}
	sinfo, err := st.Stat(ctx, "v1/a/seg-0.q")
	if err != nil || sinfo.Size != int64(len(data)) || sinfo.ETag != info.ETag || sinfo.ETag == "" {
		t.Fatalf("Stat = %+v, %v; want size %d etag %s", sinfo, err, len(data), info.ETag)
	}

	for _, tc := range []struct {
		off, n int64
		want   []byte
		err    bool
	}{
		{0, 10, data[:10], false},
		{12345, 1000, data[12345:13345], false},
		{int64(len(data)) - 5, 100, data[len(data)-5:], false}, // short at the end
		{int64(len(data)), 1, nil, true},                       // past the end
	} {
		b, err := st.GetRange(ctx, "v1/a/seg-0.q", tc.off, tc.n)
		if (err != nil) != tc.err || !bytes.Equal(b, tc.want) {
			t.Errorf("GetRange(%d, %d) = %d bytes, %v; want %d bytes, error %v", tc.off, tc.n, len(b), err, len(tc.want), tc.err)
		}
	}

	// List pages through more objects than one page holds.
	st.listPageSize = 3
	var want []string
	for i := range 8 {
		k := fmt.Sprintf("v1/list/k%02d", i)
		want = append(want, k)
		if err := st.Put(ctx, k, strings.NewReader(k), int64(len(k))); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := st.List(ctx, "v1/list/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, in := range infos {
		keys = append(keys, in.Key)
		if in.Size != int64(len(in.Key)) {
			t.Errorf("List: %s has size %d, want %d", in.Key, in.Size, len(in.Key))
		}
	}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Fatalf("List = %v, want %v", keys, want)
	}

	if err := st.Delete(ctx, "v1/a/seg-0.q"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "v1/a/seg-0.q"); err != nil {
		t.Fatalf("deleting a deleted key: %v", err)
	}
	_, _, err = st.Get(ctx, "v1/a/seg-0.q")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	// Errors name the bucket and the full key.
	if want := "s3://" + st.Bucket() + "/archive/root/v1/a/seg-0.q: get: "; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q does not start with %q", err, want)
	}
	if _, err := st.Stat(ctx, "v1/a/seg-0.q"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat after Delete: %v, want ErrNotFound", err)
	}

	// A missing bucket is not a missing object.
	nb, err := New(ctx, "no-such-bucket-here", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := nb.Get(ctx, "k"); err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Fatalf("Get from a missing bucket: %v, want NoSuchBucket, not ErrNotFound", err)
	}

	// A body shorter or longer than its stated size is refused.
	if err := st.Put(ctx, "v1/short", bytes.NewReader(data[:10]), 11); err == nil {
		t.Fatal("Put of a short body succeeded")
	}
	if err := st.Put(ctx, "v1/long", bytes.NewReader(data[:12]), 11); err == nil {
		t.Fatal("Put of a long body succeeded")
	}
	for _, k := range []string{"v1/short", "v1/long"} {
		if _, err := st.Stat(ctx, k); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s after a refused Put: %v, want ErrNotFound", k, err)
		}
	}
}

func TestConditionalWrites(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()

	e1, err := st.PutIfAbsent(ctx, "commit", []byte("v1"))
	if err != nil || e1 == "" {
		t.Fatalf("PutIfAbsent on a new key: %q, %v", e1, err)
	}
	if _, err := st.PutIfAbsent(ctx, "commit", []byte("other")); !errors.Is(err, ErrExists) {
		t.Fatalf("PutIfAbsent on an existing key: %v, want ErrExists", err)
	}
	// Our own bytes again count as done (a retried request whose answer was lost).
	if e, err := st.PutIfAbsent(ctx, "commit", []byte("v1")); err != nil || e != e1 {
		t.Fatalf("PutIfAbsent of the same bytes: %q, %v; want %q, nil", e, err, e1)
	}

	e2, err := st.PutIfMatch(ctx, "commit", []byte("v2"), e1)
	if err != nil || e2 == "" || e2 == e1 {
		t.Fatalf("PutIfMatch with the current ETag: %q, %v", e2, err)
	}
	if _, err := st.PutIfMatch(ctx, "commit", []byte("v3"), e1); !errors.Is(err, ErrChanged) {
		t.Fatalf("PutIfMatch with a stale ETag: %v, want ErrChanged", err)
	}
	if _, err := st.PutIfMatch(ctx, "absent", []byte("x"), e1); !errors.Is(err, ErrChanged) {
		t.Fatalf("PutIfMatch on a missing key: %v, want ErrChanged", err)
	}
	if got, _, _ := st.Get(ctx, "commit"); string(got) != "v2" {
		t.Fatalf("commit holds %q, want v2", got)
	}

	if err := st.DeleteIfMatch(ctx, "commit", e1); !errors.Is(err, ErrChanged) {
		t.Fatalf("DeleteIfMatch with a stale ETag: %v, want ErrChanged", err)
	}
	if _, err := st.Stat(ctx, "commit"); err != nil {
		t.Fatalf("object gone after a refused DeleteIfMatch: %v", err)
	}
	if err := st.DeleteIfMatch(ctx, "commit", e2); err != nil {
		t.Fatalf("DeleteIfMatch with the current ETag: %v", err)
	}
	if _, err := st.Stat(ctx, "commit"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after DeleteIfMatch: %v, want ErrNotFound", err)
	}
}

// race runs n writers at once and returns the indexes of those that won;
// every loser must fail with loseErr.
func race(t *testing.T, n int, loseErr error, write func(i int) error) []int {
	t.Helper()
	var mu sync.Mutex
	var won []int
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			err := write(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, i)
			case !errors.Is(err, loseErr):
				t.Errorf("writer %d: %v, want success or %v", i, err, loseErr)
			}
		})
	}
	close(start)
	wg.Wait()
	return won
}

func TestConditionalRaces(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	const n = 16
	for round := range 5 {
		key := fmt.Sprintf("race/%d", round)
		won := race(t, n, ErrExists, func(i int) error {
			_, err := st.PutIfAbsent(ctx, key, fmt.Appendf(nil, "writer %d", i))
			return err
		})
		if len(won) != 1 {
			t.Fatalf("round %d: PutIfAbsent winners %v, want exactly one", round, won)
		}
		got, info, err := st.Get(ctx, key)
		if err != nil || string(got) != fmt.Sprintf("writer %d", won[0]) {
			t.Fatalf("round %d: object %q, %v; want the winner's bytes", round, got, err)
		}

		won = race(t, n, ErrChanged, func(i int) error {
			_, err := st.PutIfMatch(ctx, key, fmt.Appendf(nil, "replacer %d", i), info.ETag)
			return err
		})
		if len(won) != 1 {
			t.Fatalf("round %d: PutIfMatch winners %v, want exactly one", round, won)
		}
		if got, _, _ := st.Get(ctx, key); string(got) != fmt.Sprintf("replacer %d", won[0]) {
			t.Fatalf("round %d: object %q after PutIfMatch race, want replacer %d", round, got, won[0])
		}
	}
}

func TestReaderAt(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	const chunk = 64 << 10
	data := randBytes(2, 3*chunk+12345)
	if err := st.Put(ctx, "obj", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	open := func() *Object {
		o, err := st.Open(ctx, "obj")
		if err != nil {
			t.Fatal(err)
		}
		o.chunkSize = chunk
		t.Cleanup(func() { o.Close() })
		return o
	}

	// Sequential reads of several sizes, straddling chunk borders.
	for _, tc := range []struct{ step, readAhead int }{
		{1000, 4}, {4096, 1}, {chunk, 0}, {chunk, 4}, {chunk + 1, 2}, {3 * chunk, 1}, {len(data) + 10, 4},
	} {
		step := tc.step
		o := open()
		o.readAhead = tc.readAhead
		var got []byte
		buf := make([]byte, step)
		for off := int64(0); ; {
			n, err := o.ReadAt(buf, off)
			got = append(got, buf[:n]...)
			off += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("step %d: ReadAt(%d): %v", step, off, err)
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("step %d: sequential read differs from the object (%d vs %d bytes)", step, len(got), len(data))
		}
	}

	// io.Copy through a SectionReader, as a replay would read.
	var sink bytes.Buffer
	if _, err := io.Copy(&sink, io.NewSectionReader(open(), 0, int64(len(data)))); err != nil || !bytes.Equal(sink.Bytes(), data) {
		t.Fatalf("io.Copy: %d bytes, %v", sink.Len(), err)
	}

	// Random reads, as a block-index lookup does, concurrently.
	o := open()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 25 {
				off := r.Int64N(int64(len(data)))
				buf := make([]byte, 1+r.IntN(2*chunk))
				n, err := o.ReadAt(buf, off)
				if want := min(len(buf), len(data)-int(off)); n != want || (err != nil && !(err == io.EOF && n < len(buf))) {
					t.Errorf("ReadAt(%d, len %d) = %d, %v; want %d", off, len(buf), n, err, want)
					return
				}
				if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
					t.Errorf("ReadAt(%d, len %d): wrong bytes", off, len(buf))
					return
				}
			}
		})
	}
	wg.Wait()
	if n, err := o.ReadAt(make([]byte, 1), int64(len(data))); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at the end = %d, %v; want 0, EOF", n, err)
	}

	// A replaced object is not mixed into the reads of the old one.
	o = open()
	if _, err := o.ReadAt(make([]byte, 10), 0); err != nil {
		t.Fatal(err)
	}
	other := randBytes(3, len(data))
	if err := st.Put(ctx, "obj", bytes.NewReader(other), int64(len(other))); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ReadAt(make([]byte, 10), chunk*2); !errors.Is(err, ErrChanged) {
		t.Fatalf("ReadAt after the object was replaced: %v, want ErrChanged", err)
	}
}

// New finds the server, region and credentials wherever the AWS tools look.
func TestConfigFromEnvironment(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	localhost := strings.Replace(srv.Endpoint, "127.0.0.1", "localhost", 1)
	dir := t.TempDir()
	cfgFile, credFile := dir+"/config", dir+"/credentials"
	writeFile(t, cfgFile, "[profile chron]\nregion = "+srv.Region+"\nendpoint_url = "+localhost+"\n")
	writeFile(t, credFile, "[chron]\naws_access_key_id = "+srv.AccessKey+"\naws_secret_access_key = "+srv.SecretKey+"\n")

	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"env-ip", nil}, // as s3test.Start set it: AWS_ENDPOINT_URL=http://127.0.0.1:PORT
		{"env-localhost", map[string]string{"AWS_ENDPOINT_URL": localhost}},
		{"service-specific-endpoint", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_S3": srv.Endpoint}},
		{"no-region", map[string]string{"AWS_REGION": ""}},
		{"profile", map[string]string{
			"AWS_PROFILE": "chron", "AWS_CONFIG_FILE": cfgFile, "AWS_SHARED_CREDENTIALS_FILE": credFile,
			"AWS_ENDPOINT_URL": "", "AWS_REGION": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			st, err := New(context.Background(), bucket, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.PutIfAbsent(context.Background(), "k", []byte(tc.name)); err != nil {
				t.Fatal(err)
			}
			if got, _, err := st.Get(context.Background(), "k"); err != nil || string(got) != tc.name {
				t.Fatalf("Get = %q, %v", got, err)
			}
		})
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
