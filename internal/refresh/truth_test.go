package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/events"
	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/state"
)

// The tests here check that the daemon reports only what it has read or
// been told: a brick nothing has told is unknown, never offline, and the
// default takes no volume lock. They use a source scripted in Go rather
// than captures, to move one volume through its life.

const (
	localHost  = "127.1.1.1"
	remoteHost = "127.1.1.2"
)

// scriptSource is a Source whose answers the test sets.
type scriptSource struct {
	mu      sync.Mutex
	vols    map[string]gluster.Volume
	running map[string]bool // brick name -> its process runs (this node's bricks)
	calls   map[string]int
	// afterLocal, if set, runs once after LocalState has answered, with mu
	// held.
	afterLocal func()
}

func newScriptSource() *scriptSource {
	return &scriptSource{vols: map[string]gluster.Volume{}, running: map[string]bool{}, calls: map[string]int{}}
}

func (s *scriptSource) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func (s *scriptSource) note(name string) {
	s.mu.Lock()
	s.calls[name]++
	s.mu.Unlock()
}

// setVolume defines a replica volume with one brick here and one on the
// other node, in the given status.
func (s *scriptSource) setVolume(name, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vols[name] = gluster.Volume{Name: name, ID: "id-" + name, Status: status, Type: "Replicate",
		BrickCount: 2, DistCount: 1, ReplicaCount: 2, Bricks: []gluster.Brick{
			{Host: localHost, Path: "/b/" + name, HostUUID: node1},
			{Host: remoteHost, Path: "/b/" + name, HostUUID: node2},
		}}
}

func (s *scriptSource) setRunning(brick string, running bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running[brick] = running
}

func (s *scriptSource) VolumeInfo(_ context.Context, volume string) ([]gluster.Volume, error) {
	s.note("VolumeInfo(" + volume + ")")
	s.mu.Lock()
	defer s.mu.Unlock()
	if volume != "" {
		v, ok := s.vols[volume]
		if !ok {
			return nil, &gluster.CLIError{Op: "volume info " + volume, OpRet: -1, OpErrno: 30806, Message: "Volume " + volume + " does not exist"}
		}
		return []gluster.Volume{v}, nil
	}
	var out []gluster.Volume
	for _, v := range s.vols {
		out = append(out, v)
	}
	return out, nil
}

func (s *scriptSource) VolumeStatusDetail(context.Context, string) ([]gluster.BrickStatus, error) {
	s.note("VolumeStatusDetail")
	return nil, fmt.Errorf("volume status must not run")
}

func (s *scriptSource) LocalState(context.Context) (*gluster.LocalState, error) {
	s.note("LocalState")
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &gluster.LocalState{UUID: node1, OpVersion: 100000}
	for _, v := range s.vols {
		for _, b := range v.Bricks {
			if b.HostUUID != node1 {
				continue
			}
			run := v.Status == "Started" && s.running[b.Host+":"+b.Path]
			bs := gluster.BrickStatus{Volume: v.Name, Host: b.Host, Path: b.Path, HostUUID: node1, Online: run, Pid: -1, SizeTotal: 100, SizeFree: 50}
			if run {
				bs.Port = 49152
			}
			st.Bricks = append(st.Bricks, bs)
		}
	}
	if s.afterLocal != nil {
		s.afterLocal()
		s.afterLocal = nil
	}
	return st, nil
}

func (s *scriptSource) Peers(context.Context) ([]gluster.Peer, error) {
	return []gluster.Peer{{UUID: node2, Hostname: remoteHost, Connected: true, State: "Peer in Cluster"}}, nil
}
func (s *scriptSource) LocalUUID(context.Context) (string, error) { return node1, nil }
func (s *scriptSource) OpVersion(context.Context) (uint32, error) { return 100000, nil }
func (s *scriptSource) Version(context.Context) (string, error)   { return "10.3", nil }

// eventLog is a sink that keeps the diff events the changes mean.
type eventLog struct {
	mu  sync.Mutex
	evs []journal.Event
}

func (l *eventLog) Apply(changes []state.Change) {
	evs := events.FromChanges(changes, node1, func(r state.Ref) string { return r.Kind.String() + "/" + r.Key })
	l.mu.Lock()
	l.evs = append(l.evs, evs...)
	l.mu.Unlock()
}

// alarms lists the events that would page someone: a brick offline, or a
// volume's health going down or degraded. A volume's stop takes its bricks
// offline: that is no alarm.
func (l *eventLog) alarms() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	stopped := map[string]bool{}
	for _, ev := range l.evs {
		fields := map[string]string{}
		for _, f := range ev.Fields {
			fields[f.Key] = f.Value
		}
		switch {
		case ev.Name == events.VolumeStop:
			stopped[fields["name"]] = true
		case ev.Name == events.VolumeStart:
			stopped[fields["name"]] = false
		case ev.Name == events.BrickOffline && stopped[fields["volume"]]:
		case ev.Name == events.BrickOffline:
			out = append(out, ev.Name+" "+fields["brick"])
		case ev.Name == events.VolumeHealthChanged && (fields["new"] == state.HealthDown || fields["new"] == state.HealthDegraded):
			out = append(out, ev.Name+" "+fields["name"]+" "+fields["old"]+"->"+fields["new"])
		}
	}
	return out
}

type truthEnv struct {
	t     *testing.T
	ctx   context.Context
	src   *scriptSource
	model *state.Model
	log   *eventLog
	clock *fakeClock
	r     *Refresher
}

// newTruthEnv runs a refresher with the default options but for a start
// grace only the fake clock ends.
func newTruthEnv(t *testing.T) *truthEnv {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &truthEnv{t: t, ctx: ctx, src: newScriptSource(), log: &eventLog{}, clock: newFakeClock()}
	e.model = state.NewModel(e.log)
	e.r = New(ctx, e.src, e.model, Options{Now: e.clock.Now, StartGrace: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	return e
}

func (e *truthEnv) brick(vol, host string) state.Brick {
	e.t.Helper()
	v, ok := e.model.Volume(vol)
	if !ok {
		e.t.Fatalf("no volume %s", vol)
	}
	i := slices.IndexFunc(v.Bricks, func(b state.Brick) bool { return b.Host == host })
	return v.Bricks[i]
}

func (e *truthEnv) health(vol string) string {
	v, _ := e.model.Volume(vol)
	return v.Health()
}

func (e *truthEnv) volume(name string) {
	e.t.Helper()
	if err := e.r.Volume(e.ctx, name); err != nil {
		e.t.Fatal(err)
	}
}

func (e *truthEnv) local() {
	e.t.Helper()
	if err := e.r.do(e.ctx, keyLocal, 0); err != nil {
		e.t.Fatal(err)
	}
}

func TestDefaultTakesNoVolumeLock(t *testing.T) {
	e := newTruthEnv(t)
	e.src.setVolume("v", "Started")
	e.src.setRunning(localHost+":/b/v", true)
	if err := e.r.All(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.volume("v")
	e.r.TriggerRuntime("v")
	e.r.NoteBrick("v", remoteHost+":/b/v", true)
	if err := e.r.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reads done", func() bool {
		e.r.mu.Lock()
		defer e.r.mu.Unlock()
		return len(e.r.flights) == 0
	})
	if n := e.src.count("VolumeStatusDetail"); n != 0 {
		t.Fatalf("volume status ran %d times", n)
	}
	if b := e.brick("v", localHost); b.State() != state.BrickStateOnline || b.Port != 49152 || b.SizeTotal != 100 {
		t.Errorf("this node's brick %+v, want online from get-state", b)
	}
}

func TestRemoteBricksUnknownUntilTold(t *testing.T) {
	e := newTruthEnv(t)
	e.src.setVolume("v", "Started")
	e.src.setRunning(localHost+":/b/v", true)
	if err := e.r.All(e.ctx); err != nil {
		t.Fatal(err)
	}
	if b := e.brick("v", remoteHost); b.State() != state.BrickStateUnknown || b.Online {
		t.Errorf("the other node's brick %+v, want unknown", b)
	}
	if h := e.health("v"); h != state.HealthUnknown {
		t.Errorf("health %s, want unknown", h)
	}
	// glusterd's brick events tell it at once.
	e.r.NoteBrick("v", remoteHost+":/b/v", true)
	if b := e.brick("v", remoteHost); b.State() != state.BrickStateOnline {
		t.Errorf("after BRICK_CONNECTED: %+v", b)
	}
	if h := e.health("v"); h != state.HealthUp {
		t.Errorf("health %s, want up", h)
	}
	e.r.NoteBrick("v", remoteHost+":/b/v", false)
	if b := e.brick("v", remoteHost); b.State() != state.BrickStateOffline {
		t.Errorf("after BRICK_DISCONNECTED: %+v", b)
	}
	if h := e.health("v"); h != state.HealthDegraded {
		t.Errorf("health %s, want degraded", h)
	}
	// A later full read, which cannot see that brick, keeps what was told.
	if err := e.r.All(e.ctx); err != nil {
		t.Fatal(err)
	}
	if b := e.brick("v", remoteHost); b.State() != state.BrickStateOffline {
		t.Errorf("after a full read: %+v", b)
	}
}

// A volume start is no alarm: its bricks are unknown until read, a brick
// read as not running within the start grace is still starting, and only
// after the grace is a brick that does not run offline.
func TestStartIsNoAlarm(t *testing.T) {
	e := newTruthEnv(t)
	e.src.setVolume("v", "Stopped")
	if err := e.r.All(e.ctx); err != nil {
		t.Fatal(err)
	}
	brick := localHost + ":/b/v"

	e.src.setVolume("v", "Started") // the brick process not up yet
	e.volume("v")
	e.local()
	if b := e.brick("v", localHost); b.State() != state.BrickStateUnknown {
		t.Errorf("a brick of a volume just started, not running yet: %+v, want unknown", b)
	}
	if h := e.health("v"); h != state.HealthUnknown {
		t.Errorf("health %s, want unknown", h)
	}
	e.src.setRunning(brick, true)
	e.local()
	if b := e.brick("v", localHost); b.State() != state.BrickStateOnline {
		t.Errorf("once running: %+v", b)
	}
	if a := e.log.alarms(); len(a) != 0 {
		t.Errorf("a volume start raised alarms: %v", a)
	}

	// After the grace, a brick that stops running is offline.
	e.clock.Advance(2 * time.Hour)
	e.src.setRunning(brick, false)
	e.local()
	// Once the volume's configuration and its bricks are read again.
	waitFor(t, "the dead brick offline", func() bool { b := e.brick("v", localHost); return b.State() == state.BrickStateOffline })
	if a := e.log.alarms(); !slices.Contains(a, events.BrickOffline+" "+brick) {
		t.Errorf("a dead brick raised %v, want BRICK_OFFLINE", a)
	}
}

// BRICK_CONNECTED can come before the daemon reads that the volume
// started: it is kept for the start.
func TestBrickConnectedBeforeStartIsKept(t *testing.T) {
	e := newTruthEnv(t)
	e.src.setVolume("v", "Stopped")
	if err := e.r.All(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.r.NoteBrick("v", remoteHost+":/b/v", true)
	e.src.setVolume("v", "Started")
	e.volume("v")
	if b := e.brick("v", remoteHost); b.State() != state.BrickStateOnline {
		t.Errorf("a brick glusterd said connected: %+v, want online", b)
	}
	if a := e.log.alarms(); len(a) != 0 {
		t.Errorf("alarms %v", a)
	}
}

// Names from the network that the model does not know cost at most one
// full read at a time, coalesced, and no read of their own.
// A volume stopped between two reads: get-state, which takes no lock, may
// see its bricks stopped before its status changes. That is not reported
// until the volume is read again, which shows it stopped.
func TestStopSeenHalfDoneIsNoAlarm(t *testing.T) {
	e := newTruthEnv(t)
	e.src.setVolume("v", "Started")
	brick := localHost + ":/b/v"
	e.src.setRunning(brick, true)
	if err := e.r.All(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour) // past the start grace
	e.src.setRunning(brick, false) // stopped, the volume's status not yet
	e.src.mu.Lock()
	e.src.afterLocal = func() { // ... until get-state has answered
		v := e.src.vols["v"]
		v.Status = "Stopped"
		e.src.vols["v"] = v
	}
	e.src.mu.Unlock()
	e.local()
	waitFor(t, "the stop read", func() bool {
		v, _ := e.model.Volume("v")
		return v.Status == "Stopped"
	})
	if a := e.log.alarms(); len(a) != 0 {
		t.Errorf("a volume stop seen half done raised %v", a)
	}
}

func TestUnknownNamesCostOneFullRead(t *testing.T) {
	e := newTruthEnv(t)
	e.src.setVolume("v", "Started")
	if err := e.r.All(e.ctx); err != nil {
		t.Fatal(err)
	}
	before := e.src.count("VolumeInfo()")
	began := time.Now()
	for i := range 10000 {
		e.r.TriggerNamedVolume(fmt.Sprintf("nosuch%d", i))
		e.r.TriggerNamedRuntime(fmt.Sprintf("nosuch%d", i))
	}
	sent := time.Since(began)
	// One read at once, one more when the spacing has passed (and one more
	// per spacing the loop itself took, on a slow machine).
	waitFor(t, "the second full read", func() bool { return e.src.count("VolumeInfo()")-before >= 2 })
	waitFor(t, "reads done", func() bool {
		e.r.mu.Lock()
		defer e.r.mu.Unlock()
		return len(e.r.flights) == 0 && !e.r.unknownPending
	})
	if n, most := e.src.count("VolumeInfo()")-before, 2+int(sent/unknownNameSpacing); n > most {
		t.Errorf("%d full reads for 20000 unknown names sent in %v, want at most %d", n, sent, most)
	}
	e.src.mu.Lock()
	defer e.src.mu.Unlock()
	for name := range e.src.calls {
		if len(name) > len("VolumeInfo(nosuch") && name[:len("VolumeInfo(nosuch")] == "VolumeInfo(nosuch" {
			t.Fatalf("a read of an unknown name: %s", name)
		}
	}
}

// A brick added to a running volume is starting too: not running yet is not
// offline.
func TestAddedBrickIsNoAlarm(t *testing.T) {
	e := newTruthEnv(t)
	e.src.setVolume("v", "Started")
	e.src.setRunning(localHost+":/b/v", true)
	if err := e.r.All(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.src.mu.Lock()
	v := e.src.vols["v"]
	v.Bricks = append(v.Bricks, gluster.Brick{Host: localHost, Path: "/b/v-added", HostUUID: node1})
	v.BrickCount = 3
	e.src.vols["v"] = v
	e.src.mu.Unlock()
	e.volume("v")
	e.local()
	if b := e.brick("v", localHost); b.State() != state.BrickStateOnline {
		t.Errorf("the running brick: %+v", b)
	}
	got, _ := e.model.Volume("v")
	if b := got.Bricks[2]; b.State() != state.BrickStateUnknown {
		t.Errorf("the added brick, not running yet: %+v, want unknown", b)
	}
	if a := e.log.alarms(); len(a) != 0 {
		t.Errorf("adding a brick raised alarms: %v", a)
	}
}

// PendingHeals: no brick of the captures has entries waiting for self-heal.
func (s *scriptSource) PendingHeals(context.Context, string, gluster.HealIndex) (gluster.HealIndex, error) {
	return gluster.HealIndex{}, nil
}

// HealSummary: no brick of the captures has entries in split-brain.
func (s *scriptSource) HealSummary(context.Context, string) ([]gluster.HealBrick, error) {
	return nil, nil
}

// Snapshots: the captures' node has no LVM tools.
func (s *scriptSource) Snapshots(context.Context) ([]gluster.Snapshot, error) {
	return nil, gluster.ErrSnapshotsUnavailable
}
