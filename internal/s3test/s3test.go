// Package s3test gives tests a real S3 server: versitygw with its posix
// backend, started on 127.0.0.1 from a binary that scripts/s3server.sh
// installs, or the server the environment already names. Never a fake: the
// conditional writes, ranged reads and multipart uploads under test are the
// server's own.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is the pinned server release; scripts/s3server.sh installs the same.
const Version = "v1.8.0"

// Fixed credentials of a server this package or scripts/s3server.sh starts.
const (
	AccessKey = "chronicle-test"
	SecretKey = "chronicle-test-secret"
	Region    = "us-east-1"
)

// Server is an S3 endpoint for tests.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
}

const howTo = "no S3 server for this test: run `eval \"$(scripts/s3server.sh start)\"` " +
	"(installs versitygw " + Version + " once, starts it on 127.0.0.1) and rerun, " +
	"or set CHRONICLE_S3_BIN to a directory holding versitygw-" + Version

// BinPath is where scripts/s3server.sh installs the server binary.
func BinPath() string {
	dir := os.Getenv("CHRONICLE_S3_BIN")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(cache, "chronicle", "s3server")
	}
	return filepath.Join(dir, "versitygw-"+Version)
}

// Start returns a server for t, and points the AWS_* environment of the test
// at it so objstore.New finds it. With CHRONICLE_TEST_S3=1 and
// AWS_ENDPOINT_URL set (scripts/s3server.sh start prints both), that server
// is used; else a server is started from BinPath for this test alone and
// stopped when it ends; else t.Skip says how to run the test. Because it
// sets the environment, it is not for tests that call t.Parallel.
func Start(t testing.TB) *Server {
	t.Helper()
	if ep := os.Getenv("AWS_ENDPOINT_URL"); ep != "" && os.Getenv("CHRONICLE_TEST_S3") == "1" {
		srv := &Server{Endpoint: ep, AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), Region: os.Getenv("AWS_REGION")}
		if srv.Region == "" {
			srv.Region = Region
		}
		srv.setenv(t)
		return srv
	}
	bin := BinPath()
	if _, err := os.Stat(bin); err != nil {
		t.Skip(howTo)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	root := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--port", addr, "--access", AccessKey, "--secret", SecretKey,
		"--region", Region, "--quiet", "posix", root)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("s3test: starting %s: %v", bin, err)
	}
	var exited atomic.Bool
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); exited.Store(true); close(waited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})
	srv := &Server{Endpoint: "http://" + addr, AccessKey: AccessKey, SecretKey: SecretKey, Region: Region}
	if err := waitUp(srv.Endpoint, &exited); err != nil {
		t.Fatalf("s3test: %s on %s: %v; its output:\n%s", bin, addr, err, out.String())
	}
	srv.setenv(t)
	return srv
}

// setenv makes the standard AWS variables name srv, and keeps a developer's
// own profile and files out of the test.
func (srv *Server) setenv(t testing.TB) {
	t.Setenv("AWS_ENDPOINT_URL", srv.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_REGION", srv.Region)
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
}

// Client is a plain SDK client of srv, for what the code under test does not
// do itself (making buckets, looking behind its back).
func (srv *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
}

var buckets atomic.Int64

// NewBucket creates an empty bucket with a name unique to this test.
func (srv *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := strings.ToLower(fmt.Sprintf("t%d-%d-%s", time.Now().UnixNano()%1e9, buckets.Add(1), sanitize(t.Name())))
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if _, err := srv.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("s3test: creating bucket %s on %s: %v", name, srv.Endpoint, err)
	}
	return name
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitUp polls until the server answers HTTP at all (any status will do: an
// anonymous request is refused, which proves it is serving).
func waitUp(endpoint string, exited *atomic.Bool) error {
	deadline := time.Now().Add(30 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if exited.Load() {
			return fmt.Errorf("exited before answering")
		}
		if resp, err := c.Get(endpoint + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer within 30s")
}
