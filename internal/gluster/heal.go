package gluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
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
//
// last is the brick's previous count (zero: none): an index directory
// unchanged since then is one stat, not read again.
func (c *CLI) PendingHeals(ctx context.Context, brickPath string, last HealIndex) (HealIndex, error) {
	return CountHealIndexSince(ctx, filepath.Join(brickPath, ".glusterfs", "indices", "xattrop"), last)
}

// HealIndex is a count of a heal index directory and what the directory
// looked like when it was counted.
type HealIndex struct {
	Entries uint64
	stamp   dirStamp
	// settled: the directory had not changed for a while when it was
	// counted, so a change after the count shows in its times (which
	// advance in clock ticks, not nanoseconds).
	settled bool
}

// Reusable says whether a later count of the same directory may return
// this one when the directory looks the same; else it reads it again.
func (h HealIndex) Reusable() bool { return h.settled }

// settleTime is how long a directory must have been unchanged for its
// times to show any later change: far above the coarsest tick of a
// brick's file system. A variable for tests.
var settleTime = 2 * time.Second

// dirStamp is what changes in a directory's stat when an entry is added,
// removed or renamed, or the directory is replaced.
type dirStamp struct {
	dev, ino, size uint64
	mtime, ctime   syscall.Timespec
}

// CountHealIndexSince is CountHealIndex that returns last again, without
// reading the directory, when the directory is as it was when last was
// counted.
func CountHealIndexSince(ctx context.Context, dir string, last HealIndex) (HealIndex, error) {
	var st syscall.Stat_t
	if err := ignoringEINTR(func() error { return syscall.Stat(dir, &st) }); err != nil {
		if err == syscall.ENOENT {
			return HealIndex{}, nil
		}
		return HealIndex{}, fmt.Errorf("heal index: %w", &os.PathError{Op: "stat", Path: dir, Err: err})
	}
	stamp := dirStamp{dev: st.Dev, ino: st.Ino, size: uint64(st.Size), mtime: st.Mtim, ctime: st.Ctim}
	if last.settled && last.stamp == stamp {
		return last, nil
	}
	began := time.Now()
	n, err := CountHealIndex(ctx, dir)
	if err != nil {
		return HealIndex{}, err
	}
	settled := time.Unix(st.Mtim.Unix()).Before(began.Add(-settleTime)) &&
		time.Unix(st.Ctim.Unix()).Before(began.Add(-settleTime))
	return HealIndex{Entries: n, stamp: stamp, settled: settled}, nil
}

// ignoringEINTR retries a system call a signal interrupted.
func ignoringEINTR(call func() error) error {
	for {
		if err := call(); err != syscall.EINTR {
			return err
		}
	}
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
