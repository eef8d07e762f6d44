package record

import (
	"bytes"
	"fmt"

	"github.com/chronicle-archive/chronicle/decimal"
)

// Value builders for tests.

func str(s string) Value { return Value{B: []byte(s)} }

// dec parses a signed decimal as Tardis writes it ("-0.00012", "1.2e-7").
func dec(s string) Value {
	m, scale, err := decimal.ParseSigned([]byte(s))
	if err != nil {
		panic(fmt.Sprintf("dec(%q): %v", s, err))
	}
	return Value{I: m, Scale: scale}
}

func decRaw(m int64, scale uint8) Value { return Value{I: m, Scale: scale} }

func code(u uint64) Value { return Value{U: u} }

func lv(priceScale, amountScale uint8, l ...Level) Value {
	return Value{Scale: priceScale, Scale2: amountScale, L: l}
}

// levels returns n levels 1..n with distinct amounts.
func levels(n int) []Level {
	l := make([]Level, n)
	for i := range l {
		l[i] = Level{Price: uint64(1000 + i), Size: uint64(i * 7)}
	}
	return l
}

// build returns a record of t with the named fields present. Times are ns;
// exchangeTS < 0 means absent.
func build(t *Type, localTS uint64, exchangeTS int64, fields map[string]Value) *Record {
	r := new(Record)
	r.Reset(t)
	r.LocalTS = localTS
	if exchangeTS >= 0 {
		r.ExchangeTS, r.HasExchangeTS = uint64(exchangeTS), true
	}
	for name, v := range fields {
		i := t.Field(name)
		if i < 0 {
			panic(t.Name + " has no field " + name)
		}
		r.Fields[i], r.Present[i] = v, true
	}
	return r
}

// streamSymbol returns r marked as taking its symbol from its stream, its
// symbol field cleared, as Decode returns it.
func streamSymbol(r *Record) *Record {
	r.StreamSymbol, r.Present[0], r.Fields[0] = true, false, Value{}
	return r
}

// sameRecord reports how a and b differ in what they mean (members a
// field's kind does not use, and values of absent fields, are ignored).
func sameRecord(a, b *Record) string {
	if a.Type != b.Type {
		return fmt.Sprintf("type %s vs %s", a.Type.Name, b.Type.Name)
	}
	if a.LocalTS != b.LocalTS || a.HasExchangeTS != b.HasExchangeTS ||
		a.HasExchangeTS && a.ExchangeTS != b.ExchangeTS {
		return fmt.Sprintf("timestamps %d/%d/%v vs %d/%d/%v", a.LocalTS, a.ExchangeTS, a.HasExchangeTS,
			b.LocalTS, b.ExchangeTS, b.HasExchangeTS)
	}
	if a.StreamSymbol != b.StreamSymbol {
		return fmt.Sprintf("stream symbol %v vs %v", a.StreamSymbol, b.StreamSymbol)
	}
	for i, f := range a.Type.Fields {
		if a.StreamSymbol && i == 0 {
			continue // Append ignores field 0
		}
		if a.Present[i] != b.Present[i] {
			return fmt.Sprintf("%s: present %v vs %v", f.Name, a.Present[i], b.Present[i])
		}
		if !a.Present[i] {
			continue
		}
		x, y := &a.Fields[i], &b.Fields[i]
		var same bool
		switch f.Kind {
		case Time, Side, OptionType:
			same = x.U == y.U
		case Decimal:
			same = x.I == y.I && x.Scale == y.Scale
		case String:
			same = bytes.Equal(x.B, y.B)
		case Levels:
			same = x.Scale == y.Scale && x.Scale2 == y.Scale2 && len(x.L) == len(y.L)
			for j := 0; same && j < len(x.L); j++ {
				same = x.L[j] == y.L[j]
			}
		}
		if !same {
			return fmt.Sprintf("%s: %+v vs %+v", f.Name, *x, *y)
		}
	}
	return ""
}
