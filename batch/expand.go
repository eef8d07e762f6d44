// Package batch imports many Tardis files at once: it expands the command
// line into files (Expand), splits them between workers of a cluster
// (Shard), and runs one injected single-file import per file on every core
// (Run), summing up what happened (Summary).
package batch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chronicle-archive/chronicle/tardis"
)

// Input is one file to import.
type Input struct {
	Path    string // as reached from the arguments; "-" is standard input
	Size    int64  // 0 for standard input
	ModTime time.Time
	Info    tardis.FileInfo // from the name or path (ParsePath); empty for standard input
}

// Stdin is the argument that reads standard input.
const Stdin = "-"

// Expansion is the files the arguments name, and what walking directories
// and expanding globs left out.
type Expansion struct {
	Inputs  []Input        // sorted by path, each file once
	Skipped map[string]int // files left out, by reason
}

// Skip reasons.
const (
	SkipHidden  = "dot-file or in a dot-directory"
	SkipNotCSV  = "not .csv or .csv.gz"
	SkipLinkDir = "link to a directory (not followed)"
	SkipSpecial = "not a regular file"
)

// SkipNote says in one line what was left out, or "" when nothing was.
func (e *Expansion) SkipNote() string {
	var n int
	var parts []string
	for _, r := range []string{SkipNotCSV, SkipHidden, SkipLinkDir, SkipSpecial} {
		if c := e.Skipped[r]; c > 0 {
			n += c
			parts = append(parts, fmt.Sprintf("%d %s", c, r))
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("left out %d files: %s", n, strings.Join(parts, ", "))
}

// Expand turns import arguments into files: a file is taken as named
// (whatever its extension), a directory is walked recursively for .csv and
// .csv.gz files, and a glob (an argument with * ? or [ that is not itself
// an existing path) is expanded by Chronicle, '**' matching any number of
// directories; directories a glob matches are walked. A file reached twice
// (also through a link or a second spelling) is imported once. "-"
// (standard input) must be the only argument.
func Expand(args []string) (*Expansion, error) {
	e := &Expansion{Skipped: map[string]int{}}
	if len(args) == 0 {
		return nil, errors.New("no input files")
	}
	for _, a := range args {
		if a == Stdin {
			if len(args) > 1 {
				return nil, errors.New(`"-" (standard input) must be the only input`)
			}
			e.Inputs = []Input{{Path: Stdin}}
			return e, nil
		}
	}
	seen := map[string]bool{}
	for _, a := range args {
		if _, err := os.Lstat(a); err == nil || !strings.ContainsAny(a, "*?[") {
			if err := e.add(a, seen, true); err != nil {
				return nil, err
			}
			continue
		}
		matches, err := glob(a)
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%s: no files match", a)
		}
		for _, m := range matches {
			if err := e.add(m, seen, false); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(e.Inputs, func(i, j int) bool { return e.Inputs[i].Path < e.Inputs[j].Path })
	return e, nil
}

// add takes path, a file or a directory. named is true for a path the
// user named, which is taken whatever its name; a glob's matches are
// filtered like a walk's files.
func (e *Expansion) add(path string, seen map[string]bool, named bool) error {
	info, err := os.Stat(path)
	if err != nil {
		return err // *PathError names the path
	}
	// Go's globs match dot-names, a shell's do not; a walk skips them.
	if !named && strings.HasPrefix(filepath.Base(path), ".") {
		e.Skipped[SkipHidden]++
		return nil
	}
	if !info.IsDir() {
		if !named {
			if r := skipReason(path, info); r != "" {
				e.Skipped[r]++
				return nil
			}
		}
		return e.addFile(path, info, seen)
	}
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			e.Skipped[SkipHidden]++
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := os.Stat(p) // follows a link to a file
		if err != nil {
			return err
		}
		if info.IsDir() {
			e.Skipped[SkipLinkDir]++
			return nil
		}
		if r := skipReason(p, info); r != "" {
			e.Skipped[r]++
			return nil
		}
		return e.addFile(p, info, seen)
	})
}

func skipReason(path string, info fs.FileInfo) string {
	switch {
	case strings.HasPrefix(filepath.Base(path), "."):
		return SkipHidden
	case !info.Mode().IsRegular():
		return SkipSpecial
	case !strings.HasSuffix(path, ".csv") && !strings.HasSuffix(path, ".csv.gz"):
		return SkipNotCSV
	}
	return ""
}

func (e *Expansion) addFile(path string, info fs.FileInfo, seen map[string]bool) error {
	// One file reached by two spellings or through a link has one real path.
	real, err := filepath.EvalSymlinks(path)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		return err
	}
	if seen[real] {
		return nil
	}
	seen[real] = true
	e.Inputs = append(e.Inputs, Input{Path: path, Size: info.Size(), ModTime: info.ModTime(), Info: tardis.ParsePath(path)})
	return nil
}

// glob is filepath.Glob with '**' (one, as a whole path component)
// standing for any number of directories.
func glob(pattern string) ([]string, error) {
	slash := filepath.ToSlash(pattern)
	before, after, ok := strings.Cut(slash, "**")
	if !ok {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pattern, err)
		}
		return m, nil
	}
	if (before != "" && !strings.HasSuffix(before, "/")) || (after != "" && !strings.HasPrefix(after, "/")) || strings.Contains(after, "**") {
		return nil, fmt.Errorf("%s: ** must be a whole path component, used once", pattern)
	}
	rest := strings.TrimPrefix(after, "/")
	if _, err := filepath.Match(rest, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", pattern, err)
	}
	bases := []string{"."}
	if before != "" {
		var err error
		if bases, err = filepath.Glob(filepath.FromSlash(strings.TrimSuffix(before, "/"))); err != nil {
			return nil, fmt.Errorf("%s: %w", pattern, err)
		}
	}
	if rest == "" { // dir/**: everything under dir, which add walks
		return bases, nil
	}
	var out []string
	for _, b := range bases {
		err := filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != b && strings.HasPrefix(d.Name(), ".") && d.IsDir() {
				return filepath.SkipDir
			}
			if p == b || !matchTail(rest, p) {
				return nil
			}
			out = append(out, p)
			if d.IsDir() { // add walks it
				return filepath.SkipDir
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// matchTail matches pattern against as many trailing components of path
// as pattern has.
func matchTail(pattern, path string) bool {
	n := strings.Count(pattern, "/") + 1
	parts := strings.Split(filepath.ToSlash(path), "/")
	if len(parts) < n {
		return false
	}
	ok, _ := filepath.Match(pattern, strings.Join(parts[len(parts)-n:], "/"))
	return ok
}
