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

// Slack is how much the heap may grow beyond what it held after the last
// trim before it is trimmed again: less than that is not worth a forced
// collection.
const Slack = 32 << 20

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

// Trimmer returns memory to the system after bursts.
type Trimmer struct {
	bursts chan struct{}
}

// New returns a Trimmer; Run starts it.
func New() *Trimmer { return &Trimmer{bursts: make(chan struct{}, 1)} }

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

// Run checks every interval until ctx ends. When the heap has grown by
// more than Slack since the last trim, or a burst was announced, it
// collects and returns the free memory to the system. The interval lets a
// burst end first: "live" is only known after a collection, and the
// runtime does not collect an idle process's heap on its own.
func (t *Trimmer) Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	baseline := mapped()
	checks := 0 // checks left that trim whatever they find
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.bursts:
			checks = burstChecks
			continue
		case <-tick.C:
		}
		before := mapped()
		if before <= baseline+Slack && checks == 0 {
			baseline = min(baseline, before) // the runtime returned some itself
			continue
		}
		debug.FreeOSMemory()
		after := mapped()
		switch {
		case after+Slack < baseline:
			checks = 0 // back down: the burst is over
		case after > baseline+Slack:
			// Either the daemon holds more now, or a burst is under
			// way: at least the next check tells them apart. Only an
			// announced burst earns more, each a forced collection.
			checks = max(checks-1, 1)
		case checks > 0:
			checks--
		}
		baseline = after
		log.Debug("returned free memory to the system", "heap_before", before, "heap_after", after)
	}
}
