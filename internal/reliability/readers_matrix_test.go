package reliability

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/segment"
)

// matrixSegSize gives the 50k-row sample nine segments.
const matrixSegSize = "262144"

// A moment in the middle of the sample, so that book and snapshots start
// from a checkpoint.
const matrixAt = "1714521603000000000"

// reader is one reading command of the CLI; norm makes its output
// comparable between runs (replay reports its wall time).
type reader struct {
	name string
	args func(dir string) []string
	norm func(t *testing.T, out string) string
	ckpt bool // reads checkpoints.ckpt
	// partial readers read only part of the stream (book up to a moment,
	// snapshots from one via a checkpoint): damage elsewhere may go
	// unseen, and then their output is the undamaged one.
	partial bool
}

var matrixReaders = []reader{
	{name: "dump", args: func(d string) []string { return []string{"dump", d} }},
	{name: "export", args: func(d string) []string { return []string{"export", d} }},
	{name: "replay", args: func(d string) []string { return []string{"replay", "--json", d} },
		norm: func(t *testing.T, out string) string {
			s, err := normalJSON([]byte(out), "wall_ns", "level_updates_per_sec")
			if err != nil {
				return out
			}
			return s
		}},
	{name: "book", args: func(d string) []string { return []string{"book", d, "--at", matrixAt, "--json", "--depth", "0"} }, ckpt: true, partial: true},
	{name: "snapshots", args: func(d string) []string {
		return []string{"snapshots", d, "--depth", "5", "--interval", "100ms", "--from", matrixAt}
	}, ckpt: true, partial: true},
}

// outcome is what every reader must do with a damaged stream.
type outcome int

const (
	same      outcome = iota // exit 0 and the undamaged output
	fails                    // exit 3 naming the file
	ckptFails                // readers of checkpoints fail, the others give the undamaged output
)

// matrixStream is one stream the damage is done to, and what it needs.
type matrixStream struct {
	t         *testing.T
	root      string
	dir       string
	zst       bool
	col       bool // .q.col segments (columnar)
	segs      int
	foreign   string // the same partition's stream of another file, same form
	plainSeed string // the undamaged plain stream
}

func (s *matrixStream) seg(i int) string {
	if s.zst {
		return segment.CompressedName(uint32(i))
	}
	if s.col {
		return segment.ColumnarName(uint32(i))
	}
	return segment.Name(uint32(i))
}

func (s *matrixStream) path(name string) string { return filepath.Join(s.dir, name) }

func (s *matrixStream) read(name string) []byte {
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

func (s *matrixStream) write(name string, b []byte) { writeFile(s.t, s.path(name), b) }

func (s *matrixStream) remove(name string) {
	if err := os.Remove(s.path(name)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *matrixStream) rename(a, b string) {
	if err := os.Rename(s.path(a), s.path(b)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *matrixStream) copyForeign(name, as string) {
	b, err := os.ReadFile(filepath.Join(s.foreign, name))
	if err != nil {
		s.t.Fatal(err)
	}
	s.write(as, b)
}

// editMeta rewrites meta.json with fn's changes (blake3 sums are left
// alone: readers do not hash).
func (s *matrixStream) editMeta(fn func(m *archive.Meta)) {
	m, err := archive.ReadMeta(nil, s.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	fn(m)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		s.t.Fatal(err)
	}
	s.write(archive.MetaName, append(b, '\n'))
}

// fixSizes makes meta.json's sizes those of the files on disk.
func (s *matrixStream) fixSizes() {
	s.editMeta(func(m *archive.Meta) {
		for i, f := range m.Files {
			if st, err := os.Stat(s.path(f.Name)); err == nil {
				m.Files[i].Size = st.Size()
			}
		}
	})
}

func (s *matrixStream) dropFromMeta(name string) {
	s.editMeta(func(m *archive.Meta) {
		for i, f := range m.Files {
			if f.Name == name {
				m.Files = append(m.Files[:i], m.Files[i+1:]...)
				return
			}
		}
		s.t.Fatalf("meta.json does not list %s", name)
	})
}

// boundary is the offset of record k of a .q segment (its end if it has
// fewer).
func boundary(b []byte, k int) int {
	off := segment.HeaderSize
	for ; k > 0 && off+segment.HeaderSize <= len(b); k-- {
		commit := int(binary.LittleEndian.Uint32(b[off:]))
		if commit == 0 {
			break
		}
		off += segment.HeaderSize + (commit-1+segment.HeaderSize-1)&^(segment.HeaderSize-1)
	}
	return off
}

// cutAtRecord truncates segment i right after a few records. In a
// compressed stream it puts the short .q (from the plain seed) in place of
// the .q.zst and compresses the stream again, so that the .q.zst, its
// index and the manifest all agree with the short segment: only the seq
// and count checks are left to notice. fix makes the plain stream's
// manifest sizes agree too.
func (s *matrixStream) cutAtRecord(i int, fix bool) {
	name := segment.Name(uint32(i))
	if s.zst {
		b, err := os.ReadFile(filepath.Join(s.plainSeed, name))
		if err != nil {
			s.t.Fatal(err)
		}
		s.remove(segment.CompressedName(uint32(i)))
		s.remove(segment.IndexName(uint32(i)))
		s.write(name, b[:boundary(b, 5)])
		mustRun(s.t, nil, "compress", "--codec", "zstd", s.dir)
		return
	}
	if s.col {
		b, err := os.ReadFile(filepath.Join(s.plainSeed, name))
		if err != nil {
			s.t.Fatal(err)
		}
		s.remove(segment.ColumnarName(uint32(i)))
		s.write(name, b[:boundary(b, 5)])
		mustRun(s.t, nil, "compress", s.dir)
		return
	}
	b := s.read(name)
	s.write(name, b[:boundary(b, 5)])
	if fix {
		s.fixSizes()
	}
}

type matrixCase struct {
	name  string
	only  string // "plain" or "zst": the form it applies to; "" both
	do    func(s *matrixStream)
	want  outcome
	names func(s *matrixStream) string // the file a failing reader must name
}

func named(f string) func(*matrixStream) string { return func(*matrixStream) string { return f } }
func segNamed(i int) func(*matrixStream) string {
	return func(s *matrixStream) string { return s.seg((i + s.segs) % s.segs) }
}

var matrixCases = []matrixCase{
	{name: "first segment deleted", do: func(s *matrixStream) { s.remove(s.seg(0)) }, want: fails, names: segNamed(0)},
	{name: "middle segment deleted", do: func(s *matrixStream) { s.remove(s.seg(4)) }, want: fails, names: segNamed(4)},
	{name: "last segment deleted", do: func(s *matrixStream) { s.remove(s.seg(s.segs - 1)) }, want: fails, names: segNamed(-1)},
	{name: "last segment deleted, manifest too", do: func(s *matrixStream) {
		last := s.segs - 1
		s.remove(s.seg(last))
		s.dropFromMeta(s.seg(last))
		if s.zst {
			s.remove(segment.IndexName(uint32(last)))
			s.dropFromMeta(segment.IndexName(uint32(last)))
		}
		s.editMeta(func(m *archive.Meta) { m.Segments-- })
	}, want: fails, names: named(archive.MetaName)},
	{name: "middle segment deleted, later ones renumbered", only: "plain", do: func(s *matrixStream) {
		for i := 4; i < s.segs-1; i++ {
			s.rename(s.seg(i+1), s.seg(i))
		}
		s.fixSizes()
		s.dropFromMeta(s.seg(s.segs - 1))
		s.editMeta(func(m *archive.Meta) { m.Segments-- })
	}, want: fails, names: segNamed(4)},
	{name: "last segment truncated at a record boundary", do: func(s *matrixStream) { s.cutAtRecord(s.segs-1, false) },
		want: fails, names: func(s *matrixStream) string {
			if s.zst || s.col {
				return archive.MetaName // recompressed: only the count tells
			}
			return s.seg(s.segs - 1)
		}},
	{name: "last segment truncated at a record boundary, sizes fixed", only: "plain", do: func(s *matrixStream) { s.cutAtRecord(s.segs-1, true) },
		want: fails, names: named(archive.MetaName)},
	{name: "middle segment truncated at a record boundary", do: func(s *matrixStream) { s.cutAtRecord(3, false) },
		want: fails, names: func(s *matrixStream) string {
			if s.zst || s.col {
				return s.seg(4) // recompressed: the seq gap at the next one tells
			}
			return s.seg(3)
		}},
	{name: "middle segment truncated at a record boundary, sizes fixed", only: "plain", do: func(s *matrixStream) { s.cutAtRecord(3, true) },
		want: fails, names: segNamed(4)},
	{name: "middle segment truncated mid-record", do: func(s *matrixStream) {
		b := s.read(s.seg(3))
		s.write(s.seg(3), b[:len(b)*2/3+7])
	}, want: fails, names: segNamed(3)},
	{name: "last segment truncated mid-record, sizes fixed", do: func(s *matrixStream) {
		b := s.read(s.seg(s.segs - 1))
		s.write(s.seg(s.segs-1), b[:len(b)/2+7])
		s.fixSizes()
	}, want: fails, names: segNamed(-1)},
	{name: "two segments swapped", do: func(s *matrixStream) {
		s.rename(s.seg(2), "x")
		s.rename(s.seg(3), s.seg(2))
		s.rename("x", s.seg(3))
	}, want: fails, names: segNamed(2)},
	{name: "two segments swapped, sizes fixed", only: "plain", do: func(s *matrixStream) {
		s.rename(s.seg(2), "x")
		s.rename(s.seg(3), s.seg(2))
		s.rename("x", s.seg(3))
		s.fixSizes()
	}, want: fails, names: segNamed(2)},
	{name: "segment duplicated under the next id", do: func(s *matrixStream) { s.write(s.seg(3), s.read(s.seg(2))) },
		want: fails, names: segNamed(3)},
	{name: "segment duplicated under the next id, sizes fixed", only: "plain", do: func(s *matrixStream) {
		s.write(s.seg(3), s.read(s.seg(2)))
		s.fixSizes()
	}, want: fails, names: segNamed(3)},
	{name: "last segment duplicated under a new id", do: func(s *matrixStream) { s.write(s.seg(s.segs), s.read(s.seg(s.segs-1))) },
		want: fails, names: func(s *matrixStream) string { return s.seg(s.segs) }},
	{name: "stray .q from another stream beside the .q.zst", only: "zst", do: func(s *matrixStream) {
		b, err := os.ReadFile(filepath.Join(strings.Replace(s.foreign, "foreign-zst", "foreign-plain", 1), segment.Name(1)))
		if err != nil {
			s.t.Fatal(err)
		}
		s.write(segment.Name(1), b)
	}, want: fails, names: named(segment.Name(1))},
	{name: "stray .q.zst and .idx from another stream beside the .q", only: "plain", do: func(s *matrixStream) {
		for _, n := range []string{segment.CompressedName(1), segment.IndexName(1)} {
			b, err := os.ReadFile(filepath.Join(strings.Replace(s.foreign, "foreign-plain", "foreign-zst", 1), n))
			if err != nil {
				s.t.Fatal(err)
			}
			s.write(n, b)
		}
	}, want: fails, names: named(segment.CompressedName(1))},
	{name: "segment from another stream in place of one", do: func(s *matrixStream) { s.copyForeign(s.seg(1), s.seg(1)) },
		want: fails, names: segNamed(1)},
	{name: "segment from another stream, sizes fixed", do: func(s *matrixStream) {
		s.copyForeign(s.seg(1), s.seg(1))
		if s.zst {
			s.copyForeign(segment.IndexName(1), segment.IndexName(1))
		}
		s.fixSizes()
	}, want: fails, names: segNamed(1)},
	{name: "stray unknown file", do: func(s *matrixStream) { s.write("notes.txt", []byte("hello\n")) }, want: same},
	{name: "stray .tmp file", do: func(s *matrixStream) { s.write(segment.Name(99)+".tmp", []byte("half")) }, want: same},
	{name: "segment byte flipped", do: func(s *matrixStream) {
		b := s.read(s.seg(5))
		b[len(b)/2] ^= 1
		s.write(s.seg(5), b)
	}, want: fails, names: segNamed(5)},
	{name: "meta.json events +1", do: func(s *matrixStream) { s.editMeta(func(m *archive.Meta) { m.Events++ }) },
		want: fails, names: named(archive.MetaName)},
	{name: "meta.json events -1", do: func(s *matrixStream) { s.editMeta(func(m *archive.Meta) { m.Events-- }) },
		want: fails, names: named(archive.MetaName)},
	{name: "meta.json segments edited", do: func(s *matrixStream) { s.editMeta(func(m *archive.Meta) { m.Segments++ }) },
		want: fails, names: named(archive.MetaName)},
	{name: "meta.json size of a segment edited", do: func(s *matrixStream) {
		s.editMeta(func(m *archive.Meta) {
			for i, f := range m.Files {
				if f.Name == s.seg(2) {
					m.Files[i].Size -= 64
				}
			}
		})
	}, want: fails, names: segNamed(2)},
	{name: "meta.json blake3 of a segment edited", do: func(s *matrixStream) {
		s.editMeta(func(m *archive.Meta) {
			for i, f := range m.Files {
				if f.Name == s.seg(2) {
					m.Files[i].Blake3 = strings.Repeat("0", 64)
				}
			}
		})
	}, want: same}, // readers do not hash: verify's job
	{name: "meta.json says compressed", only: "plain", do: func(s *matrixStream) { s.editMeta(func(m *archive.Meta) { m.Compressed = true }) },
		want: fails, names: named(archive.MetaName)},
	// compressed: false allows .q.zst segments (a partly compressed stream).
	{name: "meta.json says not compressed", only: "zst", do: func(s *matrixStream) { s.editMeta(func(m *archive.Meta) { m.Compressed = false }) },
		want: same},
	{name: "meta.json without a segment", do: func(s *matrixStream) { s.dropFromMeta(s.seg(3)) },
		want: fails, names: named(archive.MetaName)},
	{name: "meta.json without the last segment", do: func(s *matrixStream) { s.dropFromMeta(s.seg(s.segs - 1)) },
		want: fails, names: segNamed(-1)},
	{name: "meta.json lists a segment twice", do: func(s *matrixStream) {
		s.editMeta(func(m *archive.Meta) { m.Files = append(m.Files[:3], m.Files[2:]...) })
	}, want: fails, names: named(archive.MetaName)},
	{name: "meta.json deleted", do: func(s *matrixStream) { s.remove(archive.MetaName) }, want: fails, names: named(archive.MetaName)},
	{name: "meta.json cut short", do: func(s *matrixStream) {
		b := s.read(archive.MetaName)
		s.write(archive.MetaName, b[:len(b)/2])
	}, want: fails, names: named(archive.MetaName)},
	{name: "meta.json from another stream", do: func(s *matrixStream) { s.copyForeign(archive.MetaName, archive.MetaName) },
		want: fails, names: segNamed(0)},
	{name: "ledger entry edited", do: func(s *matrixStream) {
		p := s.ledger()
		b, err := os.ReadFile(p)
		if err != nil {
			s.t.Fatal(err)
		}
		writeFile(s.t, p, []byte(strings.Replace(string(b), `"rows": `, `"rows": 1`, 1)))
	}, want: same},
	{name: "ledger entry deleted", do: func(s *matrixStream) { os.Remove(s.ledger()) }, want: same},
	{name: "checkpoints from another stream", do: func(s *matrixStream) { s.copyForeign(book.FileName, book.FileName) },
		want: ckptFails, names: named(book.FileName)},
	{name: "checkpoints from another stream, size fixed", do: func(s *matrixStream) {
		s.copyForeign(book.FileName, book.FileName)
		s.fixSizes()
	}, want: ckptFails, names: named(book.FileName)},
	{name: "checkpoints byte flipped", do: func(s *matrixStream) {
		b := s.read(book.FileName)
		b[len(b)/2] ^= 1
		s.write(book.FileName, b)
	}, want: ckptFails, names: named(book.FileName)},
	{name: "checkpoints deleted", do: func(s *matrixStream) { s.remove(book.FileName) }, want: same},
	{name: "checkpoints not in meta.json", do: func(s *matrixStream) { s.dropFromMeta(book.FileName) },
		want: ckptFails, names: named(book.FileName)},
	{name: "index from another stream", only: "zst", do: func(s *matrixStream) { s.copyForeign(segment.IndexName(2), segment.IndexName(2)) },
		want: fails, names: named(segment.IndexName(2))},
	{name: "index from another stream, size fixed", only: "zst", do: func(s *matrixStream) {
		s.copyForeign(segment.IndexName(2), segment.IndexName(2))
		s.fixSizes()
	}, want: fails, names: named(segment.CompressedName(2))},
	{name: "index deleted", only: "zst", do: func(s *matrixStream) { s.remove(segment.IndexName(2)) },
		want: fails, names: named(segment.IndexName(2))},
}

func (s *matrixStream) ledger() string {
	ents, err := os.ReadDir(filepath.Join(s.root, bigLedger))
	if err != nil || len(ents) != 1 {
		s.t.Fatalf("ledger: %v %v", ents, err)
	}
	return filepath.Join(s.root, bigLedger, ents[0].Name())
}

// TestReadersMatrix damages a multi-segment stream, plain and compressed,
// in every way above, and runs every reading command on it: each must
// print exactly what it prints for the undamaged stream with exit 0, or
// exit 3 naming the damaged file. Never other output with exit 0.
func TestReadersMatrix(t *testing.T) {
	base := t.TempDir()
	foreignCSV := filepath.Join(base, "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv")
	writeFile(t, foreignCSV, csvFile(goodRows(20000)))
	seeds := map[string]string{}
	for _, form := range []string{"plain", "zst", "col"} {
		extra := []string{}
		switch form {
		case "zst":
			extra = []string{"--compress", "--codec", "zstd"}
		case "col":
			extra = []string{"--compress"}
		}
		for _, which := range []string{"seed", "foreign"} {
			root := filepath.Join(base, which+"-"+form)
			in := testdata(sample50k)
			if which == "foreign" {
				in = foreignCSV
			}
			mustRun(t, nil, append(append([]string{"import", "--archive-root", root, "--segment-size", matrixSegSize}, extra...), in)...)
			seeds[which+"-"+form] = root
		}
	}
	runs, cases := 0, 0
	for _, form := range []string{"plain", "zst", "col"} {
		seed := seeds["seed-"+form]
		m, err := archive.ReadMeta(nil, filepath.Join(seed, bigStream))
		if err != nil {
			t.Fatal(err)
		}
		if m.Segments < 8 {
			t.Fatalf("%d segments: the matrix wants at least 8", m.Segments)
		}
		want := map[string]string{}
		for _, rd := range matrixReaders {
			r := mustRun(t, nil, rd.args(filepath.Join(seed, bigStream))...)
			want[rd.name] = normOut(t, rd, r.stdout)
		}
		for _, c := range matrixCases {
			if c.only != "" && c.only != form {
				continue
			}
			cases++
			t.Run(form+"/"+c.name, func(t *testing.T) {
				root := filepath.Join(t.TempDir(), "root")
				copyTree(t, seed, root)
				s := &matrixStream{t: t, root: root, dir: filepath.Join(root, bigStream), zst: form == "zst", col: form == "col",
					segs: m.Segments, foreign: filepath.Join(seeds["foreign-"+form], bigStream),
					plainSeed: filepath.Join(seeds["seed-plain"], bigStream)}
				c.do(s)
				for _, rd := range matrixReaders {
					runs++
					r := chronicle(t, nil, rd.args(s.dir)...)
					got := normOut(t, rd, r.stdout)
					mustFail := c.want == fails && !rd.partial || c.want == ckptFails && rd.ckpt
					mayFail := mustFail || c.want == fails
					switch {
					case r.code == 0 && got != want[rd.name]:
						t.Errorf("%s: exit 0 with different output: WRONG DATA", rd.name)
					case r.code == 0 && mustFail:
						t.Errorf("%s: exit 0 (the same output), want exit 3 naming %s", rd.name, c.names(s))
					case r.code != 0 && !mayFail:
						t.Errorf("%s: %v; want exit 0 and the undamaged output", rd.name, r)
					case r.code != 0 && (r.code != 3 || !strings.Contains(r.stderr, c.names(s))):
						t.Errorf("%s: %v; want exit 3 naming %s", rd.name, r, c.names(s))
					}
				}
			})
		}
	}
	t.Logf("%d cases, %d reader runs", cases, runs)
}

func normOut(t *testing.T, rd reader, out string) string {
	if rd.norm != nil {
		return rd.norm(t, out)
	}
	return out
}

// TestReadersManySegments reads a stream of more segments than a process
// may open files (ulimit -n 1024) with every reader: they hold a bounded
// number open.
func TestReadersManySegments(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh to set the file limit")
	}
	root := t.TempDir()
	// 2 KiB segments: the 50k-row sample makes 1,161.
	mustRun(t, nil, "import", "--archive-root", root, "--segment-size", "2048", "--compress", testdata(sample50k))
	dir := filepath.Join(root, bigStream)
	m, err := archive.ReadMeta(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Segments < 1100 {
		t.Fatalf("%d segments, want 1,100+", m.Segments)
	}
	for _, rd := range matrixReaders {
		args := rd.args(dir)
		want := mustRun(t, nil, args...)
		ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
		cmd, so, se := command(ctx, nil, args...)
		// Soft and hard limit: the Go runtime raises the soft one to the hard.
		cmd.Path, cmd.Args = "/bin/sh", append([]string{"sh", "-c", `ulimit -n 1024 && exec "$0" "$@"`, bin}, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r, err := finish(cmd, so, se, time.Now(), args)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if r.code != 0 || normOut(t, rd, r.stdout) != normOut(t, rd, want.stdout) {
			t.Errorf("%s under ulimit -n 1024: %v", rd.name, r)
		}
	}
	t.Logf("%d segments", m.Segments)
}
