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

// Merger merges its sources; see the package comment for the order.
type Merger struct {
	src     []Source
	t       Tree
	started bool
	err     error
	errSrc  int
}

// New returns a Merger of sources, in the order (and tie-break) of their
// indices. It calls no source: the first Next does.
func New(sources []Source) *Merger {
	return &Merger{src: sources, t: *NewTree(len(sources))}
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
	w, _, _ := m.t.Winner()
	if ts, err = m.src[w].Next(); err == nil {
		m.t.Update(ts)
	} else if err == io.EOF {
		m.t.Finish()
	} else {
		return m.fail(w, err)
	}
	if w, ts, ok := m.t.Winner(); ok {
		return w, ts, nil
	}
	return m.fail(-1, io.EOF)
}

// first starts the merge, or repeats the final result.
func (m *Merger) first() (int, uint64, error) {
	if m.err != nil {
		return m.errSrc, 0, m.err
	}
	m.started = true
	for i, s := range m.src {
		ts, err := s.Next()
		switch {
		case err == nil:
			m.t.Set(i, ts)
		case err != io.EOF:
			return m.fail(i, err)
		}
	}
	m.t.Build()
	if w, ts, ok := m.t.Winner(); ok {
		return w, ts, nil
	}
	return m.fail(-1, io.EOF)
}

func (m *Merger) fail(src int, err error) (int, uint64, error) {
	m.err, m.errSrc = err, src
	return src, 0, err
}

// Tree is the tournament of a Merger without its sources, for a caller
// that advances them itself (package stream's merged replay): a call of a
// concrete type's method per item instead of an interface's, which the
// compiler cannot inline or see through. The order is Merger's; Merger is
// a Tree over Sources. BenchmarkTree and BenchmarkMerge compare the two.
//
// Use: Set the head of each source that has one, Build, then repeatedly
// read the Winner and replace its head with Update, or Finish when that
// source has no more items.
type Tree struct {
	k     int
	heads []key // per source
	// nodes[0] is the winner; nodes[1:] the loser at each internal node.
	// Source i is leaf k+i; node n has children 2n and 2n+1, which for any
	// k makes nodes 1..k-1 the internal nodes.
	nodes []key
}

// key orders the heads: by timestamp, then by rank, which is the source's
// index, or k + index once the source is done (a done source's ts is
// MaxUint64), so that a done source comes after every head, one at
// MaxUint64 included, and the tie-break is the index, with one compare.
type key struct{ ts, rank uint64 }

func (a key) less(b key) bool { return a.ts < b.ts || a.ts == b.ts && a.rank < b.rank }

// NewTree returns the tree of k sources, each done until Set.
func NewTree(k int) *Tree {
	t := &Tree{k: k, heads: make([]key, k), nodes: make([]key, max(k, 1))}
	for i := range t.heads {
		t.heads[i] = key{math.MaxUint64, uint64(k + i)}
	}
	t.nodes[0] = key{math.MaxUint64, uint64(k)} // no winner before Build
	return t
}

// Set gives source i its head, before Build.
func (t *Tree) Set(i int, ts uint64) { t.heads[i] = key{ts, uint64(i)} }

// Build plays the whole tournament.
func (t *Tree) Build() {
	k := t.k
	if k == 0 {
		return
	}
	winners := make([]key, 2*k)
	copy(winners[k:], t.heads)
	for n := k - 1; n >= 1; n-- {
		a, b := winners[2*n], winners[2*n+1]
		if b.less(a) {
			a, b = b, a
		}
		winners[n], t.nodes[n] = a, b
	}
	t.nodes[0] = winners[1] // for k == 1, the only leaf
}

// Winner is the source whose head comes first and that head; ok is false
// when every source is done (or there are none).
func (t *Tree) Winner() (src int, ts uint64, ok bool) {
	w := t.nodes[0]
	if w.rank >= uint64(t.k) {
		return -1, 0, false
	}
	return int(w.rank), w.ts, true
}

// Update gives the winner its next head and replays its path.
func (t *Tree) Update(ts uint64) {
	t.replay(key{ts, t.nodes[0].rank})
}

// Finish marks the winner done and replays its path.
func (t *Tree) Finish() {
	i := t.nodes[0].rank
	t.replay(key{math.MaxUint64, uint64(t.k) + i})
}

// replay walks from the leaf of w's source to the root, where the winner
// so far meets each stored loser: one compare per level.
func (t *Tree) replay(w key) {
	i := w.rank
	if i >= uint64(t.k) {
		i -= uint64(t.k)
	}
	nodes := t.nodes
	for n := (uint64(t.k) + i) >> 1; n >= 1 && n < uint64(len(nodes)); n >>= 1 {
		if l := nodes[n]; l.less(w) {
			nodes[n], w = w, l
		}
	}
	nodes[0] = w
}
