package tardis

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unsafe"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/record"
)

// RecordWriter writes records as Tardis CSV of one data type, the inverse
// of RecordReader: Tardis's header and column order, an absent value as an
// empty cell, numbers as Tardis prints them (decimal.Append: JavaScript's
// shortest form), timestamps in µs.
//
// A time that is not a whole number of µs cannot have come from Tardis and
// has no Tardis spelling, so it is an error rather than a truncation.
//
// Reading a Tardis file and writing its records gives back the file byte
// for byte, except where the source is not spelt as Tardis writes: its
// values come back, but then
//   - line ends are LF (a CRLF file comes back with LF), a BOM is dropped,
//     and so are blank lines at the end;
//   - columns come in Tardis's order, and columns Tardis does not have
//     are dropped;
//   - numbers are printed as JavaScript prints them: "9500.0" comes back
//     "9500", "0.0000005" as "5e-7", "1E-7" as "1e-7", "-0" as "0",
//     "007" as "7" (a number; ids are strings and keep every byte);
//   - a cell is quoted only when it holds a comma, quote or line break.
type RecordWriter struct {
	w           *bufio.Writer
	dt          DataType
	prefix      []byte // the exchange cell and its comma
	header      string
	buf         []byte
	rows        int64
	wroteHeader bool
	err         error
}

// NewRecordWriter returns a RecordWriter of dt's rows for exchange to w.
// Call Flush when done.
func NewRecordWriter(w io.Writer, dt DataType, exchange string) *RecordWriter {
	p := appendField(nil, exchange)
	return &RecordWriter{
		w:      bufio.NewWriterSize(w, 64<<10),
		dt:     dt,
		prefix: append(p, ','),
		header: strings.Join(dt.Columns(), ",") + "\n",
	}
}

func (w *RecordWriter) writeHeader() {
	if !w.wroteHeader {
		w.wroteHeader = true
		_, w.err = w.w.WriteString(w.header)
	}
}

// Write writes rec, a record of the writer's data type, as one row.
func (w *RecordWriter) Write(rec *record.Record) error {
	if w.err != nil {
		return w.err
	}
	if rec.Type != w.dt.Record || w.dt.IsBook() {
		return fmt.Errorf("tardis: cannot write a %s record as %s", rec.Type.Name, w.dt.Name)
	}
	w.writeHeader()
	w.rows++
	b := append(w.buf[:0], w.prefix...)
	b = appendBytesField(b, rec.Fields[0].B) // symbol
	b = append(b, ',')
	var err error
	if rec.HasExchangeTS {
		if b, err = w.appendMicros(b, "timestamp", rec.ExchangeTS); err != nil {
			return err
		}
	}
	b = append(b, ',')
	if b, err = w.appendMicros(b, "local_timestamp", rec.LocalTS); err != nil {
		return err
	}
	if w.dt.Depth > 0 {
		b, err = w.appendLevels(b, rec)
	} else {
		b, err = w.appendFields(b, rec)
	}
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		w.err = err
	}
	return w.err
}

// appendFields appends the cells of every field after symbol.
func (w *RecordWriter) appendFields(b []byte, rec *record.Record) ([]byte, error) {
	fields := rec.Type.Fields
	for i := 1; i < len(fields); i++ {
		f, v := &fields[i], &rec.Fields[i]
		b = append(b, ',')
		if f.Nullable && !rec.Present[i] {
			continue
		}
		var err error
		switch f.Kind {
		case record.Decimal:
			b = decimal.AppendSigned(b, v.I, v.Scale)
		case record.Time:
			b, err = w.appendMicros(b, f.Name, v.U)
		case record.String:
			b = appendBytesField(b, v.B)
		case record.Side, record.OptionType:
			name := record.SideName(v.U)
			if f.Kind == record.OptionType {
				name = record.OptionTypeName(v.U)
			}
			if name == "" {
				err = w.valueErr(f.Name, v.U, "is not a code of the field")
			}
			b = append(b, name...)
		default:
			err = w.valueErr(f.Name, uint64(f.Kind), "is a field kind with no Tardis column")
		}
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (w *RecordWriter) appendMicros(b []byte, field string, ns uint64) ([]byte, error) {
	if ns%1000 != 0 {
		return nil, w.valueErr(field, ns, "ns is not a whole number of µs")
	}
	return strconv.AppendUint(b, ns/1000, 10), nil
}

func (w *RecordWriter) valueErr(field string, v uint64, reason string) error {
	return fmt.Errorf("tardis: %s row %d: %s %d %s", w.dt.Name, w.rows, field, v, reason)
}

// Flush writes buffered rows to the underlying writer, and the header if
// no record was written, so that an empty stream is still a valid file.
func (w *RecordWriter) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.writeHeader()
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// appendBytesField is appendField for bytes. The string view of b lives
// only for the call, which keeps nothing of it: no copy per cell.
func appendBytesField(dst, b []byte) []byte {
	return appendField(dst, unsafe.String(unsafe.SliceData(b), len(b)))
}
