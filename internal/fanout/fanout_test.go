package fanout

import (
	"runtime"
	"sync/atomic"
	"testing"
)

func TestEachCallsEveryIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, batch - 1, batch, batch + 1, 10*batch + 7} {
		calls := make([]atomic.Int32, n)
		Each(n, func(i int) { calls[i].Add(1) })
		for i := range calls {
			if got := calls[i].Load(); got != 1 {
				t.Fatalf("n=%d: index %d called %d times", n, i, got)
			}
		}
	}
}

func TestEachUsesTheCores(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one core")
	}
	// Every goroutine waits at the first index of its batch until a second
	// one arrives, so Each returns only if two run at once.
	arrived := make(chan struct{}, 2)
	both := make(chan struct{})
	var once atomic.Bool
	Each(4*batch, func(i int) {
		if i%batch != 0 || i >= 2*batch {
			return
		}
		arrived <- struct{}{}
		if len(arrived) == 2 && once.CompareAndSwap(false, true) {
			close(both)
		}
		<-both
	})
}

func TestRangesCoverEveryIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 11, 1000} {
		calls := make([]atomic.Int32, n)
		Ranges(n, 10, func(lo, hi int) {
			if lo%10 != 0 || hi-lo > 10 || (hi-lo < 10 && hi != n) || hi <= lo {
				t.Errorf("n=%d: range [%d, %d)", n, lo, hi)
			}
			for i := lo; i < hi; i++ {
				calls[i].Add(1)
			}
		})
		for i := range calls {
			if got := calls[i].Load(); got != 1 {
				t.Fatalf("n=%d: index %d called %d times", n, i, got)
			}
		}
	}
}
