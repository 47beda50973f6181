package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// pruneBatch bounds the events deleted per transaction.
	pruneBatch = 1000
	// pruneMinInterval spaces out pruning triggered by commits.
	pruneMinInterval = 2 * time.Second
	// pruneIdleInterval is how often age retention runs without commits.
	pruneIdleInterval = time.Minute
)

var errNothingToPrune = errors.New("nothing to prune")

// pruner applies retention right away, then after commits (at most every
// pruneMinInterval) and every pruneIdleInterval.
func (j *Journal) pruner() {
	defer close(j.prunerDone)
	idle := time.NewTicker(pruneIdleInterval)
	defer idle.Stop()
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		if _, err := j.prune(j.now()); err != nil {
			j.log.Error("journal: retention failed", "err", err)
		}
		pause.Reset(pruneMinInterval)
		select {
		case <-j.done:
			return
		case <-pause.C:
		}
		select {
		case <-j.done:
			return
		case <-j.pruneKick:
		case <-idle.C:
		}
	}
}

// prune deletes events beyond the count limit and events journaled before
// now - maxAge, oldest first, in transactions of at most pruneBatch
// deletions. It returns how many events it deleted. Age is when an event
// was journaled, not its own time: a sender's clock may be far behind
// (ts=0) or ahead, and sequence order would then not be time order, so
// stopping at the first young event would delete too early or never.
func (j *Journal) prune(now time.Time) (int, error) {
	j.pruneMu.Lock()
	defer j.pruneMu.Unlock()
	total := 0
	for {
		select {
		case <-j.done:
			return total, nil
		default:
		}
		// Sequence numbers are dense, so keeping the newest maxEvents
		// means deleting every key below last-maxEvents+1.
		var below uint64
		if last := j.lastSeq.Load(); last > j.maxEvents {
			below = last - j.maxEvents + 1
		}
		cutoff := now.Add(-j.maxAge)
		n := 0
		err := j.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketEvents)
			var del [][]byte
			c := b.Cursor()
			for k, v := c.First(); k != nil && len(del) < pruneBatch; k, v = c.Next() {
				if binary.BigEndian.Uint64(k) >= below {
					t, err := decodeJournaled(v, j.opened)
					if err != nil || !t.Before(cutoff) {
						break
					}
				}
				del = append(del, bytes.Clone(k))
			}
			if len(del) == 0 {
				return errNothingToPrune
			}
			for _, k := range del {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n = len(del)
			return nil
		})
		if errors.Is(err, errNothingToPrune) {
			return total, nil
		}
		if err != nil {
			j.setHealth(err)
			return total, closedErr(err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
