package record

// Liquidation is one Tardis liquidations row. side buy means a short
// position was liquidated, sell a long one.
var Liquidation = &Type{ID: 0x2006, Name: "liquidation", Fields: []Field{
	{Name: "symbol", Kind: String},
	{Name: "id", Kind: String},
	{Name: "side", Kind: Side},
	{Name: "price", Kind: Decimal},
	{Name: "amount", Kind: Decimal},
}}
