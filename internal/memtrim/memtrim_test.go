package memtrim

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

const mib = 1 << 20

// heapSim plays a daemon's heap against a policy, one check at a time: a
// check sees what is live plus the garbage not yet collected, a trim
// collects the garbage.
type heapSim struct {
	t       *testing.T
	p       *policy
	live    uint64
	garbage uint64
	trims   int
}

func newHeapSim(t *testing.T, live uint64, maxWait int) *heapSim {
	return &heapSim{t: t, p: newPolicy(live, maxWait), live: live}
}

// check runs one check and says whether it trimmed.
func (s *heapSim) check() bool {
	if !s.p.check(s.live + s.garbage) {
		return false
	}
	s.garbage = 0
	s.trims++
	s.p.trimmed(s.live)
	return true
}

// drop turns n live bytes into garbage.
func (s *heapSim) drop(n uint64) { s.live -= n; s.garbage += n }

// untilTrimmedBack runs checks until the garbage is gone and returns how
// many it took, failing after limit.
func (s *heapSim) untilTrimmedBack(limit int) int {
	s.t.Helper()
	for n := 1; n <= limit; n++ {
		s.check()
		if s.garbage == 0 {
			return n
		}
	}
	s.t.Fatalf("%d MiB of garbage still mapped after %d checks", s.garbage/mib, limit)
	return 0
}

// A burst that nobody announces, growing over five checks in steps each
// smaller than the slack and then held for three more (sixteen seconds at the
// daemon's interval), is returned within as many checks again once it
// ends; so is a second one.
func TestPolicyReturnsAnUnannouncedBurst(t *testing.T) {
	s := newHeapSim(t, 10*mib, 60)
	for range 2 {
		for range 5 {
			s.live += 6 * mib
			s.check()
		}
		for range 3 {
			s.check()
		}
		s.drop(30 * mib)
		s.untilTrimmedBack(8)
	}
}

// A burst held for long (many checks) is still returned after it ends, no
// later than the longest wait.
func TestPolicyReturnsALongBurst(t *testing.T) {
	s := newHeapSim(t, 10*mib, 60)
	s.live += 200 * mib
	for range 500 {
		s.check()
	}
	s.drop(200 * mib)
	s.untilTrimmedBack(61)
}

// Growth that a trim finds in use is never taken for the resting size: a
// trim that saw it used to become the baseline, so the memory of a burst
// seen in use by two checks was never returned.
func TestPolicyGrowthSeenInUseDoesNotHideABurst(t *testing.T) {
	s := newHeapSim(t, 10*mib, 60)
	for range 3 {
		s.live += 6 * mib // 18 MiB more, each step within the slack
		s.check()
	}
	s.live += 100 * mib // a burst seen in use by two checks
	s.check()
	s.check()
	s.drop(118 * mib)
	s.untilTrimmedBack(10)
}

// An announced burst is returned at the first check after it is dropped,
// however long it was held before.
func TestPolicyReturnsAnAnnouncedBurstAtOnce(t *testing.T) {
	s := newHeapSim(t, 10*mib, 60)
	s.live += 200 * mib
	for range 100 {
		s.check()
	}
	s.p.announce()
	s.drop(200 * mib)
	if n := s.untilTrimmedBack(1); n != 1 {
		t.Fatalf("returned after %d checks", n)
	}
	// Back down: the checks that follow trim nothing.
	before := s.trims
	for range 100 {
		s.check()
	}
	if s.trims != before {
		t.Fatalf("%d trims at rest after the burst", s.trims-before)
	}
}

// A daemon that simply holds more now (no burst) costs a few forced
// collections while the waits double, then one per longest wait: each
// forced collection costs CPU an idle daemon should not spend.
func TestPolicyGrowthCostsFewCollections(t *testing.T) {
	const maxWait = 60
	s := newHeapSim(t, 10*mib, maxWait)
	s.live += 200 * mib
	for range maxWait {
		s.check()
	}
	if s.trims > 6 {
		t.Fatalf("%d trims in the first %d checks after one growth; want at most 6", s.trims, maxWait)
	}
	first := s.trims
	for range 10 * maxWait {
		s.check()
	}
	if n := s.trims - first; n > 10 {
		t.Fatalf("%d trims in %d checks of a steady heap; want at most one per %d", n, 10*maxWait, maxWait)
	}
}

// Growth within the slack of the resting size never costs a collection.
func TestPolicySmallGrowthNeverTrims(t *testing.T) {
	s := newHeapSim(t, 10*mib, 60)
	for range 100 {
		s.live += minSlack / 100
		s.check()
	}
	if s.trims != 0 {
		t.Fatalf("%d trims for growth within the slack", s.trims)
	}
}

// A daemon that holds more gets more slack, so that its forced
// collections stay few; and the garbage a quiet daemon makes (a reconcile
// every five checks) is trimmed before its heap exceeds what it holds by
// more than the slack and one reconcile's garbage.
func TestPolicySlackFollowsTheHeap(t *testing.T) {
	s := newHeapSim(t, 200*mib, 60)
	for range 100 {
		s.garbage += 40 * mib / 100 // within a quarter of 200 MiB
		s.check()
	}
	if s.trims != 0 {
		t.Fatalf("%d trims for growth within a quarter of the heap", s.trims)
	}

	s = newHeapSim(t, 30*mib, 60)
	highest := uint64(0)
	for i := range 600 {
		if i%5 == 0 {
			s.garbage += 7 * mib
		}
		highest = max(highest, s.live+s.garbage)
		s.check()
	}
	if limit := 30*mib + slack(30*mib) + 7*mib; highest > limit {
		t.Fatalf("heap up to %d MiB, want at most %d", highest/mib, limit/mib)
	}
	if s.trims > 600/5 {
		t.Fatalf("%d trims for %d reconciles", s.trims, 600/5)
	}
}

// A burst on top of a daemon that holds more now is trimmed at the first
// check that sees it dropped, not after the doubled wait.
func TestPolicyBurstOnTopOfGrowth(t *testing.T) {
	s := newHeapSim(t, 10*mib, 60)
	s.live += 200 * mib
	for range 200 {
		s.check() // the waits have grown to the longest
	}
	s.live += 300 * mib
	s.drop(300 * mib)
	if n := s.untilTrimmedBack(1); n != 1 {
		t.Fatalf("returned after %d checks", n)
	}
}

var sink [][]byte

// TestRunReturnsABurst runs the real trimmer against the real heap and
// asserts only that 200 MiB dropped without a collection (the runtime's
// own are off) come back to the system: the heap falls back within the
// slack of its size before the burst. How soon depends on the machine's load,
// so the deadline is generous; the policy tests above say when.
func TestRunReturnsABurst(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	base := mapped()
	trim := New()
	started := make(chan struct{})
	read := trim.read
	var once sync.Once
	trim.read = func() uint64 {
		n := read()
		once.Do(func() { close(started) })
		return n
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		trim.Run(ctx, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	defer func() { cancel(); <-done }()
	<-started // it has read the heap at rest: the burst comes after
	for range 200 {
		sink = append(sink, make([]byte, mib))
	}
	for _, b := range sink {
		b[0] = 1 // touched, so really mapped
	}
	sink = nil
	deadline := time.Now().Add(2 * time.Minute)
	for mapped() > base+slack(base) {
		if time.Now().After(deadline) {
			t.Fatalf("heap still %d bytes, %d before the burst", mapped(), base)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
}
