package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/batch"
	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/tardis"
	"github.com/chronicle-archive/chronicle/termui"
	"github.com/chronicle-archive/chronicle/vfs"
)

// batchOpts are the flags of an import of several files (docs/BATCH.md).
type batchOpts struct {
	jobs           int
	failFast, json bool
	rehash         bool
	shard          string
	shardCount     int
}

func (b *batchOpts) register(fs *pflag.FlagSet) {
	fs.IntVar(&b.jobs, "jobs", 0, "import `N` files at once; memory is N times one import's (default: the number of CPUs)")
	fs.BoolVar(&b.failFast, "fail-fast", false, "stop the batch at the first failed file")
	fs.BoolVar(&b.json, "json", false, "print the batch summary as JSON (docs/BATCH.md)")
	fs.BoolVar(&b.rehash, "rehash", false, "read every file and compare content hashes, instead of skipping files whose name, size and mtime match the ledger")
	fs.StringVar(&b.shard, "shard", "", "import only shard `i/n` of the files (or auto: from a Kubernetes Indexed Job or Slurm array; docs/SCALE-OUT.md)")
	fs.IntVar(&b.shardCount, "shard-count", 0, "with --shard auto on Kubernetes: the Job's completions")
}

// batchFlags are the flags that make even one file a batch.
var batchFlags = []string{"json", "shard", "shard-count", "fail-fast", "rehash"}

// isBatch tells a batch from today's single-file import: several inputs, a
// directory, a glob, or a batch flag. One file (or -) keeps the single
// import's output.
func isBatch(inputs []string, set map[string]bool) bool {
	for _, f := range batchFlags {
		if set[f] {
			return true
		}
	}
	if len(inputs) > 1 {
		return true
	}
	if inputs[0] == batch.Stdin {
		return false
	}
	st, err := os.Stat(inputs[0])
	if err != nil {
		return strings.ContainsAny(inputs[0], "*?[") // else the single import names the missing file
	}
	return st.IsDir()
}

// storedOptions are the flags that decide the stored bytes: with one, a
// file must be read to compare with what its stream was made with, so the
// name/size/mtime skip is off.
var storedOptions = []string{"force", "venue-id", "market-id", "price-scale", "size-scale", "segment-size", "checkpoint-every"}

func runBatch(ctx context.Context, a *app, o *importOpts, base ingest.Options, set map[string]bool, args []string) error {
	e := a.e
	if o.jobs < 0 {
		return usagef("--jobs %d: must be at least 1 (0: the number of CPUs)", o.jobs)
	}
	si, sn, err := batch.ParseShard(o.shard, o.shardCount, e.getenv)
	if err != nil {
		return usagef("%v", err)
	}
	x, err := batch.Expand(args)
	if err != nil {
		return err
	}
	if note := x.SkipNote(); note != "" {
		fmt.Fprintln(e.stderr, note)
	}
	inputs := x.Inputs
	if len(inputs) == 0 {
		return fmt.Errorf("%s: is a directory with no .csv or .csv.gz files below it", strings.Join(args, " "))
	}
	if len(inputs) == 1 && inputs[0].Path == batch.Stdin {
		return usagef(`"-" (standard input) is one file: drop the batch flags (%s)`, strings.Join(batchFlags, ", "))
	}
	if err := applyFileFlags(inputs, o); err != nil {
		return err
	}
	if sn > 1 {
		inputs = batch.Shard(inputs, si, sn)
	}
	bo := batch.Options{Jobs: o.jobs, FailFast: o.failFast, Import: importer(a, base)}
	cheapSkip := !o.rehash
	for _, f := range storedOptions {
		cheapSkip = cheapSkip && !set[f]
	}
	if cheapSkip {
		bo.Skip = ledgerSkip(base.Root, o.stream, o.compress)
	}
	if f, ok := e.stderr.(*os.File); ok && e.isTerminal {
		bo.Report = termui.New(f)
	} else {
		bo.Report = termui.NewPlain(e.stderr)
	}
	s, runErr := batch.Run(ctx, inputs, bo)
	if s != nil {
		if o.json {
			b, err := s.JSON()
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", b)
		} else if err := s.WriteTable(e.stdout); err != nil {
			return err
		}
	}
	switch {
	case runErr != nil:
		return runErr
	case s.Total.Failed > 0:
		// The summary has listed them: this is the exit status 1.
		return fmt.Errorf("%d of %d files failed", s.Total.Failed, s.Total.Files())
	}
	return nil
}

// applyFileFlags checks --venue, --symbol, --date, --type and --stream
// against several files, and fills in what the names lack. Each of the
// first four applies to every file, so it must agree with every file's
// name or path that gives that field (it can only fill in, never
// contradict); --stream names one data type's stream, so all files must be
// of one data type.
func applyFileFlags(inputs []Input, o *importOpts) error {
	for i := range inputs {
		fi := &inputs[i].Info
		for _, f := range []struct {
			flag, v string
			field   *string
			same    func(a, b string) bool
		}{
			{"venue", o.venue, &fi.Exchange, func(a, b string) bool { return a == b }},
			{"symbol", o.symbol, &fi.Symbol, func(a, b string) bool { return archive.SymbolCode(a) == archive.SymbolCode(b) }},
			{"date", o.date, &fi.Date, func(a, b string) bool { return a == b }},
			{"type", o.typ, &fi.DataType, func(a, b string) bool { return a == b }},
		} {
			switch {
			case f.v == "":
			case *f.field == "":
				*f.field = f.v
			case !f.same(f.v, *f.field):
				return usagef("--%s %s contradicts %s, whose name or path says %q: with several files, --%s only fills in what names lack", f.flag, f.v, inputs[i].Path, *f.field, f.flag)
			}
		}
		if o.stream != "" && (fi.DataType == "" || fi.DataType != inputs[0].Info.DataType) {
			return usagef("--stream %s with several files needs them all of one data type (by name, path or --type): %s is %q, %s %q",
				o.stream, inputs[0].Path, inputs[0].Info.DataType, inputs[i].Path, fi.DataType)
		}
	}
	return nil
}

// Input is batch.Input, short for the signatures here.
type Input = batch.Input

// importer is the batch's single-file import: ingest.Import with base's
// options, or for Tardis's empty file of a day without data, a no-data
// ledger entry.
func importer(a *app, base ingest.Options) func(ctx context.Context, in Input, progress func(bytes, rows int64)) (batch.FileResult, error) {
	return func(ctx context.Context, in Input, progress func(bytes, rows int64)) (batch.FileResult, error) {
		r := batch.FileResult{DataType: in.Info.DataType, BytesIn: in.Size}
		// A named pipe is read once, by the import: only a regular file
		// is looked at for emptiness first.
		if st, err := os.Stat(in.Path); err == nil && st.Mode().IsRegular() {
			empty, err := batch.IsEmptyInput(in.Path)
			if err != nil {
				return r, err
			}
			if empty && a.s3 != nil {
				return r, a.s3NoData(ctx, base, in, &r)
			}
			if empty {
				return r, recordNoData(base, in, &r)
			}
		}
		o := base
		o.Input = in.Path
		o.Progress = func(read, _, rows int64) { progress(read, rows) }
		var res *ingest.Result
		var err error
		already := false
		if a.s3 != nil {
			var guess *archive.Partition
			if p, ok := namePartition(in, base.Stream); ok {
				guess = &p
			}
			res, already, err = a.s3Import(ctx, o, guess)
		} else {
			res, err = ingest.Import(ctx, o)
		}
		if err != nil {
			return r, err
		}
		r.DataType, r.Rows, r.Stream = res.DataType, res.Rows, res.Dir
		if res.AlreadyImported || already {
			r.Status = batch.AlreadyImported
			return r, nil
		}
		m, err := archive.ReadMeta(base.FS, res.Dir)
		if err != nil {
			return r, err
		}
		for _, f := range m.Files {
			r.BytesOnDisk += f.Size
		}
		return r, nil
	}
}

// recordNoData writes the no-data ledger entry of an empty input, under
// the partition its name or path gives, so that a rerun skips it. A name
// that does not give the whole partition leaves nothing to record: a rerun
// looks at the file again (it is empty, so that is cheap).
func recordNoData(base ingest.Options, in Input, r *batch.FileResult) error {
	r.Status = batch.NoData
	p, ok := namePartition(in, base.Stream)
	if !ok {
		return nil
	}
	hash, _, err := archive.HashFile(base.FS, in.Path)
	if err != nil {
		return err
	}
	return archive.WriteNoDataLedger(base.FS, base.Root, p, hash, in.Path)
}

// namePartition is the partition a file's name or path gives (with the
// --stream given, else its data type's), if it gives all of it.
func namePartition(in Input, stream string) (archive.Partition, bool) {
	fi := in.Info
	dt, ok := tardis.LookupDataType(fi.DataType)
	if !ok || fi.Exchange == "" || fi.Symbol == "" || fi.Date == "" {
		return archive.Partition{}, false
	}
	if stream == "" {
		stream = dt.Stream
	}
	p := archive.Partition{Venue: fi.Exchange, Symbol: archive.SymbolCode(fi.Symbol), Date: fi.Date, Stream: stream}
	return p, p.Validate() == nil
}

// ledgerSkip is the rerun check made without reading the file: an entry in
// its partition's ledger with the same name (or absolute path), size and
// mtime, and for data (not a no-data entry) the stream's meta.json still
// holding that hash (compressed, if --compress asks for it).
func ledgerSkip(root, stream string, compress bool) func(Input) (batch.FileResult, bool) {
	return func(in Input) (batch.FileResult, bool) {
		r := batch.FileResult{DataType: in.Info.DataType, Status: batch.Skipped}
		p, ok := namePartition(in, stream)
		if !ok {
			return r, false
		}
		ents, err := vfs.Default.ReadDir(p.LedgerDir(root))
		if err != nil {
			return r, false
		}
		for _, d := range ents {
			hash, ok := strings.CutSuffix(d.Name(), "."+p.Stream+".json")
			if !ok || !d.Type().IsRegular() {
				continue
			}
			l, err := archive.ReadLedger(nil, root, p, hash)
			if err != nil || !archive.LedgerMatches(l, in.Path, in.Size, in.ModTime) {
				continue
			}
			if l.Status == archive.LedgerNoData {
				return r, true
			}
			m, err := archive.ReadMeta(nil, p.Dir(root))
			if err != nil || m.SourceHash != l.FileHash || (compress && !m.Compressed) {
				continue
			}
			r.Stream = p.Dir(root)
			return r, true
		}
		return r, false
	}
}
