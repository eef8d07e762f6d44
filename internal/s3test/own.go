package s3test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// Own is a server one test starts for itself from BinPath, so that it can
// kill it (SIGKILL, mid-request) and start it again on the same port and
// the same data directory without disturbing any other test.
type Own struct {
	Server
	Root string // the posix backend's directory: buckets are its subdirectories

	t    testing.TB
	bin  string
	addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	waited chan struct{}
	out    *bytes.Buffer
}

// StartOwn starts a server for t alone (never the one the environment
// names: killing that would fail other tests) and points the AWS_*
// environment of the test at it. Without the binary, t.Skip says how to
// install it. The server is killed when t ends.
func StartOwn(t testing.TB) *Own {
	t.Helper()
	bin := BinPath()
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no versitygw binary for a server of this test's own (it kills it): run `scripts/s3server.sh install` " +
			"(builds versitygw " + Version + " once) or set CHRONICLE_S3_BIN to a directory holding versitygw-" + Version)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	o := &Own{t: t, bin: bin, Root: filepath.Join(t.TempDir(), "root"), addr: fmt.Sprintf("127.0.0.1:%d", port)}
	o.Server = Server{Endpoint: "http://" + o.addr, AccessKey: AccessKey, SecretKey: SecretKey, Region: Region}
	if err := os.MkdirAll(o.Root, 0o755); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	t.Cleanup(o.Kill)
	if err := o.Restart(); err != nil {
		t.Fatal(err)
	}
	o.setenv(t)
	return o
}

// Kill stops the server with SIGKILL, as a crash or a power cut would,
// and waits until it is gone. Killing a stopped server does nothing.
func (o *Own) Kill() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd == nil {
		return
	}
	_ = o.cmd.Process.Kill()
	<-o.waited
	o.cmd = nil
}

// Restart starts the server again (after Kill) on the same port and data
// directory, and waits until it answers.
func (o *Own) Restart() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd != nil {
		return fmt.Errorf("s3test: %s is running", o.addr)
	}
	cmd := exec.Command(o.bin, "--port", o.addr, "--access", AccessKey, "--secret", SecretKey,
		"--region", Region, "--quiet", "posix", o.Root)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("s3test: starting %s: %v", o.bin, err)
	}
	var exited atomic.Bool
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); exited.Store(true); close(waited) }()
	o.cmd, o.waited, o.out = cmd, waited, out
	if err := waitUp(o.Endpoint, &exited); err != nil {
		_ = cmd.Process.Kill()
		<-waited
		o.cmd = nil
		return fmt.Errorf("s3test: %s on %s: %v; its output:\n%s", o.bin, o.addr, err, out.String())
	}
	return nil
}
