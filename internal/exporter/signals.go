package exporter

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/bus"
)

// Signals leave through a bounded queue and one writer (Run), so neither
// the model, under whose lock Apply runs, nor the event publisher ever waits
// for the bus. A bus that stops reading (a hung or stopped dbus-daemon)
// shows as a write that does not finish within the write timeout, or as a
// queue that fills up. Either way the queue is dropped and the connection
// cut; the reconnect that follows gives the name a new owner, on which every
// client reads all objects again (GetManagedObjects, as both ObjectManager
// client libraries and `glusterbus monitor` do). Signals alone could not
// resynchronise a client: they cannot name the objects removed meanwhile
// without a second copy of the tree.

// Defaults of the signal queue.
const (
	// DefaultSignalQueue is how many signals may wait for the bus.
	DefaultSignalQueue = 1 << 15
	// DefaultWriteTimeout is how long one signal may take to be written.
	DefaultWriteTimeout = 5 * time.Second
)

type pendingSignal struct {
	path dbus.ObjectPath
	name string
	args []any

	reply *encodedReply // instead of a signal, a method return
}

// signalQueue holds the signals for the current connection.
type signalQueue struct {
	log          *slog.Logger
	limit        int
	writeTimeout time.Duration
	wake         chan struct{} // holds a token while signals may wait

	mu      sync.Mutex
	conn    *bus.Conn // nil while disconnected: signals are dropped then
	queue   []pendingSignal
	writing int // signals taken by the writer and not yet written
	// Signals ever queued, and of those ever written or dropped; finished
	// is closed and replaced whenever done grows.
	queued, done uint64
	finished     chan struct{}
}

func newSignalQueue(log *slog.Logger) signalQueue {
	return signalQueue{log: log, limit: DefaultSignalQueue, writeTimeout: DefaultWriteTimeout,
		wake: make(chan struct{}, 1), finished: make(chan struct{})}
}

// finish counts n signals as written or dropped; q.mu is held.
func (q *signalQueue) finish(n int) {
	if n == 0 {
		return
	}
	q.done += uint64(n)
	close(q.finished)
	q.finished = make(chan struct{})
}

// flushed waits until every signal queued before the call is written (or
// dropped), for at most the write timeout or until ctx ends: a method's
// reply then follows the signals of the change it made, as D-Bus clients
// that cache properties expect.
func (q *signalQueue) flushed(ctx context.Context) {
	q.mu.Lock()
	upto := q.queued
	q.mu.Unlock()
	timer := time.NewTimer(q.writeTimeout)
	defer timer.Stop()
	for {
		q.mu.Lock()
		done, finished := q.done, q.finished
		q.mu.Unlock()
		if done >= upto {
			return
		}
		select {
		case <-finished:
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		}
	}
}

// SetSignalLimits changes how many signals may wait for the bus and how long
// one may take to be written. Set it before serving.
func (e *Exporter) SetSignalLimits(queue int, writeTimeout time.Duration) {
	e.signals.limit, e.signals.writeTimeout = queue, writeTimeout
}

// SetConn sets the connection signals go out on (nil while disconnected).
// Signals still queued for the previous connection are dropped: a client of
// the new one reads the objects as they are.
func (e *Exporter) SetConn(c *bus.Conn) {
	q := &e.signals
	q.mu.Lock()
	q.finish(len(q.queue))
	q.conn, q.queue = c, nil
	q.mu.Unlock()
}

// Emit queues a signal from path, if a connection is set.
func (e *Exporter) Emit(path dbus.ObjectPath, name string, args ...any) {
	e.signals.put(pendingSignal{path, name, args, nil})
}

// connected says whether a connection is set: signals put now go out.
func (q *signalQueue) connected() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.conn != nil
}

// encodedConn returns the current connection if it is c and it takes
// encoded messages, or nil.
func (q *signalQueue) encodedConn(c *dbus.Conn) *bus.Conn {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.conn == nil || q.conn.Conn != c || !q.conn.CanWriteMessages() {
		return nil
	}
	return q.conn
}

// putReply queues an encoded reply like a signal; one for a connection that
// is gone is dropped (the bus tells its caller).
func (q *signalQueue) putReply(r *encodedReply) {
	q.putFor(r.conn, pendingSignal{reply: r})
}

// put queues signals without waiting. When they do not fit, the bus is not
// reading fast enough: the queue is dropped and the connection cut.
func (q *signalQueue) put(sigs ...pendingSignal) { q.putFor(nil, sigs...) }

// putFor is put for the connection expect only, or for any if it is nil.
func (q *signalQueue) putFor(expect *bus.Conn, sigs ...pendingSignal) {
	if len(sigs) == 0 {
		return
	}
	q.mu.Lock()
	conn := q.conn
	if conn == nil || (expect != nil && conn != expect) {
		q.mu.Unlock()
		return
	}
	if waiting := len(q.queue) + q.writing; waiting+len(sigs) > q.limit {
		dropped := len(q.queue) + len(sigs)
		q.finish(len(q.queue))
		q.conn, q.queue = nil, nil
		q.mu.Unlock()
		q.log.Warn("the bus is not taking signals: the queue is full; dropping it and reconnecting, after which clients read every object again",
			"limit", q.limit, "dropped", dropped)
		go conn.Cut() // never under the caller's locks
		return
	}
	q.queue = append(q.queue, sigs...)
	q.queued += uint64(len(sigs))
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run writes the queued signals until ctx ends, then what is still queued
// (each write bounded by the write timeout), and returns.
func (e *Exporter) Run(ctx context.Context) {
	q := &e.signals
	for {
		select {
		case <-q.wake:
			q.writeQueued()
		case <-ctx.Done():
			q.writeQueued()
			return
		}
	}
}

// writeQueued writes signals until the queue is empty.
func (q *signalQueue) writeQueued() {
	for {
		q.mu.Lock()
		batch, conn := q.queue, q.conn
		q.queue, q.writing = nil, len(batch)
		q.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		if conn != nil { // a queue is never kept without its connection
			q.write(conn, batch)
		}
		q.mu.Lock()
		q.writing = 0
		q.finish(len(batch))
		q.mu.Unlock()
	}
}

// write sends batch on conn, each signal within the write timeout. A write
// that fails leaves the stream in an unknown state: the connection is cut.
func (q *signalQueue) write(conn *bus.Conn, batch []pendingSignal) {
	defer conn.SetWriteDeadline(time.Time{}) // method replies are unbounded again
	for i, s := range batch {
		var err error
		if s.reply != nil {
			_ = conn.SetWriteDeadline(time.Now().Add(s.reply.timeout(q.writeTimeout)))
			err = s.reply.write(conn)
		} else {
			_ = conn.SetWriteDeadline(time.Now().Add(q.writeTimeout))
			err = conn.Emit(s.path, s.name, s.args...)
		}
		var format dbus.FormatError
		var invalid dbus.InvalidMessageError
		switch {
		case err == nil:
			continue
		case errors.As(err, &format) || errors.As(err, &invalid):
			// Refused before anything was written.
			q.log.Error("a signal could not be encoded", "signal", s.name, "path", s.path, "err", err)
			continue
		}
		q.cut(conn, len(batch)-i, err)
		return
	}
}

// cut drops what is queued for conn and closes it, so that the bus keeper
// connects again.
func (q *signalQueue) cut(conn *bus.Conn, unwritten int, err error) {
	q.mu.Lock()
	current := q.conn == conn
	if current {
		unwritten += len(q.queue)
		q.finish(len(q.queue))
		q.conn, q.queue = nil, nil
	}
	q.mu.Unlock()
	switch {
	case !conn.Connected():
		// The bus went away: the keeper is on it already.
	case errors.Is(err, os.ErrDeadlineExceeded):
		q.log.Warn("the bus has not taken a signal for the write timeout; dropping the queued signals and reconnecting, after which clients read every object again",
			"timeout", q.writeTimeout, "dropped", unwritten)
	default:
		q.log.Warn("writing a signal failed; dropping the queued signals and reconnecting",
			"err", err, "dropped", unwritten)
	}
	conn.Cut()
}

// signalsWaiting is how many signals are queued or being written (tests).
func (e *Exporter) signalsWaiting() int {
	q := &e.signals
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue) + q.writing
}
