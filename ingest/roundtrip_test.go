package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/tardis"
)

// generate runs ../shared/tools/tardisgen into a .csv.gz in t.TempDir().
func generate(t testing.TB, name string, args ...string) string {
	t.Helper()
	tools, _ := filepath.Abs("../../shared/tools")
	if _, err := os.Stat(filepath.Join(tools, "tardisgen")); err != nil {
		t.Skipf("skipping: %s is absent (it ships beside the repo in CI, not in a clone)", tools)
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", append([]string{"run", "./tardisgen"}, args...)...)
	cmd.Dir = tools
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tardisgen: %v", err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(stdout.Bytes())
	zw.Close()
	if err := os.WriteFile(out, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func importOpts(root, input string) Options {
	return Options{Root: root, Input: input}
}

func mustImport(t testing.TB, o Options) *Result {
	t.Helper()
	res, err := Import(context.Background(), o)
	if err != nil {
		t.Fatalf("import %s: %v", o.Input, err)
	}
	return res
}

// exportCSV writes the stream back as Tardis CSV.
func exportCSV(t testing.TB, dir string) []byte {
	t.Helper()
	m, err := archive.ReadMeta(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := stream.OpenEvents(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer evs.Close()
	var buf bytes.Buffer
	w := tardis.NewWriter(&buf, m.Venue, m.SymbolCode)
	for {
		ev, err := evs.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteEvent(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// row is a CSV row reduced to values: decimals compared as exact rationals,
// so 100.50 equals 100.5 and 1.2e-7 equals 0.00000012. This parsing shares
// no code with package tardis or decimal on purpose.
type row struct {
	exchange, symbol, ts, local, snap, side, price, amount string
}

func readRows(t testing.TB, data []byte) []row {
	t.Helper()
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	r := csv.NewReader(bytes.NewReader(data))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[strings.TrimSpace(h)] = i
	}
	rat := func(s string) string {
		v, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("test reference cannot parse %q", s)
		}
		return v.RatString()
	}
	out := make([]row, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		side := rec[col["side"]]
		switch side {
		case "buy":
			side = "bid"
		case "sell":
			side = "ask"
		}
		ts := rec[col["timestamp"]]
		if ts == "" || ts == "0" {
			ts = rec[col["local_timestamp"]]
		}
		out = append(out, row{rec[col["exchange"]], rec[col["symbol"]], ts, rec[col["local_timestamp"]],
			rec[col["is_snapshot"]], side, rat(rec[col["price"]]), rat(rec[col["amount"]])})
	}
	return out
}

// expectedOrder reorders input rows as an export writes them: rows sharing
// local_timestamp and is_snapshot form an event, and within an event bids
// come before asks (file order otherwise).
func expectedOrder(in []row) []row {
	out := make([]row, 0, len(in))
	for i := 0; i < len(in); {
		j := i
		for j < len(in) && in[j].local == in[i].local && in[j].snap == in[i].snap {
			j++
		}
		for _, side := range []string{"bid", "ask"} {
			for _, r := range in[i:j] {
				if r.side == side {
					out = append(out, r)
				}
			}
		}
		i = j
	}
	return out
}

func compareRows(t testing.TB, input, exported []byte) {
	t.Helper()
	want := expectedOrder(readRows(t, input))
	got := readRows(t, exported)
	if len(got) != len(want) {
		t.Fatalf("exported %d rows, input has %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d differs:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	type tc struct {
		name, path string
		o          func(*Options)
	}
	cases := []tc{
		{"generated sample", "../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz", nil},
		{"real binance", "../testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv", nil},
		{"real deribit", "../testdata/deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.nautilus15.csv", nil},
	}
	for name, body := range ruleFiles() {
		p := filepath.Join(t.TempDir(), "binance_incremental_book_L2_1970-01-01_"+name+".csv")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{"rule " + name, p, nil})
	}
	if !testing.Short() {
		gen := generate(t, "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz",
			"-rows", "1000000", "-resnap-every", "100000")
		cases = append(cases, tc{"tardisgen 1M rows", gen, nil})
	}
	for _, c := range cases {
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/compress=%v", c.name, compress), func(t *testing.T) {
				root := t.TempDir()
				o := importOpts(root, c.path)
				o.Compress = compress
				o.SegmentSize = 64 << 10 // several segments even for small inputs
				if strings.HasPrefix(c.name, "tardisgen") {
					o.SegmentSize = 4 << 20
				}
				res := mustImport(t, o)
				input, err := os.ReadFile(c.path)
				if err != nil {
					t.Fatal(err)
				}
				compareRows(t, input, exportCSV(t, res.Dir))
				rep, err := stream.Verify(nil, res.Dir)
				if err != nil {
					t.Fatal(err)
				}
				if !rep.OK() {
					t.Fatalf("verify: %v", rep.Problems)
				}
			})
		}
	}
}

// ruleFiles are small inputs for each import rule of issue 2. The symbol in
// each name is the map key, so every file lands in its own partition.
func ruleFiles() map[string]string {
	h := "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
	var big strings.Builder
	big.WriteString(h)
	big.WriteString("binance,BIG,1,1,true,bid,1,1\n")
	for i := 0; i < 70000; i++ {
		fmt.Fprintf(&big, "binance,BIG,2,2,false,ask,%d.5,0.%03d\n", 100+i, i%1000+1)
	}
	return map[string]string{
		"EXP":     h + "binance,EXP,1,1,true,bid,0.0000001,1.2e-7\nbinance,EXP,1,1,true,ask,5e-7,3\nbinance,EXP,2,2,false,bid,1e-7,0\n",
		"DEC18":   h + "binance,DEC18,1,1,true,bid,0.000000000000000001,1.123456789012345678\nbinance,DEC18,1,1,true,ask,9.5,0.5\n",
		"MIXED":   h + "binance,MIXED,5,10,false,bid,1,1\nbinance,MIXED,5,10,true,bid,2,2\nbinance,MIXED,5,10,true,ask,3,3\nbinance,MIXED,6,10,false,ask,3,0\n",
		"BIG":     big.String(),
		"CRLF":    strings.ReplaceAll(h+"binance,CRLF,1,1,true,bid,10.5,2\nbinance,CRLF,1,1,true,ask,11,3\n", "\n", "\r\n"),
		"PERM":    "side,amount,price,local_timestamp,is_snapshot,symbol,exchange,timestamp\nbid,2,10.5,1,true,PERM,binance,1\nask,1.5,11,1,true,PERM,binance,1\nask,0,11,3,false,PERM,binance,2\n",
		"SCALEUP": h + "binance,SCALEUP,1,1,true,bid,60000.5,1\nbinance,SCALEUP,2,2,false,bid,60000,0\nbinance,SCALEUP,3,3,false,ask,60001.25,0.001\n",
	}
}
