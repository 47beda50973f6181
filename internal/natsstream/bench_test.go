package natsstream

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// benchCluster starts n embedded servers on loopback, clustered when n > 1,
// and returns their client URLs.
func benchCluster(b *testing.B, n int) []string {
	b.Helper()
	var clients, routes []string
	for range n {
		clients = append(clients, freeAddr(b))
		routes = append(routes, freeAddr(b))
	}
	var servers []*server.Server
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range n {
		var others []string
		if n > 1 {
			for k, r := range routes {
				if k != i {
					others = append(others, r)
				}
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := StartEmbedded(EmbeddedConfig{ServerName: fmt.Sprintf("s%d", i), StoreDir: b.TempDir(),
				ClientListen: clients[i], ClusterListen: routes[i], ClusterName: "bench", Routes: others})
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			servers = append(servers, s)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
		}
	})
	if b.Failed() {
		b.FailNow()
	}
	var urls []string
	for _, c := range clients {
		urls = append(urls, "nats://"+c)
	}
	return urls
}

// benchStream runs a publisher on a fresh journal against a fresh stream
// of the given replicas and a reader that reports each event's latency
// from its journal time to its delivery.
func benchStream(b *testing.B, nodes int) (*journal.Journal, <-chan time.Duration) {
	urls := benchCluster(b, nodes)
	j := openJournal(b)
	nc, err := Connect(ConnectOptions{URLs: urls[:1], Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	p, err := NewPublisher(PublisherOptions{Journal: j, JS: js, Cluster: testCluster, Replicas: nodes, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	// The stream exists once the publisher has said so.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := js.Stream(ctx, StreamName); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no stream")
		}
		time.Sleep(100 * time.Millisecond)
	}
	lat := make(chan time.Duration, 1<<20)
	rc, err := Connect(ConnectOptions{URLs: urls[len(urls)-1:], Name: "bench reader"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rc.Close)
	rjs, _ := jetstream.New(rc)
	c, err := rjs.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		var msg Message
		if json.Unmarshal(m.Data(), &msg) == nil {
			lat <- time.Since(msg.Time)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cc.Stop)
	return j, lat
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// benchThroughput journals b.N events in batches of 100, as a burst of
// changes does, and reports events/s from the first append to the last
// delivery.
func benchThroughput(b *testing.B, nodes int) {
	j, lat := benchStream(b, nodes)
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := 0; i < b.N; i += 100 {
			evs := make([]journal.Event, 0, 100)
			for k := i; k < min(b.N, i+100); k++ {
				evs = append(evs, setEvent("node-a", fmt.Sprint(k), k))
			}
			if _, err := j.Append(context.Background(), evs...); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	d := make([]time.Duration, 0, b.N)
	for range b.N {
		d = append(d, <-lat)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(percentile(d, 0.5).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(percentile(d, 0.99).Microseconds())/1000, "p99_ms")
}

// benchLatency journals one event at a time, each once the last was
// delivered, and reports the delivery latency from the journal.
func benchLatency(b *testing.B, nodes int) {
	j, lat := benchStream(b, nodes)
	b.ResetTimer()
	d := make([]time.Duration, 0, b.N)
	for i := range b.N {
		if _, err := j.Append(context.Background(), setEvent("node-a", fmt.Sprint(i), i)); err != nil {
			b.Fatal(err)
		}
		d = append(d, <-lat)
	}
	b.ReportMetric(float64(percentile(d, 0.5).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(percentile(d, 0.99).Microseconds())/1000, "p99_ms")
}

func BenchmarkStreamThroughput1(b *testing.B) { benchThroughput(b, 1) }
func BenchmarkStreamThroughput3(b *testing.B) { benchThroughput(b, 3) }
func BenchmarkStreamLatency1(b *testing.B)    { benchLatency(b, 1) }
func BenchmarkStreamLatency3(b *testing.B)    { benchLatency(b, 3) }
