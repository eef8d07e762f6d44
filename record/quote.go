package record

// quoteFields are the best bid/ask, in Tardis's column order (ask first).
func quoteFields() []Field {
	return []Field{
		{Name: "symbol", Kind: String},
		{Name: "ask_amount", Kind: Decimal, Nullable: true},
		{Name: "ask_price", Kind: Decimal, Nullable: true},
		{Name: "bid_price", Kind: Decimal, Nullable: true},
		{Name: "bid_amount", Kind: Decimal, Nullable: true},
	}
}

// Quote is one Tardis quotes row: the best bid/ask rebuilt from L2 data.
var Quote = &Type{ID: 0x2002, Name: "quote", Fields: quoteFields()}

// BookTicker is one Tardis book_ticker row: the exchange's own best bid/ask
// feed. Same fields as Quote, a separate type so that a stream says which
// of the two it holds.
var BookTicker = &Type{ID: 0x2003, Name: "book_ticker", Fields: quoteFields()}
