package archive

import (
	"context"

	"github.com/chronicle-archive/chronicle/vfs"
)

// DefaultCheckpointEvery is how many events apart import writes book
// checkpoints.
const DefaultCheckpointEvery = 100_000

// buildCheckpoints replays the stream in dir and writes its checkpoint file.
// TODO(issue 3): wire to package book once it lands.
func buildCheckpoints(ctx context.Context, fsys vfs.FS, dir string, every int) error {
	return nil
}
