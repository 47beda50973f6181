// Package memtrim gives memory back to the operating system soon after a
// burst of work has left much of it free: a full read of thousands of
// volumes or a GetManagedObjects reply for as many objects allocates
// hundreds of MB that are garbage a moment later. Go's runtime would keep
// that mapped for minutes; on a storage server the daemon's RSS should
// follow what it holds, not what it once needed.
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// slack is how much the heap may grow beyond what it held after the last
// trim before it is trimmed again: a quarter of what it holds at rest, so
// that RSS stays close to it, and at least minSlack, less than which is
// not worth a forced collection. With the runtime's default pacing an idle
// daemon's heap would grow to twice what it holds before the next
// collection, and its RSS with it.
func slack(rest uint64) uint64 { return max(minSlack, rest/4) }

// minSlack is the least slack.
const minSlack = 8 << 20

var samples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"}, // live and not yet collected
	{Name: "/memory/classes/heap/unused:bytes"},
	{Name: "/memory/classes/heap/free:bytes"}, // free, still mapped
}

// mapped is how many bytes the heap holds mapped: its objects, live or
// not yet collected, and its free memory not yet returned.
func mapped() uint64 {
	metrics.Read(samples)
	var n uint64
	for _, s := range samples {
		n += s.Value.Uint64()
	}
	return n
}

// burstChecks is how many checks after a burst was announced trim
// whatever they find, unless one finds the heap back down: a large reply is
// still being encoded and sent for a while after its handler returned.
const burstChecks = 5

// longestWait bounds the pause between two trims while the heap stays
// high. The runtime itself forces a collection when none ran for two
// minutes, so a trim this often costs an idle daemon little more than it
// pays already.
const longestWait = 2 * time.Minute

// Trimmer returns memory to the system after bursts.
type Trimmer struct {
	bursts chan struct{}
	read   func() uint64 // the heap's mapped bytes
	trim   func()        // collect and return free memory to the system
}

// New returns a Trimmer; Run starts it.
func New() *Trimmer {
	return &Trimmer{bursts: make(chan struct{}, 1), read: mapped, trim: debug.FreeOSMemory}
}

// Burst announces a burst of allocation that has begun or just ended (a
// GetManagedObjects reply of thousands of objects). Growth alone does not
// show every burst: a check that comes while the burst's memory is still in
// use takes it for what the daemon holds now. It never waits.
func (t *Trimmer) Burst() {
	select {
	case t.bursts <- struct{}{}:
	default:
	}
}

// Run checks every interval until ctx ends; policy says when a check
// collects and returns the free memory to the system. The interval lets a
// burst end first: "live" is only known after a collection, and the
// runtime collects an idle process's heap only every two minutes and
// returns its free memory slowly.
func (t *Trimmer) Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	// What the heap holds at rest is only known after a collection.
	t.trim()
	p := newPolicy(t.read(), max(1, int(longestWait/interval)))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.bursts:
			p.announce()
			continue
		case <-tick.C:
		}
		before := t.read()
		if !p.check(before) {
			continue
		}
		t.trim()
		after := t.read()
		p.trimmed(after)
		log.Debug("returned free memory to the system", "heap_before", before, "heap_after", after)
	}
}

// policy decides, from the heap's size at each check, when to trim. A
// trim that finds the heap well above where it rests cannot tell a burst
// still in use from a daemon that holds more now; so it never takes that
// size for the resting one, and trims again after a wait that doubles each
// time the heap is still high, up to maxWait checks. Memory of a burst that
// went unannounced comes back at most about as long after its end as the
// burst lasted, and a daemon that simply holds more costs a few forced
// collections, then one per maxWait.
type policy struct {
	rest      uint64 // the lowest the heap was seen: what the daemon holds at rest
	held      uint64 // the heap after the last trim, or lower since
	wait      int    // checks to skip before the next trim while the heap is high
	backoff   int    // wait after the next trim that finds the heap still high
	maxWait   int
	announced int // checks left that trim whatever they find
}

func newPolicy(heap uint64, maxWait int) *policy {
	return &policy{rest: heap, held: heap, maxWait: maxWait}
}

// announce: a burst has begun or just ended.
func (p *policy) announce() { p.announced = burstChecks }

// check is called at each interval with the heap's mapped bytes and
// says whether to trim now.
func (p *policy) check(heap uint64) bool {
	p.rest = min(p.rest, heap) // the runtime returned some itself
	p.held = min(p.held, heap)
	allowed := slack(p.rest)
	switch {
	case p.announced > 0:
		return true
	case heap > p.held+allowed: // grown since the last trim
		return true
	case p.held > p.rest+allowed: // high after the last trim: a burst may be over now
		if p.wait > 0 {
			p.wait--
			return false
		}
		return true
	}
	return false
}

// trimmed is called after each trim with the heap's mapped bytes.
func (p *policy) trimmed(heap uint64) {
	allowed := slack(p.rest)
	grown := heap > p.held+allowed
	p.held = heap
	if heap <= p.rest+allowed {
		p.rest = min(p.rest, heap)
		p.announced, p.wait, p.backoff = 0, 0, 0 // back down: the burst is over
		return
	}
	if p.announced > 0 {
		p.announced--
	}
	if grown {
		p.backoff = 0 // a new level: the next check tells a burst from more held
	}
	p.wait = p.backoff
	p.backoff = min(2*p.backoff+1, p.maxWait)
}
