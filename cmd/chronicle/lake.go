package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/objstore"
	"github.com/chronicle-archive/chronicle/s3archive"
)

// A Parquet lake (docs/PARQUET.md): export --format parquet --dataset DEST
// writes each stream-day as
// DEST/exchange=VENUE/type=TYPE/date=YYYY-MM-DD/symbol=SYMBOL/data.parquet,
// the bytes export --format parquet writes for that one day. DEST's
// _chronicle marker says the tree is Chronicle's: a rerun overwrites
// it, and a non-empty DEST without one is refused, so that nothing
// Chronicle did not write is ever replaced.

// lakeMarker is the marker object at the dataset root, and its content.
const (
	lakeMarker     = "_chronicle"
	lakeMarkerBody = "{\"chronicle_lake\":1,\"layout\":\"exchange=/type=/date=/symbol=/data.parquet\"}\n"
)

// lakeDest is where a lake's files go: a local directory or an S3 prefix.
type lakeDest interface {
	// claim checks that the dataset is Chronicle's or empty, and marks it.
	claim() error
	// write stores the file at key (slash-separated, below the root)
	// whole or not at all.
	write(key string, fn func(io.Writer) error) (size int64, err error)
	show(key string) string
}

func runLake(a *app, o *exportOpts, args []string) error {
	if len(args) == 0 {
		return usagef("export --dataset needs one or more streams: stream directories or VENUE/SYMBOL/TYPE")
	}
	if o.format != "parquet" {
		return usagef("--dataset writes Parquet: give --format parquet")
	}
	if o.out != "" {
		return usagef("--dataset and -o: give one (a lake is a tree of files, -o one file)")
	}
	if o.limit != 0 {
		return usagef("--dataset writes whole days: --limit does not apply (use --from/--to)")
	}
	r, err := o.parse()
	if err != nil {
		return err
	}
	// Resolve everything before writing anything: a wrong address writes
	// no file.
	var dirs []string
	for _, arg := range args {
		d, err := a.resolve(arg, r)
		if err != nil {
			return err
		}
		dirs = append(dirs, d...)
	}
	// main rewrote an s3:// argument to s3archive's virtual path; a lake
	// is written through objstore, which takes the URL.
	if rest, ok := strings.CutPrefix(o.dataset, "/s3:/"); ok {
		o.dataset = "s3://" + rest
	}
	var dest lakeDest
	if s3archive.IsURL(o.dataset) {
		bucket, prefix, ok := objstore.ParseURL(o.dataset)
		if !ok {
			return usagef("--dataset %q: not an s3://BUCKET/PREFIX URL", o.dataset)
		}
		st, err := objstore.New(a.ctx, bucket, prefix)
		if err != nil {
			return err
		}
		dest = &s3Lake{a: a, st: st, url: strings.TrimSuffix(o.dataset, "/")}
	} else {
		dest = localLake(o.dataset)
	}
	if err := dest.claim(); err != nil {
		return err
	}
	start := time.Now()
	var total int64
	seen := map[string]string{}
	for _, dir := range dirs {
		m, err := archive.ReadMeta(nil, dir)
		if err != nil {
			return err
		}
		key := path.Join("exchange="+m.Venue, "type="+dataTypeName(m), "date="+m.Date, "symbol="+m.SymbolCode, "data.parquet")
		if prev, ok := seen[key]; ok {
			// The same day named twice (two overlapping addresses) would
			// be written twice; two different streams there would lose one.
			if prev == dir {
				continue
			}
			return fmt.Errorf("%s and %s are both %s", a.show(prev), a.show(dir), dest.show(key))
		}
		seen[key] = dir
		isBook, err := isBookStream(dir)
		if err != nil {
			return err
		}
		if err := a.ctx.Err(); err != nil {
			return err
		}
		var size int64
		out := func(fn func(io.Writer) error) (werr error) {
			size, werr = dest.write(key, fn)
			return werr
		}
		one := []string{dir}
		if isBook {
			err = exportBook(a, one, r, o, out)
		} else {
			err = exportRecords(a, one, r, o, out)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", dest.show(key), err)
		}
		total += size
		fmt.Fprintf(a.e.stderr, "wrote %s %s\n", dest.show(key), byteSize(size))
	}
	files := "files"
	if len(seen) == 1 {
		files = "file"
	}
	fmt.Fprintf(a.e.stderr, "%d %s, %s in %s\n", len(seen), files, byteSize(total), time.Since(start).Round(time.Millisecond))
	return nil
}

// localLake is a lake in a local directory.
type localLake string

func (l localLake) show(key string) string { return filepath.Join(string(l), filepath.FromSlash(key)) }

func (l localLake) claim() error {
	root := string(l)
	if _, err := os.Stat(filepath.Join(root, lakeMarker)); err == nil {
		return nil
	}
	ents, err := os.ReadDir(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(ents) > 0:
		return fmt.Errorf("%s is not empty and has no %s marker: not a Chronicle lake, and Chronicle overwrites only what it wrote; give an empty or new directory", root, lakeMarker)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	_, err = l.write(lakeMarker, func(w io.Writer) error {
		_, err := io.WriteString(w, lakeMarkerBody)
		return err
	})
	return err
}

// write writes key as a temporary file in its directory, fsynced, then
// renamed into place and the directory fsynced: a crash leaves the old
// file or the new one, never a part.
func (l localLake) write(key string, fn func(io.Writer) error) (int64, error) {
	p := l.show(key)
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	// A hidden name that does not end in .parquet: lake readers' globs
	// (and Spark, which skips names starting with . or _) never see it.
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(p)+"-*")
	if err != nil {
		return 0, err
	}
	return commitFile(f, p, fn)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// s3Lake is a lake under an S3 prefix. Each file is written to a local
// temporary file and uploaded whole: a PUT replaces an object atomically.
type s3Lake struct {
	a   *app
	st  *objstore.Store
	url string
}

func (s *s3Lake) show(key string) string { return s.url + "/" + key }

func (s *s3Lake) claim() error {
	_, err := s.st.Stat(s.a.ctx, lakeMarker)
	if err == nil {
		return nil
	}
	if !errors.Is(err, objstore.ErrNotFound) {
		return err
	}
	files, dirs, err := s.st.ListDir(s.a.ctx, "")
	if err != nil {
		return err
	}
	if len(files) > 0 || len(dirs) > 0 {
		return fmt.Errorf("%s/ is not empty and has no %s marker: not a Chronicle lake, and Chronicle overwrites only what it wrote; give an empty or new prefix", s.url, lakeMarker)
	}
	_, err = s.write(lakeMarker, func(w io.Writer) error {
		_, err := io.WriteString(w, lakeMarkerBody)
		return err
	})
	return err
}

func (s *s3Lake) write(key string, fn func(io.Writer) error) (int64, error) {
	f, err := os.CreateTemp("", "chronicle-lake-*.parquet")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := fn(bw); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	return size, s.st.Put(s.a.ctx, key, f, size)
}
