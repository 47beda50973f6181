package gluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// PendingHeals counts the entries waiting for self-heal that a brick of this
// node records: the files named by a GFID under
// <brick>/.glusterfs/indices/xattrop/, which AFR and EC add when a write
// missed a brick of the set and remove once healed (glusterfs's index
// xlator). The "xattrop-<uuid>" base file they are hard links of is not
// counted. It is one directory read on the local brick, no glusterd call and
// no lock; it costs O(entries) names (no stat). The count is what `volume
// heal VOL statistics heal-count` tells for the brick, without its volume
// lock. A brick without an index directory (never written) has none.
func (c *CLI) PendingHeals(ctx context.Context, brickPath string) (uint64, error) {
	return CountHealIndex(ctx, filepath.Join(brickPath, ".glusterfs", "indices", "xattrop"))
}

// CountHealIndex counts the GFID-named entries of an index directory.
func CountHealIndex(ctx context.Context, dir string) (uint64, error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("heal index: %w", err)
	}
	defer f.Close()
	var n uint64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		names, err := f.Readdirnames(4096)
		for _, name := range names {
			if isGFID(name) {
				n++
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("heal index: %w", err)
		}
	}
}

// isGFID says whether a name is a GFID in its canonical form
// (8-4-4-4-12 hex digits).
func isGFID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
