package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Event is one journal entry.
type Event struct {
	Seq    uint64    // assigned by Append; never reused, survives restarts
	Time   time.Time // when it happened (zero means now); stored with µs precision, read back in UTC
	Node   string    // node UUID
	Name   string    // e.g. VOLUME_SET, BRICK_OFFLINE
	Source string    // "native" or "diff"
	Object string    // D-Bus object path where one applies, else ""
	Fields []Field   // ordered key/value pairs
}

// Field is one key/value pair of an Event.
type Field struct{ Key, Value string }

// Options tune a Journal. The zero value is usable.
type Options struct {
	MaxEvents int           // retention by count; <= 0 means 100000
	MaxAge    time.Duration // retention by age; <= 0 means 7 days
	Logger    *slog.Logger  // nil means slog.Default()
}

const (
	defaultMaxEvents  = 100000
	defaultMaxAge     = 7 * 24 * time.Hour
	defaultRangeLimit = 1000

	// lockTimeout bounds how long Open waits for another process to
	// release the database file.
	lockTimeout = time.Second

	// maxBatchEvents caps the events committed in one transaction so a
	// flood of appends still commits (and acknowledges) steadily.
	maxBatchEvents = 4096
)

var (
	// ErrClosed is returned by operations on a closed Journal.
	ErrClosed = errors.New("journal: closed")
	// ErrLocked is returned by Open when another process holds the file.
	ErrLocked = errors.New("journal: database is locked by another process")
)

var (
	bucketEvents  = []byte("events")
	bucketMeta    = []byte("meta")
	bucketCursors = []byte("cursors")
	keyHighWater  = []byte("high-water")
)

// Journal is a durable, append-only sequence of events. All methods are
// safe for concurrent use.
type Journal struct {
	db        *bolt.DB
	path      string
	log       *slog.Logger
	maxEvents uint64
	maxAge    time.Duration
	opened    time.Time // by then every event of encoding version 1 was journaled

	lastSeq atomic.Uint64 // last sequence number made durable

	mu      sync.Mutex
	cond    *sync.Cond    // signals the writer: pending grew or closing
	pending []*appendReq  // accepted, not yet taken by the writer
	closed  bool          // no more Appends are accepted
	notify  chan struct{} // closed and replaced on every commit
	done    chan struct{} // closed by Close

	nextSeq uint64 // owned by the writer goroutine

	healthMu sync.Mutex
	health   error

	pruneMu   sync.Mutex
	pruneKick chan struct{}

	writerDone chan struct{}
	prunerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	// failCommit, when set, is called inside every append transaction
	// just before it commits; a non-nil result aborts the transaction as
	// a failed write would. It lets tests exercise the failure path.
	failCommit atomic.Pointer[func() error]
	// clock, when set, replaces time.Now for commit times and retention.
	clock atomic.Pointer[func() time.Time]
}

// now is the journal's clock.
func (j *Journal) now() time.Time {
	if c := j.clock.Load(); c != nil {
		return (*c)()
	}
	return time.Now()
}

type appendReq struct {
	ctx   context.Context
	vals  [][]byte
	seqs  []uint64
	err   error
	done  chan struct{}
	taken bool // guarded by Journal.mu
}

// Open opens (creating if needed) the journal at path, a file name such as
// <state-dir>/journal.db. Missing parent directories are created. If another
// process has the file open, Open fails with an error wrapping ErrLocked
// after about a second instead of waiting.
func Open(path string, opts Options) (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      lockTimeout,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	j := &Journal{
		db:         db,
		path:       path,
		log:        opts.Logger,
		maxEvents:  defaultMaxEvents,
		maxAge:     defaultMaxAge,
		opened:     time.Now(),
		notify:     make(chan struct{}),
		done:       make(chan struct{}),
		pruneKick:  make(chan struct{}, 1),
		writerDone: make(chan struct{}),
		prunerDone: make(chan struct{}),
	}
	if j.log == nil {
		j.log = slog.Default()
	}
	if opts.MaxEvents > 0 {
		j.maxEvents = uint64(opts.MaxEvents)
	}
	if opts.MaxAge > 0 {
		j.maxAge = opts.MaxAge
	}
	j.cond = sync.NewCond(&j.mu)

	var last uint64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketEvents, bucketMeta, bucketCursors} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		var err error
		last, err = storedLast(tx)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	j.nextSeq = last + 1
	j.lastSeq.Store(last)

	go j.writer()
	go j.pruner()
	return j, nil
}

// storedLast returns the last sequence number ever assigned according to
// the database: the larger of the last key and the high-water mark.
func storedLast(tx *bolt.Tx) (uint64, error) {
	var last uint64
	if k, _ := tx.Bucket(bucketEvents).Cursor().Last(); k != nil {
		if len(k) != 8 {
			return 0, fmt.Errorf("journal: malformed event key %x", k)
		}
		last = binary.BigEndian.Uint64(k)
	}
	if v := tx.Bucket(bucketMeta).Get(keyHighWater); v != nil {
		if len(v) != 8 {
			return 0, fmt.Errorf("journal: malformed high-water mark %x", v)
		}
		last = max(last, binary.BigEndian.Uint64(v))
	}
	return last, nil
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// Append adds events to the journal and returns their sequence numbers in
// order, once they are durable on disk. The Seq of the given events is
// ignored; a zero Time is replaced by the current time. Appends from
// concurrent callers are committed together in one transaction.
//
// A nil error means every event is durable; a non-nil error means none of
// them was written. If ctx ends while the events are still queued, Append
// withdraws them and returns ctx.Err(); once their commit has begun, Append
// waits for its outcome.
func (j *Journal) Append(ctx context.Context, events ...Event) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	now := time.Now()
	size := 0
	for i := range events {
		size += encodedSize(&events[i])
	}
	buf := make([]byte, 0, size)
	req := &appendReq{
		ctx:  ctx,
		vals: make([][]byte, len(events)),
		done: make(chan struct{}),
	}
	for i := range events {
		e := &events[i]
		if e.Time.IsZero() {
			e2 := *e
			e2.Time = now
			e = &e2
		}
		start := len(buf)
		buf = encodeEvent(buf, e)
		req.vals[i] = buf[start:len(buf):len(buf)]
	}

	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil, ErrClosed
	}
	j.pending = append(j.pending, req)
	j.cond.Signal()
	j.mu.Unlock()

	select {
	case <-req.done:
	case <-ctx.Done():
		j.mu.Lock()
		if !req.taken {
			if i := slices.Index(j.pending, req); i >= 0 {
				j.pending = slices.Delete(j.pending, i, i+1)
			}
			j.mu.Unlock()
			return nil, ctx.Err()
		}
		j.mu.Unlock()
		<-req.done
	}
	if req.err != nil {
		return nil, req.err
	}
	return req.seqs, nil
}

// writer commits pending appends in groups until the journal is closed and
// nothing is pending.
func (j *Journal) writer() {
	defer close(j.writerDone)
	var batch []*appendReq
	for {
		j.mu.Lock()
		for len(j.pending) == 0 && !j.closed {
			j.cond.Wait()
		}
		if len(j.pending) == 0 {
			j.mu.Unlock()
			return
		}
		batch = batch[:0]
		n, i := 0, 0
		for ; i < len(j.pending); i++ {
			r := j.pending[i]
			if i > 0 && n+len(r.vals) > maxBatchEvents {
				break
			}
			r.taken = true
			n += len(r.vals)
			batch = append(batch, r)
		}
		j.pending = slices.Delete(j.pending, 0, i)
		j.mu.Unlock()

		j.commit(batch, n)
		clear(batch)
	}
}

// commit writes one batch of n events in a single transaction and reports
// the outcome to every request in it.
func (j *Journal) commit(batch []*appendReq, n int) {
	first := j.nextSeq
	// Retention goes by this time, not the events' own: it follows the
	// sequence even when senders' clocks do not.
	stamp := j.now()
	err := j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		b.FillPercent = 1 // keys only ever grow: keep pages full
		keys := make([]byte, 8*n)
		seq := first
		for _, r := range batch {
			for _, v := range r.vals {
				k := keys[:8:8]
				keys = keys[8:]
				binary.BigEndian.PutUint64(k, seq)
				setStamp(v, stamp)
				if err := b.Put(k, v); err != nil {
					return err
				}
				seq++
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keyHighWater, seqKey(seq-1)); err != nil {
			return err
		}
		if f := j.failCommit.Load(); f != nil {
			return (*f)()
		}
		return nil
	})
	if err != nil {
		j.setHealth(err)
		j.log.Error("journal: commit failed", "events", n, "err", err)
		j.resync()
		err = fmt.Errorf("journal: commit: %w", err)
		for _, r := range batch {
			r.err = err
			close(r.done)
		}
		return
	}
	j.setHealth(nil)
	j.nextSeq = first + uint64(n)
	// Publish the new LastSeq before any Append returns, so a caller
	// always sees its own events counted.
	j.lastSeq.Store(j.nextSeq - 1)
	j.mu.Lock()
	close(j.notify)
	j.notify = make(chan struct{})
	j.mu.Unlock()
	seq := first
	for _, r := range batch {
		r.seqs = make([]uint64, len(r.vals))
		for i := range r.seqs {
			r.seqs[i] = seq
			seq++
		}
		close(r.done)
	}
	select {
	case j.pruneKick <- struct{}{}:
	default:
	}
}

// resync re-reads the last assigned sequence number after a failed commit.
// A failed commit normally leaves the database unchanged; should part of
// it have become visible anyway, numbering continues above it rather than
// reusing its numbers.
func (j *Journal) resync() {
	var last uint64
	err := j.db.View(func(tx *bolt.Tx) error {
		var err error
		last, err = storedLast(tx)
		return err
	})
	if err != nil {
		j.log.Error("journal: re-reading last sequence number", "err", err)
		return
	}
	if last >= j.nextSeq {
		j.log.Warn("journal: failed commit left events behind", "from", j.nextSeq, "to", last)
		j.nextSeq = last + 1
		j.lastSeq.Store(last)
	}
}

func (j *Journal) setHealth(err error) {
	j.healthMu.Lock()
	j.health = err
	j.healthMu.Unlock()
}

// Health returns nil while the journal is writing normally, or the error of
// the last failed write (for example ENOSPC) until a later one succeeds.
func (j *Journal) Health() error {
	j.healthMu.Lock()
	defer j.healthMu.Unlock()
	return j.health
}

// Range returns up to limit events with Seq > since, in ascending order.
// A limit <= 0 means 1000.
func (j *Journal) Range(since uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = defaultRangeLimit
	}
	if since == ^uint64(0) {
		return nil, nil
	}
	var out []Event
	err := j.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		lastKey, _ := c.Last()
		k, v := c.Seek(seqKey(since + 1))
		if k == nil {
			return nil
		}
		// Keys are dense, so their difference sizes the result.
		n := binary.BigEndian.Uint64(lastKey) - binary.BigEndian.Uint64(k) + 1
		out = make([]Event, 0, min(uint64(limit), n))
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			e, err := decodeEvent(v)
			if err != nil {
				return fmt.Errorf("journal: event %d: %w", seq, err)
			}
			e.Seq = seq
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LastSeq returns the last sequence number assigned and made durable, or 0
// if none ever was. It stays put when retention deletes events.
func (j *Journal) LastSeq() uint64 { return j.lastSeq.Load() }

// FirstSeq returns the sequence number of the oldest retained event, or 0
// if the journal holds none.
func (j *Journal) FirstSeq() uint64 {
	var first uint64
	_ = j.view(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketEvents).Cursor().First(); k != nil {
			first = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return first
}

// Wait blocks until LastSeq() > after, ctx ends (returning ctx.Err()) or the
// journal is closed (returning ErrClosed). Waiters share one channel per
// commit, so any number of them is cheap.
func (j *Journal) Wait(ctx context.Context, after uint64) error {
	for {
		j.mu.Lock()
		ch := j.notify
		j.mu.Unlock()
		if j.lastSeq.Load() > after {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-j.done:
			if j.lastSeq.Load() > after {
				return nil
			}
			return ErrClosed
		}
	}
}

// Cursor returns the position stored under name, or 0 if there is none.
func (j *Journal) Cursor(name string) (uint64, error) {
	var seq uint64
	err := j.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCursors).Get([]byte(name))
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return fmt.Errorf("journal: malformed cursor %q", name)
		}
		seq = binary.BigEndian.Uint64(v)
		return nil
	})
	return seq, err
}

// SetCursor durably stores seq under name.
func (j *Journal) SetCursor(name string, seq uint64) error {
	if name == "" {
		return errors.New("journal: empty cursor name")
	}
	return j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCursors).Put([]byte(name), seqKey(seq))
	})
}

// DeleteCursor removes the cursor name; removing a missing cursor is not an
// error.
func (j *Journal) DeleteCursor(name string) error {
	if name == "" {
		return errors.New("journal: empty cursor name")
	}
	return j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCursors).Delete([]byte(name))
	})
}

// Cursors returns all stored cursors.
func (j *Journal) Cursors() (map[string]uint64, error) {
	m := make(map[string]uint64)
	err := j.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("journal: malformed cursor %q", k)
			}
			m[string(k)] = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (j *Journal) view(fn func(*bolt.Tx) error) error {
	return closedErr(j.db.View(fn))
}

func (j *Journal) update(fn func(*bolt.Tx) error) error {
	j.mu.Lock()
	closed := j.closed
	j.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return closedErr(j.db.Update(fn))
}

func closedErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Close stops accepting appends, commits everything already accepted,
// wakes all waiters and closes the database. Later calls return the result
// of the first.
func (j *Journal) Close() error {
	j.closeOnce.Do(func() {
		j.mu.Lock()
		j.closed = true
		close(j.done)
		j.cond.Broadcast()
		j.mu.Unlock()

		<-j.writerDone
		<-j.prunerDone
		if err := j.db.Close(); err != nil {
			j.closeErr = fmt.Errorf("journal: close: %w", err)
		}
	})
	return j.closeErr
}
