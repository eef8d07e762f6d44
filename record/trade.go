package record

// Trade is one Tardis trades row: a trade, side = the aggressor.
var Trade = &Type{ID: 0x2001, Name: "trade", Fields: []Field{
	{Name: "symbol", Kind: String},
	{Name: "id", Kind: String},
	{Name: "side", Kind: Side},
	{Name: "price", Kind: Decimal},
	{Name: "amount", Kind: Decimal},
}}
