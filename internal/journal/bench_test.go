package journal

import (
	"context"
	"path/filepath"
	"testing"
)

func reportEventsPerSec(b *testing.B, events int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(events)/s, "events/s")
	}
}

// BenchmarkAppendSerial appends one event per call from one goroutine, so
// every event pays for its own fsync.
func BenchmarkAppendSerial(b *testing.B) {
	j := openTest(b, filepath.Join(b.TempDir(), "journal.db"), Options{})
	e := testEvent(0)
	ctx := context.Background()
	for b.Loop() {
		if _, err := j.Append(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	reportEventsPerSec(b, b.N)
}

// BenchmarkAppendConcurrent appends one event per call from many
// goroutines; group commit shares each fsync among them.
func BenchmarkAppendConcurrent(b *testing.B) {
	j := openTest(b, filepath.Join(b.TempDir(), "journal.db"), Options{})
	e := testEvent(0)
	ctx := context.Background()
	b.SetParallelism(64) // 64 goroutines per CPU
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := j.Append(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportEventsPerSec(b, b.N)
}

// BenchmarkRange10k reads 10 000 events in one Range call.
func BenchmarkRange10k(b *testing.B) {
	const n = 10000
	j := openTest(b, filepath.Join(b.TempDir(), "journal.db"), Options{})
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = testEvent(i)
	}
	if _, err := j.Append(context.Background(), evs...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := j.Range(0, n)
		if err != nil || len(got) != n {
			b.Fatalf("Range = %d events, %v", len(got), err)
		}
	}
	reportEventsPerSec(b, b.N*n)
}
