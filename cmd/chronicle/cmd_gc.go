package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/s3archive"
)

func init() { register(newGCCmd) }

func newGCCmd(a *app) *cobra.Command {
	var grace time.Duration
	c := newCommand(a, "gc [--grace DURATION]",
		"remove what crashed or replaced uploads left in an S3 archive", `
Gc removes, from an archive on S3 (--archive-root s3://BUCKET/PREFIX), the
stream versions no commit object names: what an import killed or failed in
mid-upload left, and versions that an import --force replaced. Readers never
read them; gc only reclaims the space. A committed stream is never touched.

A version is removed only once it is older than --grace (default 2m30s: the
partition lease's ttl and the clock-skew allowance), counted from when its
upload started or, for a replaced version, from when it was replaced, so
that a reader still reading a version a --force just replaced keeps its
files. A stream being published (its lease held) is skipped.

A local archive needs no gc: the next import of a partition sweeps what a
crashed one left.
`, `
  chronicle gc --archive-root s3://market/archive
  chronicle gc --archive-root s3://market/archive --grace 0s   # nothing is reading: remove every leftover now
`, "",
		func(args []string, _ *pflag.FlagSet) error {
			if len(args) > 0 {
				return usagef("gc takes no arguments (the archive is --archive-root)")
			}
			if grace < 0 {
				return usagef("--grace %s: must be 0s or more", grace)
			}
			if a.s3 == nil {
				fmt.Fprintf(a.e.stderr, "%s is a local archive: nothing to collect (the next import of a partition sweeps what a crashed one left)\n", a.root())
				return nil
			}
			rep, err := a.s3.GC(a.ctx, grace)
			if rep != nil {
				for _, v := range rep.Removed {
					fmt.Fprintf(a.e.stderr, "removed %s/%s\n", a.s3.URL(), v)
				}
				for _, s := range rep.Busy {
					fmt.Fprintf(a.e.stderr, "skipped %s/%s: being published\n", a.s3.URL(), s)
				}
				fmt.Fprintf(a.e.stdout, "gc: removed %d versions (%d objects, %s); kept %d younger than --grace; skipped %d being published\n",
					len(rep.Removed), rep.Objects, byteSize(rep.Bytes), len(rep.Kept), len(rep.Busy))
			}
			return err
		})
	c.Flags().DurationVar(&grace, "grace", s3archive.DefaultGrace, "leave versions younger than this `duration` (0s: remove every leftover now)")
	return c
}
