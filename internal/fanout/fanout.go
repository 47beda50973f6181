// Package fanout spreads a loop of independent iterations over the
// machine's cores: loops of a system call per brick (a statfs, a directory
// stat), whose wall time on one core is the sum of thousands of kernel
// calls.
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
	workers := min(runtime.GOMAXPROCS(0), (n+batch-1)/batch)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			hi := int(next.Add(batch))
			lo := hi - batch
			if lo >= n {
				return
			}
			for i := lo; i < min(hi, n); i++ {
				fn(i)
			}
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}
