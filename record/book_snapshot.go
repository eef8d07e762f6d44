package record

// BookSnapshot is one Tardis book_snapshot_N row: the top N levels of each
// side, best first. N is the stream's depth (meta.json); a side holds at
// most N levels, fewer where the book was thinner (Tardis's empty cells).
var BookSnapshot = &Type{ID: 0x2004, Name: "book_snapshot", Fields: []Field{
	{Name: "symbol", Kind: String},
	{Name: "asks", Kind: Levels},
	{Name: "bids", Kind: Levels},
}}
