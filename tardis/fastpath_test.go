package tardis

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

func TestParse8(t *testing.T) {
	check := func(s []byte) {
		t.Helper()
		got, ok := parse8(binary.LittleEndian.Uint64(s))
		want, err := strconv.ParseUint(string(s), 10, 64)
		if ok != (err == nil) || (ok && got != want) {
			t.Fatalf("parse8(%q) = %d, %v; want %d, %v", s, got, ok, want, err)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		s := []byte(strconv.FormatUint(100000000+r.Uint64N(900000000), 10)[1:])
		check(s)
		// Every byte value at every position.
		i := r.IntN(8)
		for c := range 256 {
			s[i] = byte(c)
			check(s)
		}
	}
}

// readWith reads data with the fast path enabled or not.
func readWith(t *testing.T, data []byte, opts Options, slow bool) ([]protocol.Event, error) {
	t.Helper()
	r, err := NewEventReader(bytes.NewReader(data), opts)
	if err != nil {
		return nil, err
	}
	r.slowOnly = slow
	return readAll(r)
}

// permute rewrites a CSV with its columns in another order, one column
// quoted throughout, and an extra column, which must not change the events.
func permute(t *testing.T, data []byte) []byte {
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	order := []int{7, -1, 5, 6, 3, 4, 2, 0, 1} // -1: an extra column
	var b bytes.Buffer
	for i, rec := range recs {
		for j, k := range order {
			if j > 0 {
				b.WriteByte(',')
			}
			switch {
			case k < 0 && i == 0:
				b.WriteString("extra")
			case k < 0:
				b.WriteString(strconv.Itoa(i))
			case k == 1:
				b.WriteString(strconv.Quote(rec[k]))
			default:
				b.WriteString(rec[k])
			}
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// TestFastMatchesSlow checks that the fast row parser agrees with the
// general one, in the standard column order and in another.
func TestFastMatchesSlow(t *testing.T) {
	real, err := os.ReadFile(binanceFile)
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string][]byte{
		"generated": genCSV(30000, 11),
		"binance":   real,
		"mixed": []byte(hdr +
			"ex,S,,5,false,buy,1.20,1e-7\n" +
			"ex,S,0,5,false,sell,007,5E-3\n" +
			"ex,S,6,5,true,bid,0.000001,18446744073\n" +
			"ex,S,6,7,true,bid,1.5,1\n" +
			"ex,S,6,8,true,bid,1.55,1\n"),
	}
	for name, data := range inputs {
		for _, variant := range []string{"standard", "permuted"} {
			in := data
			if variant == "permuted" {
				in = permute(t, data)
			}
			for _, opts := range []Options{auto, {Name: "x.csv", PriceScale: FixedScale(6), SizeScale: FixedScale(8)}} {
				fast, ferr := readWith(t, in, opts, false)
				slow, serr := readWith(t, in, opts, true)
				if ferr != nil || serr != nil {
					t.Fatalf("%s %s %+v: errors %v / %v", name, variant, opts, ferr, serr)
				}
				if !reflect.DeepEqual(fast, slow) {
					t.Errorf("%s %s %+v: fast and general paths disagree", name, variant, opts)
				}
				if variant == "permuted" && opts.PriceScale == (Scale{}) {
					std, _ := readWith(t, data, opts, false)
					if !reflect.DeepEqual(fast, std) {
						t.Errorf("%s: permuted columns give other events", name)
					}
				}
			}
		}
	}
}
