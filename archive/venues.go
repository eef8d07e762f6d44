package archive

import "sort"

// venueIDs maps Tardis exchange names to the u16 venue_id written in every
// BookEvent. The numbers are part of the archive: never renumber an entry,
// only append. docs/PATH-CONTRACT.md lists the same table.
var venueIDs = map[string]uint16{
	"binance":              1,
	"binance-futures":      2,
	"binance-delivery":     3,
	"binance-us":           4,
	"bitmex":               5,
	"deribit":              6,
	"coinbase":             7,
	"kraken":               8,
	"kraken-futures":       9,
	"bitfinex":             10,
	"bitfinex-derivatives": 11,
	"bitstamp":             12,
	"gemini":               13,
	"okex":                 14,
	"okex-futures":         15,
	"okex-swap":            16,
	"okex-options":         17,
	"huobi":                18,
	"huobi-dm":             19,
	"huobi-dm-swap":        20,
	"huobi-dm-linear-swap": 21,
	"bybit":                22,
	"bybit-spot":           23,
	"ftx":                  24,
	"ftx-us":               25,
	"phemex":               26,
	"kucoin":               27,
	"gate-io":              28,
	"gate-io-futures":      29,
	"bitget":               30,
	"bitget-futures":       31,
	"cryptofacilities":     32,
	"delta":                33,
	"ascendex":             34,
	"coinflex":             35,
	"crypto-com":           36,
	"dydx":                 37,
	"mango":                38,
	"poloniex":             39,
	"upbit":                40,
	"woo-x":                41,
	"okx":                  42,
	"okx-futures":          43,
	"okx-swap":             44,
	"okx-options":          45,
	"binance-options":      46,
	"bybit-options":        47,
	"hyperliquid":          48,
}

// VenueID returns the built-in venue id of a Tardis exchange name.
func VenueID(exchange string) (uint16, bool) {
	id, ok := venueIDs[exchange]
	return id, ok
}

// Venues lists the built-in table, ordered by id.
func Venues() []VenueEntry {
	out := make([]VenueEntry, 0, len(venueIDs))
	for name, id := range venueIDs {
		out = append(out, VenueEntry{name, id})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// VenueEntry is one row of the venue table.
type VenueEntry struct {
	Name string
	ID   uint16
}
