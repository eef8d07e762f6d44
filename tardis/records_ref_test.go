package tardis

// The reference comparison of a Tardis CSV file with Chronicle's export of
// it. It shares no code with the mapping it checks: encoding/csv splits
// the rows, the column lists are written out here, and numbers are
// compared as exact rationals (math/big), so that "5e-7" equals "0.0000005"
// and "9500.0" equals "9500" but nothing else is forgiven.

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
)

// refTextColumns are compared byte for byte; every other column is a number.
var refTextColumns = map[string]bool{
	"exchange": true, "symbol": true, "id": true, "side": true, "type": true, "underlying_index": true,
}

// refColumns is Tardis's header of each data type, in Tardis's order.
func refColumns(typ string) ([]string, error) {
	cols := []string{"exchange", "symbol", "timestamp", "local_timestamp"}
	switch typ {
	case "trades", "liquidations":
		return append(cols, "id", "side", "price", "amount"), nil
	case "quotes", "book_ticker":
		return append(cols, "ask_amount", "ask_price", "bid_price", "bid_amount"), nil
	case "derivative_ticker":
		return append(cols, "funding_timestamp", "funding_rate", "predicted_funding_rate",
			"open_interest", "last_price", "index_price", "mark_price"), nil
	case "options_chain":
		return append(cols, "type", "strike_price", "expiration", "open_interest", "last_price",
			"bid_price", "bid_amount", "bid_iv", "ask_price", "ask_amount", "ask_iv", "mark_price",
			"mark_iv", "underlying_index", "underlying_price", "delta", "gamma", "vega", "theta", "rho"), nil
	}
	if n, ok := strings.CutPrefix(typ, "book_snapshot_"); ok {
		depth, err := strconv.Atoi(n)
		if err != nil {
			return nil, err
		}
		for i := range depth {
			cols = append(cols, fmt.Sprintf("asks[%d].price", i), fmt.Sprintf("asks[%d].amount", i),
				fmt.Sprintf("bids[%d].price", i), fmt.Sprintf("bids[%d].amount", i))
		}
		return cols, nil
	}
	return nil, fmt.Errorf("reference: unknown type %q", typ)
}

// refStats is what a comparison found.
type refStats struct {
	rows      int
	textDiffs int // cells of equal value spelt differently ("9500.0" and "9500")
}

// refCompare checks that out (an export) holds exactly src's rows of type
// typ: Tardis's header and column order, every source cell's value in its
// column, empty cells empty. src may have its columns in any order, CRLF
// line ends, a BOM and columns Tardis does not have (which out drops).
func refCompare(typ string, src, out io.Reader) (refStats, error) {
	var st refStats
	want, err := refColumns(typ)
	if err != nil {
		return st, err
	}
	sr, or := csv.NewReader(src), csv.NewReader(out)
	sr.ReuseRecord, or.ReuseRecord = true, true
	sh, err := sr.Read()
	if err != nil {
		return st, fmt.Errorf("source header: %v", err)
	}
	if len(sh) > 0 {
		sh[0] = strings.TrimPrefix(sh[0], "\ufeff")
	}
	at := map[string]int{}
	for i, c := range sh {
		at[c] = i
	}
	idx := make([]int, len(want))
	for i, c := range want {
		j, ok := at[c]
		if !ok {
			return st, fmt.Errorf("source has no column %q", c)
		}
		idx[i] = j
	}
	oh, err := or.Read()
	if err != nil {
		return st, fmt.Errorf("export header: %v", err)
	}
	if strings.Join(oh, ",") != strings.Join(want, ",") {
		return st, fmt.Errorf("export header %q, want %q", oh, want)
	}
	a, b := new(big.Rat), new(big.Rat)
	for {
		srow, serr := sr.Read()
		orow, oerr := or.Read()
		if serr == io.EOF && oerr == io.EOF {
			return st, nil
		}
		if serr != nil || oerr != nil {
			return st, fmt.Errorf("after %d rows: source %v, export %v", st.rows, serr, oerr)
		}
		st.rows++
		for i, c := range want {
			s, o := srow[idx[i]], orow[i]
			if s == o {
				continue
			}
			_, okA := a.SetString(s)
			_, okB := b.SetString(o)
			if refTextColumns[c] || s == "" || o == "" || !okA || !okB || a.Cmp(b) != 0 {
				return st, fmt.Errorf("row %d column %s: source %q, export %q", st.rows, c, s, o)
			}
			st.textDiffs++
		}
	}
}
