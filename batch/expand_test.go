package batch

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/tardis"
)

// tree makes files (paths with '/') under a temp dir and returns it.
func tree(t *testing.T, files ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func paths(root string, e *Expansion) []string {
	var out []string
	for _, in := range e.Inputs {
		rel, err := filepath.Rel(root, in.Path)
		if err != nil {
			rel = in.Path
		}
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

func TestExpand(t *testing.T) {
	root := tree(t,
		"datasets/binance-futures_trades_2024-05-01_BTCUSDT.csv.gz",
		"datasets/binance-futures_trades_2024-05-02_BTCUSDT.csv.gz",
		"datasets/deribit_options_chain_2024-01-01_OPTIONS.csv.gz",
		"datasets/README.md",
		"datasets/.partial.csv.gz",
		"datasets/.cache/x_trades_2024-05-01_Y.csv.gz",
		"lake/exchange=binance-futures/type=trades/date=2024-05-01/symbol=BTCUSDT/part-0.csv.gz",
		"lake/exchange=binance-futures/type=quotes/date=2024-05-01/symbol=BTCUSDT/part-0.csv",
		"lake/exchange=bitmex/type=trades/date=2024-05-01/symbol=XBTUSD/part-0.csv.gz",
		"notes.txt",
	)
	j := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	all := []string{
		"datasets/binance-futures_trades_2024-05-01_BTCUSDT.csv.gz",
		"datasets/binance-futures_trades_2024-05-02_BTCUSDT.csv.gz",
		"datasets/deribit_options_chain_2024-01-01_OPTIONS.csv.gz",
		"lake/exchange=binance-futures/type=quotes/date=2024-05-01/symbol=BTCUSDT/part-0.csv",
		"lake/exchange=binance-futures/type=trades/date=2024-05-01/symbol=BTCUSDT/part-0.csv.gz",
		"lake/exchange=bitmex/type=trades/date=2024-05-01/symbol=XBTUSD/part-0.csv.gz",
	}
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string
		skipped map[string]int
	}{
		{"root dir", []string{root}, all, map[string]int{SkipHidden: 2, SkipNotCSV: 2}},
		{"flat dir", []string{j("datasets")}, all[:3], map[string]int{SkipHidden: 2, SkipNotCSV: 1}},
		{"hive dir", []string{j("lake")}, all[3:], map[string]int{}},
		{"named file of any name", []string{j("notes.txt")}, []string{"notes.txt"}, map[string]int{}},
		{"named dot-file", []string{j("datasets/.partial.csv.gz")}, []string{"datasets/.partial.csv.gz"}, map[string]int{}},
		{"glob", []string{j("datasets/*_trades_*")}, all[:2], map[string]int{}},
		{"glob filters", []string{j("datasets/*")}, all[:3], map[string]int{SkipNotCSV: 1, SkipHidden: 2}},
		{"glob of dirs", []string{j("lake/exchange=*/type=trades")}, all[4:], map[string]int{}},
		{"doublestar", []string{j("lake/**/*.csv.gz")}, all[4:], map[string]int{}},
		{"doublestar dirs", []string{j("**/symbol=BTCUSDT")}, all[3:5], map[string]int{}},
		{"doublestar tail", []string{j("lake/**")}, all[3:], map[string]int{}},
		{"duplicates", []string{j("datasets"), j("datasets/binance-futures_trades_2024-05-01_BTCUSDT.csv.gz"), j("datasets/../datasets"), j("datasets/*")}, all[:3], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Expand(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := paths(root, e); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("inputs\n got %q\nwant %q", got, tc.want)
			}
			if tc.skipped != nil && !reflect.DeepEqual(e.Skipped, tc.skipped) {
				t.Errorf("skipped %v, want %v", e.Skipped, tc.skipped)
			}
		})
	}

	e, err := Expand([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.SkipNote(), "left out 4 files: 2 not .csv or .csv.gz, 2 dot-file or in a dot-directory"; got != want {
		t.Errorf("SkipNote() = %q, want %q", got, want)
	}
	hive := e.Inputs[4]
	if want := (tardis.FileInfo{Exchange: "binance-futures", DataType: "trades", Date: "2024-05-01", Symbol: "BTCUSDT"}); hive.Info != want {
		t.Errorf("%s: Info %+v, want %+v", hive.Path, hive.Info, want)
	}
	if hive.Size != int64(len(all[4])) || hive.ModTime.IsZero() {
		t.Errorf("%s: size %d, mtime %v", hive.Path, hive.Size, hive.ModTime)
	}
}

func TestExpandLinks(t *testing.T) {
	root := tree(t, "d/binance_trades_2024-05-01_BTCUSDT.csv")
	if err := os.Symlink(filepath.Join(root, "d"), filepath.Join(root, "dirlink")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if err := os.Symlink(filepath.Join(root, "d", "binance_trades_2024-05-01_BTCUSDT.csv"), filepath.Join(root, "d", "link.csv")); err != nil {
		t.Fatal(err)
	}
	e, err := Expand([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	// The link to the file is the same file; the link to d is not followed.
	if got := paths(root, e); !reflect.DeepEqual(got, []string{"d/binance_trades_2024-05-01_BTCUSDT.csv"}) {
		t.Errorf("inputs %q", got)
	}
	if e.Skipped[SkipLinkDir] != 1 {
		t.Errorf("skipped %v, want one link to a directory", e.Skipped)
	}
}

func TestExpandErrors(t *testing.T) {
	root := tree(t, "a.csv")
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{nil, "no input files"},
		{[]string{filepath.Join(root, "missing.csv.gz")}, "missing.csv.gz"},
		{[]string{filepath.Join(root, "a.csv"), filepath.Join(root, "nope")}, "nope"},
		{[]string{filepath.Join(root, "*.parquet")}, "*.parquet: no files match"},
		{[]string{filepath.Join(root, "[")}, "syntax error in pattern"},
		{[]string{filepath.Join(root, "x**/a.csv")}, "whole path component"},
		{[]string{"-", filepath.Join(root, "a.csv")}, "only input"},
	} {
		_, err := Expand(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Expand(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestExpandStdin(t *testing.T) {
	e, err := Expand([]string{"-"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e.Inputs, []Input{{Path: Stdin}}) {
		t.Errorf("inputs %+v", e.Inputs)
	}
}
