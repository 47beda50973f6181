package memtrim

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

var sink [][]byte

func TestRunReturnsABurst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		New().Run(ctx, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
	base := mapped()
	// A burst: much more than Slack allocated, then dropped, with no
	// collection in between.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	hold200MiB()
	sink = nil
	waitReturned(t, base)
	cancel()
	<-done
}

// TestRunReturnsAnAnnouncedBurst: the burst's memory is in use across many
// checks, so growth alone takes it for what the daemon holds; announced, it
// is still returned once dropped.
func TestRunReturnsAnAnnouncedBurst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	trim := New()
	done := make(chan struct{})
	go func() {
		trim.Run(ctx, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
	base := mapped()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	hold200MiB()
	time.Sleep(20 * burstChecks * 10 * time.Millisecond) // far more checks than burstChecks
	trim.Burst()
	sink = nil
	waitReturned(t, base)
}

// TestRunGrowthCostsFewCollections: a daemon that simply holds more now
// (no burst announced) is collected at most twice for it, not at every
// check: each forced collection costs CPU an idle daemon should not spend.
func TestRunGrowthCostsFewCollections(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	go func() {
		New().Run(ctx, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	forced := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(forced)
	before := forced[0].Value.Uint64()
	hold200MiB()
	time.Sleep(30 * 10 * time.Millisecond) // 30 checks
	cancel()
	<-done
	metrics.Read(forced)
	if n := forced[0].Value.Uint64() - before; n > 2 {
		t.Fatalf("%d forced collections for one growth; want at most 2", n)
	}
	sink = nil
}

// hold200MiB puts 200 MiB in sink, touched so that it is really mapped.
func hold200MiB() {
	for range 200 {
		sink = append(sink, make([]byte, 1<<20))
	}
	for _, b := range sink {
		b[0] = 1
	}
}

// waitReturned waits until the heap is back within Slack of base.
func waitReturned(t *testing.T, base uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for mapped() > base+Slack {
		if time.Now().After(deadline) {
			t.Fatalf("heap still %d bytes, %d before the burst", mapped(), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
