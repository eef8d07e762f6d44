package archive

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zeebo/blake3"

	"github.com/chronicle-archive/chronicle/vfs"
)

// MetaName is the stream's metadata file.
const MetaName = "meta.json"

// Meta is meta.json. The first five fields are the reference's; the rest
// are Chronicle's additions (FORMAT.md allows more fields).
type Meta struct {
	Venue          string     `json:"venue"`
	SymbolCode     string     `json:"symbol_code"`
	IngestTimeNS   int64      `json:"ingest_time_ns"`
	EventTimeRange *[2]uint64 `json:"event_time_range"`
	Completeness   string     `json:"completeness"`

	MetaVersion int `json:"chronicle_meta_version"`
	// Symbol is the exact symbol (BTC/USD) of which SymbolCode (BTC-USD) is
	// the directory name; empty in streams written before it existed.
	Symbol   string `json:"symbol,omitempty"`
	Date     string `json:"date"`
	Stream   string `json:"stream"`
	Provider string `json:"provider"`
	// DataType is the provider's data type (Tardis's name:
	// incremental_book_L2, trades, book_snapshot_25, ...), RecordType the
	// record type of the stream's payloads (docs/FORMAT.md), Depth a book
	// snapshot stream's N, and Scales the largest decimal scale of each
	// scaled field ("price", "amount", "funding_rate", "asks.price", ...).
	// The archive stores them; it does not interpret them.
	DataType   string           `json:"data_type,omitempty"`
	RecordType string           `json:"record_type,omitempty"`
	Depth      int              `json:"depth,omitempty"`
	Scales     map[string]uint8 `json:"scales,omitempty"`
	Source     string           `json:"source"`      // input file name
	SourceHash string           `json:"source_hash"` // blake3 hex of the input's bytes (the ledger key)
	VenueID    uint16           `json:"venue_id"`
	MarketID   uint32           `json:"market_id"`
	Rows       int64            `json:"rows"`
	Groups     int64            `json:"groups"`
	Events     int64            `json:"events"`
	Segments   int              `json:"segments"`
	Compressed bool             `json:"compressed"`
	// Codec is what the segments of a compressed stream are: "zstd"
	// (.q.zst) or a BlockCodec's name ("columnar", .q.col); omitted for
	// plain .q. A compressed stream from before the field is zstd.
	Codec string `json:"codec,omitempty"`
	// Made records the import options that shape the stored bytes, so that
	// a re-import of the same file with other options is noticed.
	Made *MadeWith `json:"made_with,omitempty"`
	// Files is the manifest: every file the stream holds besides meta.json,
	// with its size and blake3, so that verify notices a change to any byte
	// even where no decoder would.
	Files []FileEntry `json:"files"`
}

// MadeWith is meta.json's made_with: the import options besides venue and
// market ids that decide the stored bytes. Scales are -1 for automatic.
type MadeWith struct {
	SegmentSize     int64 `json:"segment_size"`
	PriceScale      int   `json:"price_scale"`
	SizeScale       int   `json:"size_scale"`
	CheckpointEvery int   `json:"checkpoint_every"` // 0: no checkpoints
}

// ExactSymbol is the symbol as the data spells it.
func (m *Meta) ExactSymbol() string {
	if m.Symbol != "" {
		return m.Symbol
	}
	return m.SymbolCode
}

// FileEntry is one manifest line.
type FileEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Blake3 string `json:"blake3"`
}

// Ledger is one import ledger entry, imports/v1/tardis/.../<hash>.json.
type Ledger struct {
	SourcePath   string `json:"source_path"`
	FileHash     string `json:"file_hash"`
	Rows         int64  `json:"rows"`
	Groups       int64  `json:"groups"`
	Segments     int    `json:"segments"`
	MinTSNS      uint64 `json:"min_ts_ns"`
	MaxTSNS      uint64 `json:"max_ts_ns"`
	ImportedAtNS int64  `json:"imported_at_ns"`
	Venue        string `json:"venue"`
	Symbol       string `json:"symbol"`
	Date         string `json:"date"`
	Stream       string `json:"stream"`
	Events       int64  `json:"events"`
	// SourceSize and SourceMtimeNS are the input's size and modification
	// time (a regular file's; 0 for a pipe), so that a batch rerun can
	// skip a file whose name, size and mtime match without reading it.
	SourceSize    int64 `json:"source_size,omitempty"`
	SourceMtimeNS int64 `json:"source_mtime_ns,omitempty"`
	// Status is LedgerNoData for Tardis's empty file of a day without
	// data (no stream is published), else empty.
	Status string `json:"status,omitempty"`
}

// LedgerNoData is the Status of an empty input's ledger entry.
const LedgerNoData = "no_data"

// ReadMeta reads dir/meta.json. A missing file is fs.ErrNotExist.
func ReadMeta(fsys vfs.FS, dir string) (*Meta, error) {
	fsys = vfs.OrDefault(fsys)
	b, err := vfs.ReadFile(fsys, filepath.Join(dir, MetaName))
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, MetaName), err)
	}
	return &m, nil
}

func writeJSON(fsys vfs.FS, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(fsys, path, append(b, '\n'))
}

// HashFile returns the blake3 hex digest and size of a file.
func HashFile(fsys vfs.FS, path string) (string, int64, error) {
	fsys = vfs.OrDefault(fsys)
	f, err := fsys.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := blake3.New()
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// manifest hashes every regular file in dir except meta.json and *.tmp.
func manifest(fsys vfs.FS, dir string) ([]FileEntry, error) {
	return manifestWith(fsys, dir, nil)
}

// manifestWith is manifest, taking the entry of a file from known instead
// of hashing it when known has the file's name and size. known must only
// hold entries that the code which wrote the file computed from the very
// bytes it wrote (segment.Writer.PublishedFiles), for files nothing has
// rewritten since: the manifest is what verify trusts.
func manifestWith(fsys vfs.FS, dir string, known map[string]FileEntry) ([]FileEntry, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []FileEntry
	for _, e := range ents {
		name := e.Name()
		if name == MetaName || strings.HasSuffix(name, ".tmp") || !e.Type().IsRegular() {
			continue
		}
		if k, ok := known[name]; ok && k.Name == name {
			info, err := e.Info()
			if err != nil {
				return nil, err
			}
			if info.Size() == k.Size {
				out = append(out, k)
				continue
			}
		}
		sum, size, err := HashFile(fsys, filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, FileEntry{Name: name, Size: size, Blake3: sum})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// readLedger reads the stream's ledger entry of the input with this hash.
func readLedger(fsys vfs.FS, root string, p Partition, hash string) (*Ledger, error) {
	fsys = vfs.OrDefault(fsys)
	path := p.LedgerPath(root, hash)
	b, err := vfs.ReadFile(fsys, path)
	if err != nil {
		return nil, err
	}
	var l Ledger
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("ledger entry %s: %w", path, err)
	}
	return &l, nil
}

// removeStaleLedgers deletes the stream's ledger entries other than keep:
// they describe data that a --force import has replaced. It goes by the
// file names Chronicle gives entries (<hash>.<stream>.json), so it never
// touches another stream's entries or a file it did not name, and never
// needs to parse one.
func removeStaleLedgers(fsys vfs.FS, root string, p Partition, keep string) error {
	dir := p.LedgerDir(root)
	if err := noSymlinks(root, dir); err != nil {
		return err
	}
	ents, err := fsys.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	removed := false
	for _, e := range ents {
		hash, ok := p.ledgerHash(e.Name())
		if !ok || hash == keep || !e.Type().IsRegular() {
			continue
		}
		if err := fsys.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
		removed = true
	}
	if removed {
		return fsys.SyncDir(dir)
	}
	return nil
}
