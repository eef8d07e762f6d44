package tardis

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
)

// headerLine is the header line Writer writes.
const headerLine = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"

// Writer writes events as Tardis incremental_book_L2 CSV, the inverse of
// EventReader: reading its output gives back the same events.
type Writer struct {
	w           *bufio.Writer
	prefix      []byte // "exchange,symbol," with CSV quoting where needed
	wroteHeader bool
	buf         []byte
	err         error
}

// NewWriter returns a Writer that writes rows for exchange and symbol to w.
// Call Flush when done.
func NewWriter(w io.Writer, exchange, symbol string) *Writer {
	p := appendField(nil, exchange)
	p = append(p, ',')
	p = appendField(p, symbol)
	p = append(p, ',')
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), prefix: p}
}

// appendField quotes s as RFC 4180 requires when it holds a comma, quote
// or line break.
func appendField(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

func (w *Writer) writeHeader() {
	if !w.wroteHeader {
		w.wroteHeader = true
		_, w.err = w.w.WriteString(headerLine + "\n")
	}
}

// WriteEvent writes one row per level, bids then asks: timestamp is
// ExchangeTS/1000 and local_timestamp IngestTS/1000 (µs), is_snapshot is
// true for a Snapshot, and price and amount are written as Tardis writes
// numbers (decimal.Append). Reset and Heartbeat events carry no levels and
// write nothing; other event types are an error.
func (w *Writer) WriteEvent(ev *protocol.Event) error {
	if w.err != nil {
		return w.err
	}
	var snap string
	switch ev.Type {
	case protocol.Snapshot:
		snap = "true"
	case protocol.Diff:
		snap = "false"
	case protocol.Reset, protocol.Heartbeat:
		if len(ev.Bids)+len(ev.Asks) == 0 {
			return nil
		}
		return fmt.Errorf("tardis: cannot write a %v event with levels", ev.Type)
	default:
		return fmt.Errorf("tardis: cannot write a %v event", ev.Type)
	}
	w.writeHeader()
	for side, levels := range [2][]protocol.Level{ev.Bids, ev.Asks} {
		sideName := "bid"
		if side == 1 {
			sideName = "ask"
		}
		for _, l := range levels {
			b := append(w.buf[:0], w.prefix...)
			b = strconv.AppendUint(b, ev.ExchangeTS/1000, 10)
			b = append(b, ',')
			b = strconv.AppendUint(b, ev.IngestTS/1000, 10)
			b = append(b, ',')
			b = append(b, snap...)
			b = append(b, ',')
			b = append(b, sideName...)
			b = append(b, ',')
			b = decimal.Append(b, l.Price, ev.PriceScale)
			b = append(b, ',')
			b = decimal.Append(b, l.Size, ev.SizeScale)
			b = append(b, '\n')
			w.buf = b
			if _, err := w.w.Write(b); err != nil {
				w.err = err
				return err
			}
		}
	}
	return w.err
}

// Flush writes buffered rows to the underlying writer, and the header if
// no event was written, so that an empty stream is still a valid file.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.writeHeader()
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}
