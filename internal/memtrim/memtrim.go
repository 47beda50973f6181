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

// Run checks every interval until ctx ends. When the heap has grown by
// more than Slack since the last trim, it collects and returns the free
// memory to the system. The interval lets a burst end first: "live" is only
// known after a collection, and the runtime does not collect an idle
// process's heap on its own.
func Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	baseline := mapped()
	again := false // the last trim may have come in the middle of a burst
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		before := mapped()
		if before <= baseline+Slack && !again {
			baseline = min(baseline, before) // the runtime returned some itself
			continue
		}
		debug.FreeOSMemory()
		after := mapped()
		// Still well above the last baseline: either the daemon holds more
		// now, or a burst was under way. One more trim tells them apart.
		again = !again && after > baseline+Slack
		baseline = after
		log.Debug("returned free memory to the system", "heap_before", before, "heap_after", after)
	}
}
