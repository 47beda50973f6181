package refresh

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
)

const geoRepCall = "GeoRepStatus()"

// geoRepFake is the fake source that also reads geo-replication status,
// from the capture set by setGeoRep.
type geoRepFake struct {
	*fakeSource
	gmu  sync.Mutex
	file string
}

func (f *geoRepFake) GeoRepStatus(ctx context.Context) ([]gluster.GeoRepSession, error) {
	return call(f.fakeSource, ctx, geoRepCall, func() ([]gluster.GeoRepSession, error) {
		f.gmu.Lock()
		file := f.file
		f.gmu.Unlock()
		return gluster.ParseGeoRepStatus(f.read(file))
	})
}

func (f *geoRepFake) setGeoRep(file string) {
	f.gmu.Lock()
	defer f.gmu.Unlock()
	f.file = file
}

func (f *geoRepFake) geoRepCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[geoRepCall]
}

func newGeoRepEnv(t *testing.T, opt GeoRepOptions) (*Refresher, *geoRepFake, *state.Model) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	src := &geoRepFake{fakeSource: newFakeSource(t), file: "r10-georep-status.xml"}
	model := state.NewModel()
	r := New(ctx, src, model, Options{Logger: slog.New(slog.DiscardHandler)})
	r.EnableGeoRep(opt)
	return r, src, model
}

// Sessions are read only where a session directory exists; a failed or
// cut-off read keeps them; the last directory gone, they go without a
// status read.
func TestGeoRep(t *testing.T) {
	wd := t.TempDir()
	r, src, model := newGeoRepEnv(t, GeoRepOptions{Workdir: wd, MinGap: time.Millisecond, Timeout: 200 * time.Millisecond})
	if err := r.All(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(wd, "geo-replication"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.TriggerGeoRep()
	if err := r.All(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // a wrong read would have started by now; none may
	if n := src.geoRepCalls(); n != 0 {
		t.Fatalf("%d status reads without a session directory", n)
	}

	session := filepath.Join(wd, "geo-replication", "pv_sec1.example.com_sv")
	if err := os.Mkdir(session, 0o755); err != nil {
		t.Fatal(err)
	}
	r.TriggerGeoRep()
	waitFor(t, "the sessions", func() bool { return len(model.GeoReps()) == 2 })
	s := model.GeoReps()[state.GeoRepKey("pv", "geoaccount@sec1.example.com::sv")]
	if s.SecondaryHost != "sec1.example.com" || s.Status() != state.GeoRepActive || len(s.Workers) != 2 ||
		s.CheckpointTime != time.Date(2026, 12, 6, 18, 45, 0, 0, time.UTC).UnixMicro() || s.CheckpointCompleted() ||
		s.Workers[0].Data != 3 || s.Workers[1].Entry != -1 {
		t.Errorf("session %+v", s)
	}

	src.fail(geoRepCall, errors.New("gluster volume geo-replication status: exit status 2"))
	before := src.geoRepCalls()
	r.TriggerGeoRep()
	waitFor(t, "the failed read", func() bool { return src.geoRepCalls() > before })
	h := src.hold(geoRepCall)
	r.TriggerGeoRep()
	entered(t, h, "the hanging read")
	waitFor(t, "the hanging read to be cut off", func() bool { return flightsDone(r) })
	src.unhold(geoRepCall)
	if n := len(model.GeoReps()); n != 2 {
		t.Fatalf("%d sessions after a failed and a cut-off read, want the 2 known", n)
	}

	src.setGeoRep("r3.7-georep-status.xml")
	r.TriggerGeoRep()
	waitFor(t, "the sessions to change", func() bool {
		_, ok := model.GeoReps()[state.GeoRepKey("mastervol", "slavehost::slavevol")]
		return ok && len(model.GeoReps()) == 1
	})

	if err := os.Remove(session); err != nil {
		t.Fatal(err)
	}
	calls := src.geoRepCalls()
	r.TriggerGeoRep()
	waitFor(t, "the sessions to go", func() bool { return len(model.GeoReps()) == 0 })
	if n := src.geoRepCalls(); n != calls {
		t.Errorf("%d status reads without a session directory", n-calls)
	}
}

func flightsDone(r *Refresher) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.flights) == 0
}

// The first full read includes the sessions; after it, however many
// triggers and full reads come, at most one read starts per MinGap.
func TestGeoRepRateLimit(t *testing.T) {
	wd := t.TempDir()
	if err := os.MkdirAll(filepath.Join(wd, "geo-replication", "pv_sec1.example.com_sv"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, src, model := newGeoRepEnv(t, GeoRepOptions{Workdir: wd, MinGap: time.Hour})
	// The first full read reads the sessions before it ends.
	if err := r.All(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(model.GeoReps()); n != 2 {
		t.Fatalf("%d sessions after the first full read, want 2", n)
	}
	for range 100 {
		r.TriggerGeoRep()
	}
	if err := r.All(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no read in flight", func() bool { return flightsDone(r) })
	if n := src.geoRepCalls(); n != 1 {
		t.Errorf("%d status reads within MinGap, want 1", n)
	}
}

// A costly read spaces the next out: reads take at most a tenth of the time.
func TestGeoRepGap(t *testing.T) {
	g := &geoRep{opt: GeoRepOptions{MinGap: 5 * time.Second}}
	if got := g.gap(); got != 5*time.Second {
		t.Errorf("gap before any read: %v", got)
	}
	g.cost = 200 * time.Millisecond
	if got := g.gap(); got != 5*time.Second {
		t.Errorf("gap after a cheap read: %v", got)
	}
	g.cost = 3 * time.Second
	if got := g.gap(); got != 30*time.Second {
		t.Errorf("gap after a 3 s read: %v, want 30s", got)
	}
}
