package record

// DerivativeTicker is one Tardis derivative_ticker row. Every value may be
// absent; funding rates may be negative.
var DerivativeTicker = &Type{ID: 0x2005, Name: "derivative_ticker", Fields: []Field{
	{Name: "symbol", Kind: String},
	{Name: "funding_timestamp", Kind: Time, Nullable: true},
	{Name: "funding_rate", Kind: Decimal, Nullable: true, Signed: true},
	{Name: "predicted_funding_rate", Kind: Decimal, Nullable: true, Signed: true},
	{Name: "open_interest", Kind: Decimal, Nullable: true},
	{Name: "last_price", Kind: Decimal, Nullable: true},
	{Name: "index_price", Kind: Decimal, Nullable: true},
	{Name: "mark_price", Kind: Decimal, Nullable: true},
}}
