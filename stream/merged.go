package stream

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/merge"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/timespec"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Input is one stream of a merged replay: an address and the time range
// to read of it.
type Input struct {
	Address Address
	Range   timespec.Range
	// Dirs, when set, are the day directories to read (Resolve's answer
	// for a stream directory argument), and Address only labels them;
	// otherwise OpenMerged resolves Address under the root.
	Dirs []string
}

// Item is one record of a merged replay.
type Item struct {
	Input   int // index in the inputs given to OpenMerged
	Address Address
	LocalTS uint64 // ns
	// Event is the record of a book input, Record that of any other; the
	// other is nil. Both are valid until the next call to Next or NextItem.
	Event  *protocol.Event
	Record *record.Record
}

// Merged yields the records of several streams (symbols, data types, days)
// in one time order: by local timestamp, then by input in the order given,
// then in each input's stored order (its days by date). The CLI gives the
// inputs sorted by their address string, VENUE/SYMBOL/TYPE (SortInputs),
// so that a trade and a book event with the same local timestamp always
// come out in the same order: binance-futures/BTCUSDT/book before
// binance-futures/BTCUSDT/trades. An input whose timestamps go backwards
// is passed through in its own order (see package merge). Each input's
// Range bounds it as in OpenEventsRange.
//
// It streams in bounded memory: a k-way merge (a merge.Tree) over one
// range reader per input, each holding one open day and its pending
// record, and it allocates nothing per record.
type Merged struct {
	inputs  []Input
	src     []*days
	t       *merge.Tree
	started bool
	err     error // final, with its input named
	// NextItem's answers, one per input: Input and Address are set once,
	// and Event or Record change only when the input opens a day.
	items []Item
}

// SortInputs puts inputs in the CLI's order, by address string (stable, so
// that inputs of one address keep their order).
func SortInputs(inputs []Input) {
	slices.SortStableFunc(inputs, func(a, b Input) int { return strings.Compare(a.Address.String(), b.Address.String()) })
}

// OpenMerged opens the inputs, resolving each Address under root (see
// Resolve) unless it has Dirs.
func OpenMerged(fsys vfs.FS, root string, inputs []Input) (*Merged, error) {
	fsys = vfs.OrDefault(fsys)
	m := &Merged{inputs: inputs, items: make([]Item, len(inputs))}
	for i := range m.items {
		m.items[i] = Item{Input: i, Address: inputs[i].Address}
	}
	for _, in := range inputs {
		dirs := in.Dirs
		if len(dirs) == 0 {
			var err error
			if dirs, err = resolveAddress(fsys, root, in.Address, in.Range); err != nil {
				m.Close()
				return nil, err
			}
		}
		d, err := openDays(fsys, dirs, in.Range)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.src = append(m.src, d)
	}
	m.t = merge.NewTree(len(inputs))
	return m, nil
}

// openDays opens dirs with the reader of their kind, told by the first
// day's meta.json.
func openDays(fsys vfs.FS, dirs []string, r timespec.Range) (*days, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no stream directory to read")
	}
	isBook := true // without a readable meta.json: OpenEvents says what is wrong
	if m, err := archive.ReadMeta(fsys, dirs[0]); err == nil {
		t, err := typeOf(m, dirs[0])
		if err != nil {
			return nil, err
		}
		isBook = t == record.BookEvent
	}
	d := &days{}
	if err := d.init(fsys, dirs, r, isBook); err != nil {
		return nil, err
	}
	return d, nil
}

// Next returns the next record in merged order; io.EOF at the end. An
// error names the input it comes from, and is final.
func (m *Merged) Next() (Item, error) {
	it, err := m.NextItem()
	if err != nil {
		return Item{}, err
	}
	return *it, nil
}

// NextItem is Next without the copy: the Item is the Merged's own (one
// per input), valid (like the records it points at) until the next call.
// Copying an Item out costs about a fifth of what a merged record costs
// (an Address is three strings), so readers of millions of records take
// this one. The caller must not modify the Item: NextItem rewrites only
// the fields that change.
func (m *Merged) NextItem() (*Item, error) {
	if m.err != nil {
		return nil, m.err
	}
	if !m.started {
		if err := m.start(); err != nil {
			return nil, err
		}
	} else {
		// Advance the last winner: its record has been read by now.
		w, _, _ := m.t.Winner()
		ts, err := m.src[w].Next()
		switch {
		case err == nil:
			m.t.Update(ts)
		case err == io.EOF:
			m.t.Finish()
		default:
			return nil, m.fail(w, err)
		}
	}
	i, ts, ok := m.t.Winner()
	if !ok {
		return nil, m.fail(-1, io.EOF)
	}
	// The input's own Item: copying an Address (three strings) into one
	// shared Item cost a tenth of what the merge itself does per record,
	// and each pointer store checks for the write barrier.
	it, d := &m.items[i], m.src[i]
	it.LocalTS = ts
	if d.book {
		if it.Event != d.ev {
			it.Event = d.ev
		}
	} else if it.Record != d.rec {
		it.Record = d.rec
	}
	return it, nil
}

// start reads the first record of every input.
func (m *Merged) start() error {
	m.started = true
	for i, d := range m.src {
		ts, err := d.Next()
		switch {
		case err == nil:
			m.t.Set(i, ts)
		case err != io.EOF:
			return m.fail(i, err)
		}
	}
	m.t.Build()
	return nil
}

// fail makes err final, naming input i (-1: none, for io.EOF).
func (m *Merged) fail(i int, err error) error {
	if i >= 0 {
		err = fmt.Errorf("%s: %w", m.inputs[i].Address, err)
	}
	m.err = err
	return err
}

// Warnings lists, for the CLI's stderr, the inputs whose range holds no
// data.
func (m *Merged) Warnings() []string {
	var out []string
	for i, d := range m.src {
		if d.warning != "" {
			out = append(out, m.inputs[i].Address.String()+": "+d.warning)
		}
	}
	return out
}

// Close closes every input's files.
func (m *Merged) Close() error {
	var first error
	for _, d := range m.src {
		if err := d.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
