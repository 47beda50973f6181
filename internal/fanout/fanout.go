// Package fanout spreads a loop of independent iterations over the
// machine's cores: loops of a system call per brick (a statfs, a directory
// stat), whose wall time on one core is the sum of thousands of kernel
// calls, and the encoding of thousands of D-Bus entries.
package fanout

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// batch is how many iterations a goroutine takes at a time: enough to make
// taking them cheap, few enough that the goroutines end together.
const batch = 64

// Each calls fn(i) for every i in [0, n), from up to GOMAXPROCS goroutines
// (the caller's among them), and returns when every call has returned. fn
// must be safe to call concurrently; calls for different i are unordered.
func Each(n int, fn func(i int)) {
	Ranges(n, batch, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			fn(i)
		}
	})
}

// Ranges cuts [0, n) into ranges of size (the last one shorter) and calls
// fn(lo, hi) for each, as Each calls fn for each index: for work whose
// ranges each need something of their own, a buffer to fill. The range
// starting at lo is the lo/size-th.
func Ranges(n, size int, fn func(lo, hi int)) {
	size = max(size, 1)
	ranges := (n + size - 1) / size
	workers := min(runtime.GOMAXPROCS(0), ranges)
	if workers <= 1 {
		for lo := 0; lo < n; lo += size {
			fn(lo, min(lo+size, n))
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			lo := int(next.Add(int64(size))) - size
			if lo >= n {
				return
			}
			fn(lo, min(lo+size, n))
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}
