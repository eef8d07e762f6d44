//go:build chronicle_crashhook

// This file is compiled only with -tags chronicle_crashhook, by the crash
// tests in internal/reliability. It wraps vfs.Default so that every
// mutating file-system operation Chronicle makes is numbered from 0 in the
// order it happens, which gives deterministic kill points covering every
// phase of a command (parsing, segment rolls, sealing, compression,
// meta.json, the publishing rename or exchange, the ledger):
//
//	CHRONICLE_CRASH_AT_OP=N   SIGKILL this process just before operation N
//	                          (so operations 0..N-1 happened, N did not)
//	CHRONICLE_OP_LOG=FILE     append one line per operation to FILE:
//	                          "<index> <kind> <path>", written (unbuffered)
//	                          before the operation runs
//
// The number of lines in the log of an uninterrupted run is the number of
// operations it makes; the tests pick kill points from it.
//
// Reads (Open, ReadDir, Stat) are not counted: they change nothing a crash
// could leave behind. The counting is the same as vfs.ErrorFS's, plus the
// ops that ErrorFS does not distinguish (link, exchange, syncdir, writeat
// are listed under their own names here).
package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/chronicle-archive/chronicle/s3archive"
	"github.com/chronicle-archive/chronicle/vfs"
)

func init() {
	at := int64(-1)
	if s := os.Getenv("CHRONICLE_CRASH_AT_OP"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "chronicle-crashhook: bad CHRONICLE_CRASH_AT_OP %q\n", s)
			os.Exit(exitUsage)
		}
		at = n
	}
	logPath := os.Getenv("CHRONICLE_OP_LOG")
	if at < 0 && logPath == "" {
		return
	}
	h := &crashFS{FS: vfs.Default, at: at}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "chronicle-crashhook: %v\n", err)
			os.Exit(exitError)
		}
		h.log = f
	}
	vfs.Default = h
}

// crashFS numbers mutating operations and kills the process at one of them.
type crashFS struct {
	vfs.FS
	at  int64
	log *os.File

	mu sync.Mutex
	n  int64
}

// op records one operation and dies if it is the chosen one. Operations
// are serialised, so that the numbering is the order they happen in.
func (c *crashFS) op(kind, path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.n
	c.n++
	if c.log != nil {
		// One write(2) per line, before the operation: the log survives
		// the kill, and its last line is the operation that did not run.
		c.log.WriteString(strconv.FormatInt(i, 10) + " " + kind + " " + path + "\n")
	}
	if i == c.at {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		// The signal is delivered at once; never go on to run the op.
		for {
			time.Sleep(time.Second)
		}
	}
}

func (c *crashFS) Create(name string) (vfs.File, error) {
	c.op("create", name)
	f, err := c.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &crashFile{File: f, c: c}, nil
}

func (c *crashFS) Rename(o, n string) error {
	c.op("rename", o+" -> "+n)
	return c.FS.Rename(o, n)
}

func (c *crashFS) RenameNoReplace(o, n string) error {
	c.op("rename-noreplace", o+" -> "+n)
	return c.FS.RenameNoReplace(o, n)
}

func (c *crashFS) Exchange(a, b string) error {
	c.op("exchange", a+" <-> "+b)
	return c.FS.Exchange(a, b)
}

func (c *crashFS) Link(o, n string) error {
	c.op("link", o+" -> "+n)
	return c.FS.Link(o, n)
}

func (c *crashFS) Remove(name string) error {
	c.op("remove", name)
	return c.FS.Remove(name)
}

func (c *crashFS) RemoveAll(name string) error {
	c.op("removeall", name)
	return c.FS.RemoveAll(name)
}

func (c *crashFS) MkdirAll(name string, p fs.FileMode) error {
	c.op("mkdir", name)
	return c.FS.MkdirAll(name, p)
}

func (c *crashFS) SyncDir(name string) error {
	c.op("syncdir", name)
	return c.FS.SyncDir(name)
}

func (c *crashFS) Lock(name string) (io.Closer, error) {
	c.op("lock", name)
	return c.FS.Lock(name)
}

type crashFile struct {
	vfs.File
	c *crashFS
}

func (f *crashFile) Write(p []byte) (int, error) {
	f.c.op("write", f.Name())
	return f.File.Write(p)
}

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	f.c.op("writeat", f.Name())
	return f.File.WriteAt(p, off)
}

func (f *crashFile) Sync() error {
	f.c.op("sync", f.Name())
	return f.File.Sync()
}

func (f *crashFile) Close() error {
	f.c.op("close", f.Name())
	return f.File.Close()
}

// CHRONICLE_CRASH_AT_PUT=N kills the process just before the Nth (from 0)
// object an import publishes to an S3 archive: the version's files, then
// its commit object, then the ledger entries.
func init() {
	s := os.Getenv("CHRONICLE_CRASH_AT_PUT")
	if s == "" {
		return
	}
	at, err := strconv.ParseInt(s, 10, 64)
	if err != nil || at < 0 {
		fmt.Fprintf(os.Stderr, "chronicle-crashhook: bad CHRONICLE_CRASH_AT_PUT %q\n", s)
		os.Exit(exitUsage)
	}
	s3CrashHook = func(arch *s3archive.Archive) {
		var mu sync.Mutex
		var n int64
		arch.BeforePut = func(string) {
			mu.Lock()
			defer mu.Unlock()
			if n == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				for {
					time.Sleep(time.Second)
				}
			}
			n++
		}
	}
}
