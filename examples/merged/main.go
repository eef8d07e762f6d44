// Command merged is a short program on Chronicle's merged replay API: it
// reads the trades and the L2 books of several symbols in one time order
// and prints every trade with the best bid and ask of its symbol's book at
// that moment, the as-of join a researcher would otherwise do in pandas,
// in one streaming pass in bounded memory.
//
//	go run ./examples/merged -archive-root archive \
//	    -from 2024-05-01T12:00:00Z -to 2024-05-01T12:01:00Z \
//	    binance-futures/BTCUSDT binance-futures/ETHUSDT
//
// docs/READING.md walks through it.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/timespec"
)

func main() {
	root := flag.String("archive-root", "archive", "the archive root")
	from := flag.String("from", "", "start (RFC 3339, a date, or integer ns/µs), included")
	to := flag.String("to", "", "end, excluded")
	flag.Parse()
	r, err := timespec.ParseRange(*from, *to)
	if err != nil {
		log.Fatal(err)
	}
	if flag.NArg() == 0 {
		log.Fatal("usage: merged [-archive-root DIR] [-from T] [-to T] VENUE/SYMBOL...")
	}

	// Each symbol gives two inputs: its trades over [from, to), and its
	// book from the start of from's day. A book is rebuilt from a
	// snapshot, and Tardis's day files open with one, so the book is right
	// when the first trade comes.
	bookRange := r
	if r.HasFrom {
		bookRange.From = r.From - r.From%(24*3600e9)
	}
	var inputs []stream.Input
	for _, vs := range flag.Args() {
		for _, typ := range []string{"book", "trades"} {
			a, err := stream.ParseAddress(vs + "/" + typ)
			if err != nil {
				log.Fatal(err)
			}
			in := stream.Input{Address: a, Range: r}
			if typ == "book" {
				in.Range = bookRange
			}
			inputs = append(inputs, in)
		}
	}
	stream.SortInputs(inputs) // the documented tie-break: book before trades at one timestamp

	m, err := stream.OpenMerged(nil, *root, inputs)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	for _, w := range m.Warnings() {
		log.Print("warning: ", w)
	}

	books := map[stream.Address]*book.Replayer{} // by venue and symbol (Type "")
	sides := [...]string{record.SideBuy: "buy", record.SideSell: "sell", record.SideUnknown: "unknown"}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	fmt.Fprintln(out, "local_timestamp,symbol,side,price,amount,bid_price,ask_price")
	var line []byte // reused: no allocation per trade
	for {
		it, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err) // names the input; damage is a *segment.CorruptionError
		}
		key := stream.Address{Venue: it.Address.Venue, Symbol: it.Address.Symbol}
		if it.Event != nil { // a book event: apply it
			rep := books[key]
			if rep == nil {
				rep = book.NewReplayer(book.Options{})
				books[key] = rep
			}
			if err := rep.Apply(it.Event); err != nil {
				log.Fatal(err)
			}
			continue
		}
		rec := it.Record // a trade: fields by record.Trade's field list
		price, amount := rec.Fields[rec.Type.Field("price")], rec.Fields[rec.Type.Field("amount")]
		side := sides[rec.Fields[rec.Type.Field("side")].U]
		line = time.Unix(0, int64(it.LocalTS)).UTC().AppendFormat(line[:0], time.RFC3339Nano)
		line = append(line, ',')
		line = append(line, it.Address.Symbol...)
		line = append(line, ',')
		line = append(line, side...)
		line = append(line, ',')
		line = decimal.Append(line, uint64(price.I), price.Scale) // exact: no float64
		line = append(line, ',')
		line = decimal.Append(line, uint64(amount.I), amount.Scale)
		for _, s := range []book.Side{book.Bid, book.Ask} {
			line = append(line, ',')
			if rep := books[key]; rep != nil {
				ps, _ := rep.Book().Scales()
				if l, ok := rep.Book().Best(s); ok { // an empty side stays an empty cell
					line = decimal.Append(line, l.Price, ps)
				}
			}
		}
		line = append(line, '\n')
		out.Write(line)
	}
}
