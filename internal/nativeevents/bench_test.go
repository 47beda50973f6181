package nativeevents

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func capturedBytes(b *testing.B) [][]byte {
	var out [][]byte
	for _, c := range loadCaptured(b) {
		out = append(out, []byte(c.Datagram))
	}
	return out
}

// BenchmarkParse parses the captured datagrams in turn.
func BenchmarkParse(b *testing.B) {
	data := capturedBytes(b)
	size := 0
	for _, d := range data {
		size += len(d)
	}
	b.SetBytes(int64(size / len(data)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := Parse(data[i%len(data)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPayload builds glustereventsd's webhook body for the captured
// datagrams in turn.
func BenchmarkPayload(b *testing.B) {
	var evs []Event
	for _, d := range capturedBytes(b) {
		ev, err := Parse(d)
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, ev)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		evs[i%len(evs)].Payload(testNodeID)
		i++
	}
}

// BenchmarkListener measures datagrams per second from a loopback socket
// through a Listener into a handler. The sender keeps a bounded number in
// flight so that the kernel does not drop any.
func BenchmarkListener(b *testing.B) {
	l, err := Listen(Config{ListenAddrs: []string{"127.0.0.1"}, RatePerSource: -1})
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- l.Run(ctx, func(Event, netip.Addr) { handled.Add(1) })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	c, err := net.DialUDP("udp4", nil, l.LocalAddrs()[0].(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	data := capturedBytes(b)
	const window = 128

	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for int64(i)-handled.Load() >= window {
			runtime.Gosched()
		}
		if _, err := c.Write(data[i%len(data)]); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for handled.Load() < int64(b.N) && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	n := handled.Load()
	if n < int64(b.N) {
		b.Logf("%d of %d datagrams lost", int64(b.N)-n, b.N)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	if s := l.Stats(); s.Accepted != uint64(n) || s.Malformed+s.Unknown+s.Rejected+s.RateLimited != 0 {
		b.Errorf("stats %+v", s)
	}
}
