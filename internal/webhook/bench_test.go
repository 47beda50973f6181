package webhook

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
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

// BenchmarkCatchUpRemote measures how fast a backlog of b.N events drains
// to a receiver on another machine, one event per POST and batched. It
// needs a running bench/remotehook receiver, whose base URL
// GLUSTERBUS_BENCH_REMOTE gives (bench/webhook.sh starts one in a network
// namespace of its own, 20 ms of round trip away);
// GLUSTERBUS_BENCH_BATCH is the batch size (default 100).
func BenchmarkCatchUpRemote(b *testing.B) {
	base := os.Getenv("GLUSTERBUS_BENCH_REMOTE")
	if base == "" {
		b.Skip("GLUSTERBUS_BENCH_REMOTE is not set: run bench/webhook.sh")
	}
	batch := 100
	if s := os.Getenv("GLUSTERBUS_BENCH_BATCH"); s != "" {
		var err error
		if batch, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	for _, size := range []int{0, batch} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			remote := &remoteReceiver{base: base}
			remote.call(b, http.MethodPost, "/reset")
			j := openJournal(b, "")
			b.Cleanup(func() { j.Close() })
			appendEvents(b, j, b.N)
			u := base + "/hook"
			// The webhook was down since before the backlog: its cursor
			// is at the start.
			if err := j.SetCursor(CursorName(u), 0); err != nil {
				b.Fatal(err)
			}
			file := webhooksFile(b)
			addWebhook(b, file, Webhook{URL: u, Batch: size})
			opts := fastOptions(j, file)
			opts.CursorEvery, opts.CursorInterval = 0, 0 // the defaults
			b.ResetTimer()
			start := time.Now()
			runDeliverer(b, opts)
			var events, dups, last uint64
			for events < uint64(b.N) {
				time.Sleep(50 * time.Millisecond)
				events, dups, last = remote.count(b)
			}
			el := time.Since(start).Seconds()
			b.StopTimer()
			if dups != 0 || last != uint64(b.N) {
				b.Fatalf("receiver counted %d events, %d duplicates, last %d; want %d, 0, %d", events, dups, last, b.N, b.N)
			}
			b.ReportMetric(float64(b.N)/el, "events/s")
			b.ReportMetric(el, "s")
		})
	}
}

// remoteReceiver is a bench/remotehook receiver.
type remoteReceiver struct{ base string }

func (r *remoteReceiver) call(b *testing.B, method, path string) string {
	b.Helper()
	req, err := http.NewRequest(method, r.base+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	return string(body)
}

func (r *remoteReceiver) count(b *testing.B) (events, dups, last uint64) {
	b.Helper()
	if _, err := fmt.Sscan(r.call(b, http.MethodGet, "/count"), &events, &dups, &last); err != nil {
		b.Fatal(err)
	}
	return events, dups, last
}
