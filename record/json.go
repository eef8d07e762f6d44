package record

import (
	"strconv"
	"unicode/utf8"

	"github.com/chronicle-archive/chronicle/decimal"
)

// AppendJSON appends r as one JSON object (no newline): "local_ts" and
// "exchange_ts" as integer ns (exchange_ts null when absent), then the
// fields by name in order: decimals as strings of the exact value, printed
// as Tardis prints numbers (decimal.Append: "100.5", "-0.00012", and
// exponent form below 1e-6, "1.2e-7"), times as integer ns, sides and
// option types as Tardis spells them ("buy", "call"), strings as JSON
// strings (a byte that is not UTF-8 prints as \ufffd: the payload keeps
// the bytes, the JSON is for reading), levels as [["price","amount"],...],
// absent fields as null. r is a record Decode filled or Append accepts.
// AppendJSON does not allocate when dst has room.
func AppendJSON(dst []byte, r *Record) []byte {
	dst = append(dst, `{"local_ts":`...)
	dst = strconv.AppendUint(dst, r.LocalTS, 10)
	dst = append(dst, `,"exchange_ts":`...)
	if r.HasExchangeTS {
		dst = strconv.AppendUint(dst, r.ExchangeTS, 10)
	} else {
		dst = append(dst, "null"...)
	}
	for i, f := range r.Type.Fields {
		dst = append(dst, ',', '"')
		dst = append(dst, f.Name...) // field names are plain ASCII
		dst = append(dst, '"', ':')
		if !r.Present[i] {
			dst = append(dst, "null"...)
			continue
		}
		v := &r.Fields[i]
		switch f.Kind {
		case Time:
			dst = strconv.AppendUint(dst, v.U, 10)
		case Decimal:
			dst = append(dst, '"')
			dst = decimal.AppendSigned(dst, v.I, v.Scale)
			dst = append(dst, '"')
		case Side: // names are plain ASCII
			dst = append(dst, '"')
			dst = append(dst, SideName(v.U)...)
			dst = append(dst, '"')
		case OptionType:
			dst = append(dst, '"')
			dst = append(dst, OptionTypeName(v.U)...)
			dst = append(dst, '"')
		case String:
			dst = appendJSONString(dst, v.B)
		case Levels:
			dst = append(dst, '[')
			for j, l := range v.L {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, '[', '"')
				dst = decimal.Append(dst, l.Price, v.Scale)
				dst = append(dst, '"', ',', '"')
				dst = decimal.Append(dst, l.Size, v.Scale2)
				dst = append(dst, '"', ']')
			}
			dst = append(dst, ']')
		}
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string: quote, backslash and
// control bytes escaped, UTF-8 verbatim, other bytes as \ufffd.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
