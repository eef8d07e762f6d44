package replay_test

import (
	"io"
	"testing"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/replay"
	"github.com/chronicle-archive/chronicle/stream"
)

func TestParseDec(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0", "0"}, {"0.0", "0"}, {"007.500", "7.5"}, {"100", "100"}, {".5", "0.5"},
		{"1.2e-7", "0.00000012"}, {"5e-7", "0.0000005"}, {"1.5e2", "150"}, {"12e+1", "120"},
	} {
		d, err := parseDec(c.in)
		if err != nil || d.String() != c.want {
			t.Errorf("parseDec(%q) = %v, %v; want %s", c.in, d, err, c.want)
		}
	}
	if got := decFixed(5, 3).String(); got != "0.005" {
		t.Errorf("decFixed(5, 3) = %s", got)
	}
	if cmpDec(mkDec("9", ""), mkDec("10", "")) >= 0 || cmpDec(mkDec("1", "2"), mkDec("1", "15")) <= 0 {
		t.Error("cmpDec order")
	}
	for _, bad := range []string{"", "1.2.3", "-1", "1e", "abc"} {
		if _, err := parseDec(bad); err == nil {
			t.Errorf("parseDec(%q) accepted", bad)
		}
	}
}

// TestCrossCheck imports Tardis files and replays them with replay.Open,
// comparing the top 25 levels of each side after every message with the
// independent reference (ref_test.go).
func TestCrossCheck(t *testing.T) {
	cases := []struct {
		name  string
		input func(t *testing.T) string
		cfg   importCfg
		long  bool
	}{
		{"binance-2019", func(*testing.T) string { return binanceCSV }, importCfg{}, false},
		{"deribit-2020", func(*testing.T) string { return deribitCSV }, importCfg{}, false},
		{"synthetic", func(t *testing.T) string { return synthCSV(t, 1, 20000) }, importCfg{every: 500}, false},
		{"synthetic-compressed-small-segments", func(t *testing.T) string { return synthCSV(t, 2, 20000) },
			importCfg{compress: true, segmentSize: 256 << 10, every: 777}, false},
		{"tardisgen-1M", func(t *testing.T) string { return tardisgen(t, 1_000_000, 100_000) }, importCfg{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // independent imports: use both cores
			if c.long && testing.Short() {
				t.Skip("skipping the 1M-row cross-check in -short mode")
			}
			crossCheck(t, c.input(t), c.cfg)
		})
	}
}

func crossCheck(t *testing.T, csvPath string, cfg importCfg) {
	dir := importCSV(t, csvPath, cfg)
	ingest := eventIngestTS(t, dir)

	s, err := replay.Open(dir, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ref, err := openRef(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	var rb refBook
	var cmp topComparer
	k, msgs := 0, 0
	for {
		m, err := ref.message()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.rows {
			rb.apply(&m.rows[i])
		}
		// The importer may cut a message into several events: apply all of
		// them, then compare.
		n := 0
		for k < len(ingest) && ingest[k] == m.local {
			ev, err := s.Next()
			if err != nil {
				t.Fatalf("event %d: %v", k, err)
			}
			if ev.IngestTS != m.local {
				t.Fatalf("event %d: ingest_ts %d, want %d", k, ev.IngestTS, m.local)
			}
			k++
			n++
		}
		if n == 0 {
			t.Fatalf("message at line %d (local_timestamp %d) has no event (event %d has ingest_ts %d)", m.rows[0].line, m.local/1000, k, ingest[min(k, len(ingest)-1)])
		}
		msgs++
		if !cmp.equal(s.Book(), &rb, 25) {
			gb, ga := bookTop(s.Book(), 25)
			t.Fatalf("after the message ending at line %d (event %d): bids: %s; asks: %s", m.rows[len(m.rows)-1].line, k-1,
				diffLevels(gb, rb.top(true, 25)), diffLevels(ga, rb.top(false, 25)))
		}
	}
	if k != len(ingest) {
		t.Fatalf("%d events left after the last message", len(ingest)-k)
	}
	if _, err := s.Next(); err != io.EOF {
		t.Fatalf("after the last event: %v, want io.EOF", err)
	}
	if st := s.Stats(); st.Events != uint64(len(ingest)) {
		t.Fatalf("stats count %d events, the stream has %d", st.Events, len(ingest))
	}
	t.Logf("%d messages, %d events compared", msgs, k)
}

// eventIngestTS lists the ingest time of every event, to find where the
// importer's events for one message end.
func eventIngestTS(t testing.TB, dir string) []uint64 {
	t.Helper()
	evs, err := stream.OpenEvents(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer evs.Close()
	var out []uint64
	for {
		ev, err := evs.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.IngestTS)
	}
}

// topComparer compares the top of a chronicle book with the reference's
// without allocating (the comparison runs after every message).
type topComparer struct {
	lv  []protocol.Level
	buf []byte
}

func (c *topComparer) equal(b *book.Book, rb *refBook, n int) bool {
	ps, ss := b.Scales()
	for _, bid := range []bool{true, false} {
		side := book.Ask
		if bid {
			side = book.Bid
		}
		c.lv = b.Top(side, n, c.lv[:0])
		i, ok := 0, true
		rb.each(bid, n, func(l *refLevel) {
			if !ok || i >= len(c.lv) {
				ok = false
				return
			}
			c.buf = appendFixed(c.buf[:0], c.lv[i].Price, ps)
			ok = string(c.buf) == l.price.s
			c.buf = appendFixed(c.buf[:0], c.lv[i].Size, ss)
			ok = ok && string(c.buf) == l.size.s
			i++
		})
		if !ok || i != len(c.lv) {
			return false
		}
	}
	return true
}
