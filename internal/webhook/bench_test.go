package webhook

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// benchDeliverer runs a Deliverer for the receivers, all caught up.
func benchDeliverer(b *testing.B, rcs []*receiver) *Deliverer {
	j := openJournal(b, "")
	b.Cleanup(func() { j.Close() })
	file := webhooksFile(b)
	for _, rc := range rcs {
		addWebhook(b, file, Webhook{URL: rc.URL()})
	}
	opts := fastOptions(j, file)
	opts.CursorEvery, opts.CursorInterval = 0, 0 // the defaults
	d, _ := runDeliverer(b, opts)
	for _, rc := range rcs {
		waitStatus(b, d, rc.URL(), 10*time.Second, "the webhooks to start", func(WebhookStatus) bool { return true })
	}
	return d
}

// BenchmarkDeliver measures events delivered per second to 1 and to 10
// local receivers as events are appended.
func BenchmarkDeliver(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("receivers=%d", n), func(b *testing.B) {
			rcs := make([]*receiver, n)
			for i := range rcs {
				rcs[i] = newReceiver(b, nil)
				rcs[i].light = true
			}
			d := benchDeliverer(b, rcs)
			b.ResetTimer()
			start := time.Now()
			appendEvents(b, d.j, b.N)
			for _, rc := range rcs {
				rc.waitAccepted(b, b.N, 10*time.Minute)
			}
			el := time.Since(start).Seconds()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el, "events/s")
			b.ReportMetric(float64(n*b.N)/el, "posts/s")
		})
	}
}

// BenchmarkCatchUp measures how fast a backlog drains once a receiver that
// was down answers again.
func BenchmarkCatchUp(b *testing.B) {
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(b, func(*request, http.ResponseWriter, *http.Request) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	rc.light = true
	d := benchDeliverer(b, []*receiver{rc})
	appendEvents(b, d.j, b.N)
	waitStatus(b, d, rc.URL(), 10*time.Second, "retrying", func(s WebhookStatus) bool { return s.State == StateRetrying })
	b.ResetTimer()
	start := time.Now()
	down.Store(false)
	rc.waitAccepted(b, b.N, 10*time.Minute)
	el := time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el, "events/s")
}
