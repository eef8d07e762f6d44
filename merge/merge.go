// Package merge merges several time-ordered sources into one time order in
// bounded memory: a k-way merge that holds one pending item per source.
//
// A Source only reports the timestamp of its next item; the item itself
// stays in the source (a segment reader's current record, say), so merging
// copies nothing and allocates nothing per item. The caller reads the item
// from the source whose index Next returns, before calling Next again.
//
// Order: by timestamp; equal timestamps by source index, lowest first; and
// within one source, the source's own order (the merge is stable). The
// caller chooses the order of the sources and so the tie-break: the CLI
// orders streams by name, VENUE/SYMBOL/TYPE (then by day), so that a trade
// and a book update with the same local timestamp always come out in the
// same, documented order.
//
// A source whose timestamps go backwards is passed through in its own
// order: its items are never reordered, and each is placed by the
// timestamp it has when it becomes that source's head. The output is then
// not sorted overall; it is "each source in its own order, merged by
// current head", exactly what comparing the heads gives. Sources that are
// nondecreasing give a nondecreasing output.
//
// The merge is a loser tree (tournament tree): after each item it replays
// only the path from the advanced source's leaf to the root, one
// comparison per level, ⌈log2 k⌉ in all, against about 2·log2 k for a
// binary heap's sift-down (see BenchmarkMerge for the figures).
package merge

import (
	"io"
	"math"
)

// Source is one time-ordered input of a Merger.
type Source interface {
	// Next advances the source to its next item and returns that item's
	// timestamp, or io.EOF when there is none; the caller reads the item
	// from the source itself. Any other error stops the merge.
	Next() (ts uint64, err error)
}

// head is a source's pending item: its timestamp, or done when the source
// is exhausted (done sorts after every timestamp, MaxUint64 included).
type head struct {
	ts   uint64
	done bool
}

// Merger merges its sources; see the package comment for the order.
type Merger struct {
	src     []Source
	heads   []head
	tree    []int // tree[0]: the winner; tree[1:]: the loser at each internal node
	started bool
	err     error
	errSrc  int
}

// New returns a Merger of sources, in the order (and tie-break) of their
// indices. It calls no source: the first Next does.
func New(sources []Source) *Merger {
	return &Merger{
		src:   sources,
		heads: make([]head, len(sources)),
		tree:  make([]int, len(sources)),
	}
}

// Next returns the index of the source holding the next item in merged
// order and that item's timestamp. It first advances the source returned
// by the previous call, so that source's item must have been read by then.
// At the end it returns -1 and io.EOF; when a source fails, that source's
// index and its error, unchanged. Both are final: later calls return the
// same.
func (m *Merger) Next() (src int, ts uint64, err error) {
	if !m.started || m.err != nil {
		return m.first()
	}
	// The hot path, written out (calls cost more than the work here):
	// advance the last winner, then replay the path from its leaf to the
	// root, where the winner so far meets each stored loser.
	w := m.tree[0]
	if ts, err = m.src[w].Next(); err != nil {
		if err != io.EOF {
			return m.fail(w, err)
		}
		m.heads[w] = head{ts: math.MaxUint64, done: true}
	} else {
		m.heads[w].ts = ts
	}
	for n := (len(m.tree) + w) >> 1; n >= 1; n >>= 1 {
		if l := m.tree[n]; m.less(l, w) {
			m.tree[n], w = w, l
		}
	}
	m.tree[0] = w
	if h := m.heads[w]; !h.done {
		return w, h.ts, nil
	}
	return m.fail(-1, io.EOF)
}

// first starts the merge, or repeats the final result.
func (m *Merger) first() (int, uint64, error) {
	if m.err != nil {
		return m.errSrc, 0, m.err
	}
	m.started = true
	if len(m.src) == 0 {
		return m.fail(-1, io.EOF)
	}
	for i := range m.src {
		if err := m.advance(i); err != nil {
			return m.fail(i, err)
		}
	}
	m.build()
	w := m.tree[0]
	if m.heads[w].done {
		return m.fail(-1, io.EOF)
	}
	return w, m.heads[w].ts, nil
}

func (m *Merger) fail(src int, err error) (int, uint64, error) {
	m.err, m.errSrc = err, src
	return src, 0, err
}

// advance moves source i to its next item.
func (m *Merger) advance(i int) error {
	ts, err := m.src[i].Next()
	if err == io.EOF {
		m.heads[i] = head{ts: math.MaxUint64, done: true}
		return nil
	}
	if err != nil {
		return err
	}
	m.heads[i].ts = ts
	return nil
}

// less reports whether source a's head comes before source b's.
func (m *Merger) less(a, b int) bool {
	ha, hb := &m.heads[a], &m.heads[b]
	if ha.ts != hb.ts {
		return ha.ts < hb.ts
	}
	if ha.done != hb.done {
		return hb.done
	}
	return a < b
}

// build plays the whole tournament. Source i is leaf k+i; node n has
// children 2n and 2n+1, which for any k makes nodes 1..k-1 the internal
// nodes.
func (m *Merger) build() {
	k := len(m.src)
	winners := make([]int, 2*k)
	for i := range k {
		winners[k+i] = i
	}
	for n := k - 1; n >= 1; n-- {
		a, b := winners[2*n], winners[2*n+1]
		if m.less(b, a) {
			a, b = b, a
		}
		winners[n], m.tree[n] = a, b
	}
	m.tree[0] = winners[1] // for k == 1, the only leaf
}
