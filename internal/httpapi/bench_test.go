package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/state"
)

// largeModel is a cluster of vols replica 3 volumes on 3 nodes, every brick
// online with its space known.
func largeModel(m *state.Model, vols int) {
	m.SetGlusterd(state.Glusterd{Running: true, UUID: "u0", LastRefresh: time.Now()})
	snap := state.NewSnapshot()
	snap.Glusterd = m.Glusterd()
	for i := range vols {
		name := fmt.Sprintf("vol-%05d", i)
		v := &state.Volume{Name: name, ID: fmt.Sprintf("id-%d", i), Status: "Started", Type: "Replicate",
			Transport: "tcp", BrickCount: 3, ReplicaCount: 3, DistCount: 1}
		for n := range 3 {
			v.Bricks = append(v.Bricks, state.Brick{Host: fmt.Sprintf("10.0.0.%d", n+1), Path: "/bricks/" + name,
				HostUUID: fmt.Sprintf("uuid-%d", n), Online: true, Pid: int64(1000 + i), Port: uint32(49152 + i),
				SizeTotal: 100 << 30, SizeFree: 40 << 30, InodesTotal: 6553600, InodesFree: 6000000})
		}
		snap.Volumes[name] = v
	}
	snap.Peers = map[string]*state.Peer{"uuid-1": {UUID: "uuid-1", Hostname: "10.0.0.2", Connected: true},
		"uuid-2": {UUID: "uuid-2", Hostname: "10.0.0.3", Connected: true}}
	m.SetAll(snap)
}

// BenchmarkScrape is one GET /metrics of 5000 volumes x 3 bricks, text
// format, as Prometheus asks for it (gzip off: Prometheus's own scrapes
// ask for gzip, which costs more CPU and less network).
func BenchmarkScrape(b *testing.B) {
	for _, gzip := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gzip), func(b *testing.B) {
			f := newFixture(b, Options{}, nil)
			largeModel(f.model, 5000)
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if gzip {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			var size int
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := &countingWriter{header: http.Header{}}
				f.server.Handler().ServeHTTP(w, req)
				if w.status != 0 && w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
				size = w.n
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}

type countingWriter struct {
	header http.Header
	status int
	n      int
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(s int)   { w.status = s }
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return io.Discard.Write(p)
}

// BenchmarkState is one GET /api/v1/state of 5000 volumes x 3 bricks.
func BenchmarkState(b *testing.B) {
	f := newFixture(b, Options{}, nil)
	largeModel(f.model, 5000)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/state", nil)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		w := &countingWriter{header: http.Header{}}
		f.server.Handler().ServeHTTP(w, req)
		size = w.n
	}
	b.ReportMetric(float64(size), "bytes/answer")
}
