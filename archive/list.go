package archive

import (
	"encoding/json"
	"errors"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// StreamInfo is one line of `chronicle ls`.
type StreamInfo struct {
	Dir        string
	Partition  Partition
	Segments   int
	Events     int64
	Rows       int64
	MinTS      uint64
	MaxTS      uint64
	HasRange   bool
	Bytes      int64
	Compressed bool   // some segment is .q.zst or .q.col
	Codec      string // meta.json's codec when it says compressed ("zstd", "columnar")
	Meta       *Meta  // nil when meta.json is missing or unreadable
}

// List describes every stream at or below path, from meta.json and the
// directory listing (it reads no segment data).
func List(fsys vfs.FS, path string) ([]StreamInfo, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	dirs, err := FindStreams(fsys, path)
	if err != nil {
		return nil, err
	}
	out := make([]StreamInfo, 0, len(dirs))
	for _, dir := range dirs {
		si := StreamInfo{Dir: dir}
		si.Partition, _, _ = PartitionOf(dir)
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		ids := map[uint32]bool{} // a segment may be there as .q and .q.zst (or .q.col) at once
		for _, e := range ents {
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
				si.Bytes += info.Size()
			}
			if id, kind, ok := segment.ParseName(e.Name()); ok && kind != segment.KindIndex {
				ids[id] = true
				si.Compressed = si.Compressed || kind == segment.KindCompressed || kind == segment.KindColumnar
			}
		}
		si.Segments = len(ids)
		// A missing or unparsable meta.json is shown (verify says what is
		// wrong with it); failing to read one is an error, or a cut
		// connection to S3 would list a stream as empty with exit 0.
		m, err := ReadMeta(fsys, dir)
		if isReadError(err) {
			return nil, err
		}
		if err == nil {
			si.Meta = m
			si.Events, si.Rows, si.Codec = m.Events, m.Rows, metaCodec(m)
			if r := m.EventTimeRange; r != nil {
				si.MinTS, si.MaxTS, si.HasRange = r[0], r[1], true
			}
		}
		out = append(out, si)
	}
	return out, nil
}

// isJSONError tells whether err is meta.json's content failing to parse,
// as opposed to failing to read it.
func isJSONError(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te)
}

// Rel shortens dir relative to base for display.
func Rel(base, dir string) string {
	if r, err := filepath.Rel(base, dir); err == nil {
		return r
	}
	return dir
}
