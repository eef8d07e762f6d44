package record

// OptionsChain is one Tardis options_chain row: one option contract's
// quote, marks and greeks. Files hold every contract of a day (symbol
// OPTIONS); each row keeps its own instrument symbol.
var OptionsChain = &Type{ID: 0x2007, Name: "options_chain", Fields: []Field{
	{Name: "symbol", Kind: String},
	{Name: "type", Kind: OptionType},
	{Name: "strike_price", Kind: Decimal},
	{Name: "expiration", Kind: Time},
	{Name: "open_interest", Kind: Decimal, Nullable: true},
	{Name: "last_price", Kind: Decimal, Nullable: true},
	{Name: "bid_price", Kind: Decimal, Nullable: true},
	{Name: "bid_amount", Kind: Decimal, Nullable: true},
	{Name: "bid_iv", Kind: Decimal, Nullable: true},
	{Name: "ask_price", Kind: Decimal, Nullable: true},
	{Name: "ask_amount", Kind: Decimal, Nullable: true},
	{Name: "ask_iv", Kind: Decimal, Nullable: true},
	{Name: "mark_price", Kind: Decimal, Nullable: true},
	{Name: "mark_iv", Kind: Decimal, Nullable: true},
	{Name: "underlying_index", Kind: String},
	{Name: "underlying_price", Kind: Decimal, Nullable: true},
	{Name: "delta", Kind: Decimal, Nullable: true, Signed: true},
	{Name: "gamma", Kind: Decimal, Nullable: true, Signed: true},
	{Name: "vega", Kind: Decimal, Nullable: true, Signed: true},
	{Name: "theta", Kind: Decimal, Nullable: true, Signed: true},
	{Name: "rho", Kind: Decimal, Nullable: true, Signed: true},
}}
