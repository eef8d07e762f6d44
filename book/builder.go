package book

import (
	"bufio"
	"fmt"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Builder writes a stream's checkpoint file from its events as they are
// written (an import) or read back (`chronicle index`), giving the same
// bytes either way: a checkpoint before the first event
// of every segment and before every every-th event, each positioned at that
// event's record, and the file published the same way (a .tmp, fsynced,
// renamed into place, the directory fsynced).
type Builder struct {
	fsys      vfs.FS
	dir       string
	name, tmp string
	f         vfs.File // the open .tmp; nil once closed
	bw        *bufio.Writer
	cw        *CheckpointWriter
	r         *Replayer
	cp        Checkpoint // reused: no allocation per checkpoint once grown
	every     int
	n         int    // events added
	seg       uint32 // segment of the last checkpoint
}

// NewBuilder creates dir's checkpoint .tmp. every <= 0 means the
// default.
func NewBuilder(fsys vfs.FS, dir string, every int) (*Builder, error) {
	if every <= 0 {
		every = DefaultEvery
	}
	name := filepath.Join(dir, FileName)
	b := &Builder{fsys: fsys, dir: dir, name: name, tmp: name + ".tmp", every: every,
		r: NewReplayer(Options{})}
	f, err := fsys.Create(b.tmp)
	if err != nil {
		return nil, err
	}
	b.f = f
	b.bw = bufio.NewWriterSize(f, 1<<20)
	b.cw = NewCheckpointWriter(b.bw)
	return b, nil
}

// add takes the next event of the stream, which was written at pos.
func (b *Builder) Add(pos segment.Position, ev *protocol.Event) error {
	if b.n == 0 || pos.SegmentID != b.seg || b.n%b.every == 0 {
		b.r.Checkpoint(&b.cp)
		b.cp.SegmentID, b.cp.Offset = pos.SegmentID, pos.Offset
		if err := b.cw.Add(&b.cp); err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		b.seg = pos.SegmentID
	}
	// An event the book cannot apply leaves the replayer unchanged;
	// readers skip it the same way, so it is not an import error.
	b.r.Apply(ev)
	b.n++
	return nil
}

// finish completes the file and publishes it in the directory.
func (b *Builder) Finish() error {
	if err := b.cw.Close(); err != nil {
		return err
	}
	if err := b.bw.Flush(); err != nil {
		return err
	}
	if err := b.f.Sync(); err != nil {
		return err
	}
	f := b.f
	b.f = nil
	if err := f.Close(); err != nil {
		return err
	}
	if err := b.fsys.Rename(b.tmp, b.name); err != nil {
		return err
	}
	b.tmp = ""
	return b.fsys.SyncDir(b.dir)
}

// abort closes and removes the .tmp of an unfinished file. It is a no-op
// after finish.
func (b *Builder) Abort() {
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
	if b.tmp != "" {
		b.fsys.Remove(b.tmp)
		b.tmp = ""
	}
}

// DefaultEvery is how many events apart a Builder writes checkpoints
// (besides one at the start of every segment) when asked for no other
// interval. A book --at replays from the checkpoint before its time, so
// the interval is what it decodes: on a generated 10M-row Binance day
// (1.5M events of ~270 .q bytes, a book of ~1,900 levels) every 100,000
// events meant 13 columnar blocks of 1 MiB per query on average, every
// 20,000 about 3. A checkpoint holds the whole book, though (~30 KB
// there), and a compressed archive grows with their number: 0.356x the
// .csv.gz at 100,000, 0.366x at 40,000, 0.381x at 20,000, 0.391x at
// 15,000.
const DefaultEvery = 20_000
