package snapshots

import (
	"bytes"
	"encoding/csv"
	"io"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/decimal"
)

// The oracle computes book snapshots straight from Tardis
// incremental_book_L2 CSV text, independently of the archive, the replayer
// and the Scanner: a naive book of sorted big.Rat prices, Tardis's rules
// (rows sharing local_timestamp are one message; a snapshot message resets
// the book; diffs before the first snapshot are ignored; amount 0 removes).

type oracleLevel struct {
	price  *big.Rat
	ptext  string // canonical (decimal.String) price
	amount string // canonical amount
}

type oracleBook struct {
	sides [2][]oracleLevel // 0 asks ascending, 1 bids descending: best first
}

func (b *oracleBook) set(side int, price, amount string, t testing.TB) {
	pr, ok := new(big.Rat).SetString(price)
	if !ok {
		t.Fatalf("oracle: price %q", price)
	}
	lv := b.sides[side]
	better := func(i int) bool { // lv[i] strictly better than pr
		c := lv[i].price.Cmp(pr)
		if side == 0 {
			return c < 0
		}
		return c > 0
	}
	i := sort.Search(len(lv), func(i int) bool { return !better(i) })
	found := i < len(lv) && lv[i].price.Cmp(pr) == 0
	m, s, err := decimal.ParseString(amount)
	if err != nil {
		t.Fatalf("oracle: amount %q: %v", amount, err)
	}
	switch {
	case m == 0 && found:
		lv = append(lv[:i], lv[i+1:]...)
	case m == 0:
	case found:
		lv[i].amount = decimal.String(m, s)
	default:
		pm, ps, err := decimal.ParseString(price)
		if err != nil {
			t.Fatalf("oracle: price %q: %v", price, err)
		}
		lv = append(lv, oracleLevel{})
		copy(lv[i+1:], lv[i:])
		lv[i] = oracleLevel{price: pr, ptext: decimal.String(pm, ps), amount: decimal.String(m, s)}
	}
	b.sides[side] = lv
}

// topText is the level fields of a row: asks[i], bids[i], ... with empty
// fields for missing levels.
func (b *oracleBook) topText(depth int) string {
	var sb strings.Builder
	for i := range depth {
		for _, side := range []int{0, 1} {
			if i < len(b.sides[side]) {
				l := b.sides[side][i]
				sb.WriteString("," + l.ptext + "," + l.amount)
			} else {
				sb.WriteString(",,")
			}
		}
	}
	return sb.String()
}

// oracleMsg is the state after one message.
type oracleMsg struct {
	local, exchange uint64 // µs; exchange = largest timestamp of the message
	valid           bool
	top             string
}

// oracleMessages applies the CSV message by message and records the top N
// after each.
func oracleMessages(t testing.TB, input []byte, depth int) (exchange, symbol string, msgs []oracleMsg) {
	r := csv.NewReader(bytes.NewReader(input))
	if _, err := r.Read(); err != nil { // header
		t.Fatal(err)
	}
	var b oracleBook
	seen := false        // a snapshot has been applied
	prevSnap := false    // the previous row was a snapshot row
	var prevLocal uint64 // of the previous row
	for n := 0; ; n++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		exchange, symbol = rec[0], rec[1]
		local, _ := strconv.ParseUint(rec[3], 10, 64)
		ts, _ := strconv.ParseUint(rec[2], 10, 64)
		if ts == 0 {
			ts = local
		}
		if n == 0 || local != prevLocal {
			if n > 0 {
				msgs[len(msgs)-1].valid, msgs[len(msgs)-1].top = seen, b.topText(depth)
			}
			msgs = append(msgs, oracleMsg{local: local, exchange: ts})
		}
		m := &msgs[len(msgs)-1]
		m.exchange = max(m.exchange, ts)
		snap := rec[4] == "true"
		if snap && !(prevSnap && local == prevLocal) {
			b = oracleBook{} // a new snapshot resets the book
			seen = true
		}
		prevSnap, prevLocal = snap, local
		if !snap && !seen {
			continue
		}
		side := 1
		if rec[5] == "ask" {
			side = 0
		}
		b.set(side, rec[6], rec[7], t)
	}
	if len(msgs) > 0 {
		msgs[len(msgs)-1].valid, msgs[len(msgs)-1].top = seen, b.topText(depth)
	}
	return exchange, symbol, msgs
}

// oracleChanges returns the CSV lines (without header) of change rows.
func oracleChanges(t testing.TB, input []byte, depth int) []string {
	exchange, symbol, msgs := oracleMessages(t, input, depth)
	var out []string
	last, have := "", false
	for _, m := range msgs {
		if !m.valid {
			have = false
			continue
		}
		if have && m.top == last {
			continue
		}
		last, have = m.top, true
		out = append(out, exchange+","+symbol+","+strconv.FormatUint(m.exchange, 10)+","+strconv.FormatUint(m.local, 10)+m.top)
	}
	return out
}

// oracleInterval returns the CSV lines of interval rows (interval in µs, on
// local time): at each multiple B of the interval from the first after the
// first message to the first after the last, the book after the messages
// with local < B.
func oracleInterval(t testing.TB, input []byte, depth int, interval uint64) []string {
	exchange, symbol, msgs := oracleMessages(t, input, depth)
	if len(msgs) == 0 {
		return nil
	}
	var out []string
	i := -1 // last message before B
	end := (msgs[len(msgs)-1].local/interval + 1) * interval
	for b := (msgs[0].local/interval + 1) * interval; b <= end; b += interval {
		for i+1 < len(msgs) && msgs[i+1].local < b {
			i++
		}
		if i < 0 || !msgs[i].valid {
			continue
		}
		bs := strconv.FormatUint(b, 10)
		out = append(out, exchange+","+symbol+","+bs+","+bs+msgs[i].top)
	}
	return out
}
