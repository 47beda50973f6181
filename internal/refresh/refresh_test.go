package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
)

// patience bounds every wait of these tests; they poll rather than sleep
// for a fixed time, so a slow machine only makes them slower.
const patience = 30 * time.Second

// quiet is the QuietPeriod of the tests that watch the quiet rule. The
// Refresher reads it from the fake clock, which moves only when a test
// advances it, so the rule holds however slowly the test runs.
const quiet = 200 * time.Millisecond

type recorder struct {
	mu      sync.Mutex
	changes []state.Change
}

func (r *recorder) Apply(c []state.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c...)
}

// take returns the changes recorded since the last take.
func (r *recorder) take() []state.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.changes
	r.changes = nil
	return c
}

type env struct {
	t     *testing.T
	ctx   context.Context
	src   *fakeSource
	model *state.Model
	rec   *recorder
	clock *fakeClock
	r     *Refresher
}

func newEnv(t *testing.T, opt Options) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, src: newFakeSource(t), rec: &recorder{}, clock: newFakeClock()}
	e.model = state.NewModel(e.rec)
	if opt.Now == nil {
		opt.Now = e.clock.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	e.r = New(ctx, e.src, e.model, opt)
	return e
}

// all runs a full read that must succeed.
func (e *env) all() {
	e.t.Helper()
	if err := e.r.All(e.ctx); err != nil {
		e.t.Fatalf("All: %v", err)
	}
}

func (e *env) volume(name string) state.Volume {
	e.t.Helper()
	v, ok := e.model.Volume(name)
	if !ok {
		e.t.Fatalf("volume %s not in the model", name)
	}
	return v
}

func (e *env) health(name string) string {
	e.t.Helper()
	v := e.volume(name)
	return v.Health()
}

func (e *env) peer(uuid string) state.Peer {
	e.t.Helper()
	p, ok := e.model.Peers()[uuid]
	if !ok {
		e.t.Fatalf("peer %s not in the model", uuid)
	}
	return p
}

// idle says whether no read runs or waits to run.
func (e *env) idle() bool {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	return len(e.r.flights) == 0
}

// flightWants says whether a read of key waits to run with at least w and
// n waiters.
func (e *env) flightWaits(key string, w want, n int) bool {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	f, ok := e.r.flights[key]
	return ok && f.want&w == w && len(f.waiters) >= n
}

func (e *env) waitIdle() {
	e.t.Helper()
	waitFor(e.t, "no read running", e.idle)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// entered waits for a held call to start.
func entered(t *testing.T, h *hold, what string) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(patience):
		t.Fatalf("gave up waiting for the call %s", what)
	}
}

// release lets one held call go on.
func release(t *testing.T, h *hold, what string) {
	t.Helper()
	select {
	case h.release <- struct{}{}:
	case <-time.After(patience):
		t.Fatalf("no held call %s to release", what)
	}
}

func recvErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(patience):
		t.Fatalf("gave up waiting for %s", what)
		return nil
	}
}

// stays checks that cond holds now and still after a while. It can only
// miss a failure on a slow machine, never report one that is not there.
func stays(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 3 {
		if !cond() {
			t.Fatalf("not so: %s", what)
		}
		time.Sleep(quiet)
	}
}

var allVolumes = []string{"arb", "created", "disp", "dist", "distdisp", "distrep", "opts", "rep3", "stopped"}

// startedWithNode3 are the started volumes with a brick on node 3.
var startedWithNode3 = []string{"arb", "disp", "dist", "distdisp", "distrep", "rep3"}

var hostUUID = map[string]string{"127.1.1.1": node1, host2: node2, host3: node3}

func online(b *state.Brick) bool {
	return b.Online && b.Pid > 0 && b.Port > 0
}

func offline(b *state.Brick) bool {
	return !b.Online && b.Pid == -1 && b.Port == 0
}

func TestAllReadsCapturedCluster(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true})
	e.all()

	names := e.model.VolumeNames()
	slices.Sort(names)
	if !slices.Equal(names, allVolumes) {
		t.Fatalf("volumes %v, want %v", names, allVolumes)
	}
	type shape struct {
		status, typ                                  string
		bricks, dist, replica, arbiter, disp, redund uint32
		health                                       string
	}
	want := map[string]shape{
		"arb":      {"Started", "Replicate", 3, 1, 3, 1, 0, 0, state.HealthUp},
		"created":  {"Created", "Replicate", 3, 1, 3, 0, 0, 0, state.HealthStopped},
		"disp":     {"Started", "Disperse", 3, 1, 1, 0, 3, 1, state.HealthUp},
		"dist":     {"Started", "Distribute", 3, 3, 1, 0, 0, 0, state.HealthUp},
		"distdisp": {"Started", "Distributed-Disperse", 6, 2, 1, 0, 3, 1, state.HealthUp},
		"distrep":  {"Started", "Distributed-Replicate", 6, 2, 3, 0, 0, 0, state.HealthUp},
		"opts":     {"Started", "Distribute", 1, 1, 1, 0, 0, 0, state.HealthUp},
		"rep3":     {"Started", "Replicate", 3, 1, 3, 0, 0, 0, state.HealthUp},
		"stopped":  {"Stopped", "Distribute", 2, 2, 1, 0, 0, 0, state.HealthStopped},
	}
	for name, w := range want {
		v := e.volume(name)
		got := shape{v.Status, v.Type, v.BrickCount, v.DistCount, v.ReplicaCount, v.ArbiterCount,
			v.DisperseCount, v.RedundancyCount, v.Health()}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", name, got, w)
		}
		if v.ID == "" || v.Transport != "tcp" || len(v.Bricks) != int(v.BrickCount) {
			t.Errorf("%s: id %q, transport %q, %d bricks", name, v.ID, v.Transport, len(v.Bricks))
		}
		for i := range v.Bricks {
			b := &v.Bricks[i]
			if b.HostUUID != hostUUID[b.Host] || !strings.HasSuffix(b.Path, "/bricks/"+name) &&
				!strings.Contains(b.Path, "/bricks/"+name+"-") {
				t.Errorf("%s: brick %s on %s", name, b.Name(), b.HostUUID)
			}
			if b.IsArbiter != (name == "arb" && i == 2) {
				t.Errorf("%s: brick %s IsArbiter %v", name, b.Name(), b.IsArbiter)
			}
			if v.Status == "Started" {
				if !online(b) || b.SizeTotal == 0 || b.SizeFree == 0 || b.InodesTotal == 0 ||
					b.Device != "/dev/vda" || b.FsName != "ext4" || b.MountOptions == "" {
					t.Errorf("%s: brick %s not online with its runtime: %+v", name, b.Name(), *b)
				}
			} else if !offline(b) {
				t.Errorf("%s: brick %s of a %s volume is not offline: %+v", name, b.Name(), v.Status, *b)
			}
		}
	}
	if got := e.volume("opts").Options["user.note"]; got != "hello world" {
		t.Errorf("opts: user.note = %q", got)
	}

	peers := e.model.Peers()
	if len(peers) != 2 {
		t.Errorf("peers %v", peers)
	}
	for uuid, host := range map[string]string{node2: host2, node3: host3} {
		p := e.peer(uuid)
		if p.Hostname != host || !slices.Equal(p.Hostnames, []string{host}) || !p.Connected || p.State != "Peer in Cluster" {
			t.Errorf("peer %s: %+v", uuid, p)
		}
	}

	g := e.model.Glusterd()
	if g.UUID != node1 || g.OpVersion != 100000 || g.Version != "10.3" || !g.Running || g.LastError != "" || g.LastRefresh.IsZero() {
		t.Errorf("glusterd %+v", g)
	}

	// One `volume status all`, no status of single volumes, and glusterd's
	// identity only on the first full read.
	e.all()
	e.waitIdle()
	for call, n := range map[string]int{infoCall(""): 2, statusCall(""): 2, peersCall: 2, uuidCall: 1, opVersionCall: 1, versionCall: 1} {
		if got := e.src.count(call); got != n {
			t.Errorf("%s called %d times, want %d", call, got, n)
		}
	}
	if got := e.src.counts("VolumeStatusDetail("); len(got) != 1 {
		t.Errorf("status calls %v, want only the one of all volumes", got)
	}
	if got := e.src.counts("VolumeInfo("); len(got) != 1 {
		t.Errorf("info calls %v, want only the one of all volumes", got)
	}
}

func TestKilledBrickIsOffline(t *testing.T) {
	check := func(t *testing.T, e *env) {
		t.Helper()
		v := e.volume("rep3")
		for i := range v.Bricks {
			b := &v.Bricks[i]
			if b.Host == host2 {
				if !offline(b) || b.SizeTotal == 0 {
					t.Errorf("killed brick %s: %+v", b.Name(), *b)
				}
			} else if !online(b) {
				t.Errorf("brick %s: %+v", b.Name(), *b)
			}
		}
		if v.Health() != state.HealthDegraded || v.OnlineBrickCount() != 2 {
			t.Errorf("rep3: health %s, %d bricks online", v.Health(), v.OnlineBrickCount())
		}
		if h := e.health("distrep"); h != state.HealthUp {
			t.Errorf("distrep: health %s", h)
		}
	}
	t.Run("full read", func(t *testing.T) {
		e := newEnv(t, Options{RemoteBrickStatus: true})
		e.all()
		e.src.setVolumeStatus("rep3", "volume-status-rep3-brick-killed-detail.xml")
		e.all()
		check(t, e)
	})
	t.Run("runtime trigger", func(t *testing.T) {
		e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
		e.all()
		e.src.setVolumeStatus("rep3", "volume-status-rep3-brick-killed-detail.xml")
		e.r.TriggerRuntime("rep3")
		waitFor(t, "rep3 degraded", func() bool { return e.health("rep3") == state.HealthDegraded })
		e.waitIdle()
		check(t, e)
		if n := e.src.count(statusCall("rep3")); n != 1 {
			t.Errorf("rep3's status read %d times", n)
		}
	})
}

func checkNode3Down(t *testing.T, e *env) {
	t.Helper()
	if p := e.peer(node3); p.Connected || p.State != "Peer in Cluster" {
		t.Errorf("node 3: %+v", p)
	}
	if p := e.peer(node2); !p.Connected {
		t.Errorf("node 2: %+v", p)
	}
	// Node 3's bricks may run still: nothing can tell, so they are
	// unknown, and no volume is worse than unknown for them.
	health := map[string]string{
		"arb": state.HealthUnknown, "disp": state.HealthUnknown, "dist": state.HealthUnknown,
		"distdisp": state.HealthUnknown, "distrep": state.HealthUnknown, "rep3": state.HealthUnknown,
		"opts": state.HealthUp, "created": state.HealthStopped, "stopped": state.HealthStopped,
	}
	for name, h := range health {
		v := e.volume(name)
		if v.Health() != h {
			t.Errorf("%s: health %s, want %s", name, v.Health(), h)
		}
		for i := range v.Bricks {
			b := &v.Bricks[i]
			switch {
			case v.Status != "Started":
				if !offline(b) || b.State() != state.BrickStateOffline {
					t.Errorf("%s: brick %s: %+v", name, b.Name(), *b)
				}
			case b.Host == host3:
				if b.State() != state.BrickStateUnknown || b.Online || b.Pid != -1 {
					t.Errorf("%s: brick %s on the disconnected node: %+v, want unknown", name, b.Name(), *b)
				}
			case !online(b):
				t.Errorf("%s: brick %s: %+v", name, b.Name(), *b)
			}
		}
	}
}

// remoteBricks are the volume's bricks on other nodes than this one, which
// only `volume status` reads.
func remoteBricks(v state.Volume) []state.Brick {
	var out []state.Brick
	for _, b := range v.Bricks {
		if b.HostUUID != node1 {
			out = append(out, b)
		}
	}
	return out
}

func TestNode3Down(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true})
	e.all()
	e.src.set("", "volume-status-all-detail-node3-down.xml", "peer-status-node3-down.xml")
	e.all()
	checkNode3Down(t, e)

	// What node 2 says of rep3 meanwhile changes nothing.
	e.rec.take()
	e.src.set("volume-info-rep3-node3-down.xml", "", "")
	if err := e.r.Volume(e.ctx, "rep3"); err != nil {
		t.Fatal(err)
	}
	checkNode3Down(t, e)
	if c := e.rec.take(); len(c) != 0 {
		t.Errorf("changes %+v", c)
	}
}

func TestTriggersCoalesce(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour})
	e.all()
	h := e.src.hold(infoCall("rep3"))
	e.r.TriggerVolume("rep3")
	entered(t, h, "volume info rep3")

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { e.r.TriggerVolume("rep3") })
	}
	wg.Wait()
	e.src.unhold(infoCall("rep3"))
	release(t, h, "volume info rep3")
	e.waitIdle()
	if n := e.src.count(infoCall("rep3")); n != 2 {
		t.Errorf("volume info rep3 called %d times, want 2", n)
	}
}

func TestVolumeWaitsForALaterRead(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour})
	e.all()
	h := e.src.hold(infoCall("rep3"))
	e.r.TriggerVolume("rep3")
	entered(t, h, "volume info rep3, first")

	done := make(chan error, 1)
	go func() { done <- e.r.Volume(e.ctx, "rep3") }()
	waitFor(t, "Volume waiting", func() bool { return e.flightWaits(volPrefix+"rep3", wantConfig, 1) })
	release(t, h, "volume info rep3, first")
	entered(t, h, "volume info rep3, second")
	select {
	case err := <-done:
		t.Fatalf("Volume returned (%v) before the read after its call ended", err)
	default:
	}
	release(t, h, "volume info rep3, second")
	if err := recvErr(t, done, "Volume"); err != nil {
		t.Fatal(err)
	}
	if n := e.src.count(infoCall("rep3")); n != 2 {
		t.Errorf("volume info rep3 called %d times, want 2", n)
	}
}

func TestVolumesAreReadSideBySide(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, Concurrency: 2, QuietPeriod: time.Hour})
	e.all()
	rep3 := e.src.hold(infoCall("rep3"))
	e.r.TriggerVolume("rep3")
	entered(t, rep3, "volume info rep3")

	ctx, cancel := context.WithTimeout(e.ctx, patience)
	defer cancel()
	if err := e.r.Volume(ctx, "dist"); err != nil {
		t.Fatalf("Volume(dist) while rep3 is read: %v", err)
	}

	arb := e.src.hold(infoCall("arb"))
	e.r.TriggerVolume("arb")
	entered(t, arb, "volume info arb")
	done := make(chan error, 1)
	go func() { done <- e.r.Volume(ctx, "disp") }()
	waitFor(t, "a read of disp", func() bool { return e.flightWaits(volPrefix+"disp", 0, 0) })
	stays(t, "no third CLI call at once", func() bool { return e.src.count(infoCall("disp")) == 0 })

	release(t, rep3, "volume info rep3")
	if err := recvErr(t, done, "Volume(disp)"); err != nil {
		t.Fatal(err)
	}
	release(t, arb, "volume info arb")
	e.waitIdle()
	if n := e.src.maxRunning(); n != 2 {
		t.Errorf("%d CLI calls at once, want 2", n)
	}
}

func TestRuntimeWaitsUntilQuiet(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
	e.all()
	if err := e.r.Volume(e.ctx, "rep3"); err != nil {
		t.Fatal(err)
	}
	stays(t, "no volume status before the quiet period", func() bool { return e.src.count(statusCall("rep3")) == 0 })
	e.clock.Advance(quiet)
	waitFor(t, "volume status rep3", func() bool { return e.src.count(statusCall("rep3")) == 1 })
	stays(t, "one volume status", func() bool { return e.src.count(statusCall("rep3")) == 1 })
	if n := e.src.count(statusCall("")); n != 1 {
		t.Errorf("volume status all called %d times", n)
	}
}

func TestTriggersPostponeRuntime(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
	e.all()
	if err := e.r.Volume(e.ctx, "rep3"); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		e.clock.Advance(quiet * 3 / 4)
		e.r.TriggerVolume("rep3")
		e.waitIdle()
		time.Sleep(quiet) // let the timers look
		if n := e.src.count(statusCall("rep3")); n != 0 {
			t.Fatalf("volume status rep3 called %d times while the volume is busy", n)
		}
	}
	e.clock.Advance(quiet)
	waitFor(t, "volume status rep3", func() bool { return e.src.count(statusCall("rep3")) == 1 })
	stays(t, "one volume status", func() bool { return e.src.count(statusCall("rep3")) == 1 })
}

func TestFullReadSparesBusyVolume(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
	e.all()
	before := e.volume("rep3")
	e.r.TriggerVolume("rep3")
	e.waitIdle()
	e.src.setVolumeStatus("rep3", "volume-status-rep3-brick-killed-detail.xml")
	e.all()

	if n := e.src.count(statusCall("")); n != 1 {
		t.Errorf("volume status all called %d times, want only by the first full read", n)
	}
	for _, name := range allVolumes {
		want := 0
		if name != "rep3" && name != "created" && name != "stopped" {
			want = 1
		}
		if n := e.src.count(statusCall(name)); n != want {
			t.Errorf("volume status %s called %d times, want %d", name, n, want)
		}
	}
	// This node's own bricks are read lock-free (get-state) even while the
	// volume is busy; the others wait for its `volume status`.
	if got := e.volume("rep3"); !reflect.DeepEqual(remoteBricks(got), remoteBricks(before)) {
		t.Errorf("rep3's bricks changed without a read:\n%+v\n%+v", got.Bricks, before.Bricks)
	}

	// Once quiet, its runtime is read.
	e.clock.Advance(quiet)
	waitFor(t, "rep3 degraded", func() bool { return e.health("rep3") == state.HealthDegraded })
}

// An admin command marked busy meets no `volume status` of its volume: Busy
// waits for the one running, none starts until done, and the runtime is
// read once the volume is quiet after it.
func TestBusyKeepsStatusAway(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
	e.all()
	h := e.src.hold(statusCall("rep3"))
	e.r.TriggerRuntime("rep3")
	entered(t, h, "volume status rep3")

	type busy struct {
		done func()
		err  error
	}
	marked := make(chan busy, 1)
	go func() {
		done, err := e.r.Busy(e.ctx, "rep3")
		marked <- busy{done, err}
	}()
	stays(t, "Busy waits for the running volume status", func() bool { return len(marked) == 0 })
	release(t, h, "volume status rep3")
	e.src.unhold(statusCall("rep3"))
	var b busy
	select {
	case b = <-marked:
	case <-time.After(patience):
		t.Fatal("Busy did not return once volume status ended")
	}
	if b.err != nil {
		t.Fatal(b.err)
	}

	// Long quiet by the clock, but busy: no volume status of it, nor of
	// every volume.
	e.clock.Advance(10 * quiet)
	e.r.TriggerRuntime("rep3")
	e.all()
	e.r.TriggerRuntime("rep3")
	stays(t, "no volume status of a busy volume", func() bool {
		return e.src.count(statusCall("rep3")) == 1 && e.src.count(statusCall("")) == 1
	})
	if n := e.src.count(statusCall("dist")); n != 1 {
		t.Errorf("volume status dist called %d times beside a busy volume, want 1", n)
	}

	b.done()
	b.done() // twice is once
	stays(t, "no volume status within the quiet period after done", func() bool { return e.src.count(statusCall("rep3")) == 1 })
	e.clock.Advance(quiet)
	waitFor(t, "volume status rep3 once quiet", func() bool { return e.src.count(statusCall("rep3")) == 2 })
	e.r.mu.Lock()
	left := len(e.r.busy)
	e.r.mu.Unlock()
	if left != 0 {
		t.Errorf("%d volumes still busy", left)
	}
}

// Busy waits for a running `volume status` of every volume too.
func TestBusyWaitsForStatusAll(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
	h := e.src.hold(statusCall(""))
	e.r.TriggerAll()
	entered(t, h, "volume status all")
	ctx, cancel := context.WithTimeout(e.ctx, 3*quiet)
	defer cancel()
	if _, err := e.r.Busy(ctx, "rep3"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Busy during volume status all = %v, want it to wait until its context ends", err)
	}
	release(t, h, "volume status all")
	done, err := e.r.Busy(e.ctx, "rep3")
	if err != nil {
		t.Fatal(err)
	}
	done()
}

func TestLockedStatusKeepsRuntime(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
	e.all()
	before := e.volume("rep3")
	e.src.setVolumeStatus("rep3", "volume-status-rep3-brick-killed-detail.xml")

	// A full read: `volume status all` is locked.
	e.src.fail(statusCall(""), lockErr("all"))
	e.all()
	if got := e.volume("rep3"); !reflect.DeepEqual(remoteBricks(got), remoteBricks(before)) {
		t.Errorf("rep3 changed although its status was not read:\n%+v\n%+v", got, before)
	}

	// A runtime read: `volume status rep3` is locked, and tried again
	// later.
	h := e.src.hold(statusCall("rep3"))
	e.src.fail(statusCall("rep3"), lockErr("rep3"))
	e.r.TriggerRuntime("rep3")
	entered(t, h, "volume status rep3, first")
	first := time.Now()
	release(t, h, "volume status rep3, first")
	entered(t, h, "volume status rep3, again")
	if d := time.Since(first); d < quiet {
		t.Errorf("volume status tried again after %v, before the quiet period", d)
	}
	if got := e.volume("rep3"); !reflect.DeepEqual(remoteBricks(got), remoteBricks(before)) {
		t.Errorf("rep3 changed although its status was locked:\n%+v\n%+v", got, before)
	}
	release(t, h, "volume status rep3, again")
	waitFor(t, "rep3 degraded", func() bool { return e.health("rep3") == state.HealthDegraded })
	if g := e.model.Glusterd(); !g.Running || g.LastError != "" {
		t.Errorf("a locked volume is no glusterd failure: %+v", g)
	}
}

func TestVolumeGone(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour})
	e.all()

	err := e.r.Volume(e.ctx, "missing")
	if !errors.Is(err, gluster.ErrNoVolume) {
		t.Errorf("Volume(missing) = %v, want ErrNoVolume", err)
	}

	e.rec.take()
	e.src.set("volume-info-none.xml", "volume-status-none-detail.xml", "")
	if err := e.r.Volume(e.ctx, "rep3"); err != nil {
		t.Fatalf("Volume(rep3) of a deleted volume: %v", err)
	}
	if _, ok := e.model.Volume("rep3"); ok {
		t.Error("deleted rep3 still in the model")
	}
	if n := len(e.model.VolumeNames()); n != len(allVolumes)-1 {
		t.Errorf("%d volumes left, want %d", n, len(allVolumes)-1)
	}
	var removed []string
	for _, c := range e.rec.take() {
		if c.Type == state.Removed {
			removed = append(removed, c.Ref.Kind.String()+" "+c.Ref.Key[strings.LastIndexByte(c.Ref.Key, '/')+1:])
		} else if c.Ref.Kind != state.KindManager {
			t.Errorf("unexpected change %v %v", c.Type, c.Ref)
		}
	}
	if want := []string{"volume rep3", "brick rep3", "brick rep3", "brick rep3"}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}

	err = e.r.Volume(e.ctx, "rep3")
	if !errors.Is(err, gluster.ErrNoVolume) {
		t.Errorf("Volume(rep3) once gone = %v, want ErrNoVolume", err)
	}
	if c := e.rec.take(); len(c) != 0 {
		t.Errorf("changes %+v", c)
	}
}

func TestGlusterdDown(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour})
	e.all()
	vols := map[string]state.Volume{}
	for _, n := range allVolumes {
		vols[n] = e.volume(n)
	}
	peers := e.model.Peers()
	same := func() {
		t.Helper()
		for _, n := range allVolumes {
			if got := e.volume(n); !reflect.DeepEqual(got, vols[n]) {
				t.Errorf("%s changed: %+v", n, got)
			}
		}
		if n := len(e.model.VolumeNames()); n != len(allVolumes) {
			t.Errorf("%d volumes", n)
		}
		if got := e.model.Peers(); !reflect.DeepEqual(got, peers) {
			t.Errorf("peers changed: %+v", got)
		}
	}

	e.src.failAll(noGlusterdErr)
	if err := e.r.All(e.ctx); !errors.Is(err, gluster.ErrNoGlusterd) {
		t.Fatalf("All = %v, want ErrNoGlusterd", err)
	}
	same()
	g := e.model.Glusterd()
	if g.Running || !strings.Contains(g.LastError, "Connection failed") || g.UUID != node1 {
		t.Errorf("glusterd %+v", g)
	}
	if err := e.r.Volume(e.ctx, "rep3"); !errors.Is(err, gluster.ErrNoGlusterd) {
		t.Fatalf("Volume = %v, want ErrNoGlusterd", err)
	}
	same()

	// Back: what the daemon could not see meanwhile is unknown until read.
	// rep3 was named by a trigger, so its `volume status` waits for the
	// quiet period; this node's bricks are read lock-free.
	e.src.failAll(nil)
	e.all()
	rep3 := e.volume("rep3")
	for _, b := range remoteBricks(rep3) {
		if b.State() != state.BrickStateUnknown {
			t.Errorf("rep3's brick %s after glusterd came back: %+v, want unknown", b.Name(), b)
		}
	}
	vols["rep3"] = rep3
	same()
	g = e.model.Glusterd()
	if !g.Running || g.LastError != "" || g.UUID != node1 || g.OpVersion != 100000 || g.Version != "10.3" {
		t.Errorf("glusterd %+v", g)
	}
	// glusterd may have been upgraded meanwhile.
	if n := e.src.count(opVersionCall); n != 2 {
		t.Errorf("op-version read %d times, want 2", n)
	}
}

// Running is false only when the CLI could not reach glusterd; a glusterd
// that hangs (the CLI cut off at its timeout) shows as LastError alone.
func TestRunningOnlyWhenUnreachable(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour})
	e.all()
	hung := fmt.Errorf("gluster volume info all: killed: %w", context.DeadlineExceeded)
	fails := func(err error) state.Glusterd {
		t.Helper()
		e.src.failAll(err)
		if got := e.r.All(e.ctx); !errors.Is(got, err) && !errors.Is(got, gluster.ErrNoGlusterd) {
			t.Fatalf("All = %v, want %v", got, err)
		}
		return e.model.Glusterd()
	}
	if g := fails(hung); !g.Running || !strings.Contains(g.LastError, "killed") {
		t.Errorf("hung glusterd: Running %v, LastError %q; want true and the timeout", g.Running, g.LastError)
	}
	if g := fails(noGlusterdErr); g.Running || !strings.Contains(g.LastError, "Connection failed") {
		t.Errorf("glusterd down: Running %v, LastError %q", g.Running, g.LastError)
	}
	if g := fails(hung); g.Running || !strings.Contains(g.LastError, "killed") {
		t.Errorf("glusterd down, then hung: Running %v, LastError %q; want false kept", g.Running, g.LastError)
	}
	e.src.failAll(nil)
	e.all()
	if g := e.model.Glusterd(); !g.Running || g.LastError != "" {
		t.Errorf("after a full read: %+v", g)
	}
}

// glusterd.service's state is read when glusterd stops answering too, not
// only after reads that succeed.
func TestGlusterdUnitStateOnFailure(t *testing.T) {
	var mu sync.Mutex
	active := "active"
	setActive := func(s string) { mu.Lock(); active = s; mu.Unlock() }
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour, GlusterdUnit: func(context.Context) (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return "loaded", active
	}})
	e.all()
	if g := e.model.Glusterd(); g.LoadState != "loaded" || g.ActiveState != "active" {
		t.Fatalf("glusterd %+v", g)
	}

	setActive("inactive")
	e.src.failAll(noGlusterdErr)
	if err := e.r.All(e.ctx); !errors.Is(err, gluster.ErrNoGlusterd) {
		t.Fatalf("All = %v, want ErrNoGlusterd", err)
	}
	if g := e.model.Glusterd(); g.Running || g.ActiveState != "inactive" {
		t.Errorf("after a failed full read: Running %v, ActiveState %q; want false, inactive", g.Running, g.ActiveState)
	}

	setActive("failed")
	if err := e.r.Volume(e.ctx, "rep3"); !errors.Is(err, gluster.ErrNoGlusterd) {
		t.Fatalf("Volume = %v, want ErrNoGlusterd", err)
	}
	if g := e.model.Glusterd(); g.ActiveState != "failed" {
		t.Errorf("after a failed targeted read: ActiveState %q, want failed", g.ActiveState)
	}

	setActive("active")
	e.src.failAll(nil)
	e.all()
	if g := e.model.Glusterd(); !g.Running || g.ActiveState != "active" {
		t.Errorf("after recovery: %+v", g)
	}
}

func TestPeerDisconnects(t *testing.T) {
	// Room for every held `volume status` at once.
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet, Concurrency: len(startedWithNode3) + 1})
	e.all()
	holds := map[string]*hold{}
	for _, n := range startedWithNode3 {
		holds[n] = e.src.hold(statusCall(n))
	}

	e.src.set("", "volume-status-all-detail-node3-down.xml", "peer-status-node3-down.xml")
	e.r.TriggerPeers()
	waitFor(t, "node 3 disconnected", func() bool { return !e.peer(node3).Connected })
	waitFor(t, "peers read", func() bool {
		e.r.mu.Lock()
		defer e.r.mu.Unlock()
		return e.r.flights[keyPeers] == nil
	})
	// The bricks went offline without any `volume status`: those are held.
	checkNode3Down(t, e)

	// Their volumes' runtime is read then.
	for _, n := range startedWithNode3 {
		entered(t, holds[n], "volume status "+n)
		e.src.unhold(statusCall(n))
		release(t, holds[n], "volume status "+n)
	}
	e.waitIdle()
	checkNode3Down(t, e)

	// Back: the bricks come online with the next runtime read.
	e.src.set("", "volume-status-all-detail.xml", "peer-status.xml")
	e.r.TriggerPeers()
	waitFor(t, "every brick online", func() bool {
		for _, n := range startedWithNode3 {
			if e.health(n) != state.HealthUp {
				return false
			}
		}
		return true
	})
	e.waitIdle()
	for _, n := range startedWithNode3 {
		if c := e.src.count(statusCall(n)); c != 2 {
			t.Errorf("volume status %s called %d times, want 2", n, c)
		}
	}
	if c := e.src.count(statusCall("opts")); c != 0 {
		t.Errorf("volume status opts called %d times; no brick of it is on node 3", c)
	}
}

func TestFullReadKeepsNewerTargetedRead(t *testing.T) {
	t.Run("removed", func(t *testing.T) {
		e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour})
		e.all()
		h := e.src.hold(infoCall(""))
		done := make(chan error, 1)
		go func() { done <- e.r.All(e.ctx) }()
		entered(t, h, "volume info all") // it sees rep3
		e.src.unhold(infoCall(""))
		e.src.set("volume-info-none.xml", "", "")
		if err := e.r.Volume(e.ctx, "rep3"); err != nil {
			t.Fatal(err)
		}
		release(t, h, "volume info all")
		if err := recvErr(t, done, "All"); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.model.Volume("rep3"); ok {
			t.Error("a full read that began before rep3 was found gone brought it back")
		}
		if n := len(e.model.VolumeNames()); n != len(allVolumes)-1 {
			t.Errorf("%d volumes, want %d", n, len(allVolumes)-1)
		}
	})
	t.Run("runtime", func(t *testing.T) {
		e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
		e.all()
		h := e.src.hold(statusCall(""))
		done := make(chan error, 1)
		go func() { done <- e.r.All(e.ctx) }()
		entered(t, h, "volume status all") // every brick online
		e.src.unhold(statusCall(""))
		e.src.setVolumeStatus("rep3", "volume-status-rep3-brick-killed-detail.xml")
		e.r.TriggerRuntime("rep3")
		waitFor(t, "rep3 degraded", func() bool { return e.health("rep3") == state.HealthDegraded })
		release(t, h, "volume status all")
		if err := recvErr(t, done, "All"); err != nil {
			t.Fatal(err)
		}
		if h := e.health("rep3"); h != state.HealthDegraded {
			t.Errorf("rep3 %s: a full read that began before its runtime was read overwrote it", h)
		}

		// A full read that begins later is newer (Reload: the periodic one
		// would space out `volume status all` after the slow one above).
		e.src.clearVolumeStatus("rep3")
		if err := e.r.Reload(e.ctx); err != nil {
			t.Fatal(err)
		}
		if h := e.health("rep3"); h != state.HealthUp {
			t.Errorf("rep3 %s after a later full read", h)
		}
	})
}

// A targeted read that reaches the model after a full read that ended
// meanwhile must not put back what it saw before that full read.
func TestTargetedReadKeepsNewerFullRead(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
	e.all()
	info := e.src.hold(infoCall("rep3"))
	// A runtime read that follows must not hide the outcome: it is held
	// until the test ends.
	e.src.hold(statusCall("rep3"))
	done := make(chan error, 1)
	go func() { done <- e.r.Volume(e.ctx, "rep3") }()
	entered(t, info, "volume info rep3")

	e.clock.Advance(quiet) // rep3 is quiet: the full read reads its status
	e.src.setVolumeStatus("rep3", "volume-status-rep3-brick-killed-detail.xml")
	e.all()
	if h := e.health("rep3"); h != state.HealthDegraded {
		t.Fatalf("rep3 %s after the full read", h)
	}
	release(t, info, "volume info rep3")
	if err := recvErr(t, done, "Volume"); err != nil {
		t.Fatal(err)
	}
	if h := e.health("rep3"); h != state.HealthDegraded {
		t.Errorf("rep3 %s: the targeted read put back the runtime it knew before the full read", h)
	}
}

// A runtime read asked for while the volume was quiet does not run
// `volume status` if the volume became busy before the read's turn came.
func TestQueuedRuntimeReadWaitsForQuiet(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
	e.all()
	h := e.src.hold(infoCall("rep3"))
	e.r.TriggerVolume("rep3")
	entered(t, h, "volume info rep3")

	e.clock.Advance(quiet)
	e.r.TriggerRuntime("rep3") // quiet now: asked for at once, waits behind the read
	waitFor(t, "a runtime read waiting", func() bool { return e.flightWaits(volPrefix+"rep3", wantRuntime, 1) })
	e.r.TriggerVolume("rep3") // busy again
	e.src.unhold(infoCall("rep3"))
	release(t, h, "volume info rep3")
	e.waitIdle()
	stays(t, "no volume status on the busy volume", func() bool { return e.src.count(statusCall("rep3")) == 0 })

	e.clock.Advance(quiet)
	waitFor(t, "volume status rep3", func() bool { return e.src.count(statusCall("rep3")) == 1 })
}

func TestIdentity(t *testing.T) {
	t.Run("read once", func(t *testing.T) {
		e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour})
		e.r.RefreshIdentity()
		e.all()
		e.all()
		if n := e.src.count(uuidCall); n != 1 {
			t.Errorf("identity read %d times, want once", n)
		}
		e.r.RefreshIdentity()
		e.all()
		e.all()
		if n := e.src.count(uuidCall); n != 2 {
			t.Errorf("identity read %d times, want twice", n)
		}
	})
	t.Run("trigger", func(t *testing.T) {
		e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour})
		e.all()
		e.r.TriggerIdentity()
		waitFor(t, "op-version read again", func() bool { return e.src.count(opVersionCall) == 2 })
		e.waitIdle()
		if n := e.src.count(infoCall("")); n != 2 {
			t.Errorf("%d full reads, want 2", n)
		}
	})
	t.Run("request outlives a failure", func(t *testing.T) {
		e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour})
		e.all()
		e.r.RefreshIdentity()
		e.src.fail(opVersionCall, &gluster.CLIError{Op: "volume get all cluster.op-version", ExitCode: 1, Message: "timed out"})
		e.all()
		if g := e.model.Glusterd(); !strings.Contains(g.LastError, "timed out") {
			t.Errorf("glusterd %+v: the failure is not in LastError", g)
		}
		e.all()
		if n := e.src.count(opVersionCall); n != 3 {
			t.Errorf("op-version read %d times, want 3: the request for it was lost", n)
		}
		if g := e.model.Glusterd(); g.LastError != "" || g.OpVersion != 100000 {
			t.Errorf("glusterd %+v", g)
		}
	})
}

func TestNoChangeNoEvents(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
	e.all()
	if c := e.rec.take(); len(c) == 0 {
		t.Fatal("the first full read recorded nothing")
	}

	e.clock.Advance(time.Second)
	e.all()
	c := e.rec.take()
	if len(c) != 1 || c[0].Ref.Kind != state.KindGlusterd || len(c[0].Props) != 1 || c[0].Props[0].Name != "LastRefresh" {
		t.Errorf("a full read that found nothing new recorded %+v", c)
	}

	if err := e.r.Volume(e.ctx, "rep3"); err != nil {
		t.Fatal(err)
	}
	e.r.TriggerPeers()
	e.r.TriggerRuntime("dist")
	e.r.TriggerVolume("created")
	e.waitIdle()
	e.clock.Advance(quiet)
	waitFor(t, "volume status rep3", func() bool { return e.src.count(statusCall("rep3")) == 1 })
	waitFor(t, "volume status dist", func() bool { return e.src.count(statusCall("dist")) == 1 })
	e.waitIdle()
	if c := e.rec.take(); len(c) != 0 {
		t.Errorf("reads that found nothing new recorded %+v", c)
	}
}

func TestRunReconciles(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true})
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { e.r.Run(ctx, 5*time.Millisecond); close(done) }()
	waitFor(t, "two full reads", func() bool { return e.src.count(infoCall("")) >= 2 })
	cancel()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("Run did not return")
	}
	e.waitIdle()
	if _, ok := e.model.Volume("rep3"); !ok {
		t.Error("rep3 not read")
	}
}

// However many full reads are asked for, by Run and by callers, one runs at
// a time: while one is in its `volume info` or `peer status`, no other
// has begun.
func TestReconcilesNeverOverlap(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour})
	info, peers := e.src.hold(infoCall("")), e.src.hold(peersCall)
	ctx, cancel := context.WithCancel(e.ctx)
	ran := make(chan struct{})
	go func() { e.r.Run(ctx, time.Millisecond); close(ran) }()
	var callers sync.WaitGroup
	for range 20 {
		callers.Go(func() { e.r.All(ctx) })
		e.r.TriggerAll()
	}
	for round := range 3 {
		entered(t, info, fmt.Sprintf("volume info all, read %d", round))
		stays(t, "no second full read during volume info all", func() bool { return len(info.entered) == 0 })
		release(t, info, "volume info all")
		entered(t, peers, fmt.Sprintf("peer status, read %d", round))
		stays(t, "no second full read during peer status", func() bool { return len(info.entered) == 0 })
		release(t, peers, "peer status")
	}

	cancel()
	<-ran
	callers.Wait()
	e.src.unhold(infoCall(""))
	e.src.unhold(peersCall)
	waitFor(t, "the last full read", func() bool {
		select {
		case info.release <- struct{}{}:
		case peers.release <- struct{}{}:
		default:
		}
		return e.idle()
	})
	if n := e.src.maxSameRunning(); n != 1 {
		t.Errorf("%d calls of one name at once, want 1: full reads overlapped", n)
	}
}

// A targeted read does not wait for a full read that is running, in any of
// its CLI calls, when a CLI process may still start.
func TestTargetedReadBesideFullRead(t *testing.T) {
	for _, held := range []string{infoCall(""), peersCall, statusCall("")} {
		t.Run(held, func(t *testing.T) {
			e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Hour, Concurrency: 2})
			e.all()
			e.clock.Advance(time.Second) // volume status all is due again
			h := e.src.hold(held)
			e.r.TriggerAll()
			entered(t, h, held)
			ctx, cancel := context.WithTimeout(e.ctx, patience)
			defer cancel()
			if err := e.r.Volume(ctx, "rep3"); err != nil {
				t.Fatalf("Volume(rep3) while a full read waits for %s: %v", held, err)
			}
			if n := e.src.count(infoCall("rep3")); n != 1 {
				t.Errorf("volume info rep3 called %d times, want 1", n)
			}
			e.src.unhold(held)
			release(t, h, held)
			e.waitIdle()
		})
	}
}

// What is kept per volume does not outlive the volume, nor a trigger its
// quiet period.
func TestFullReadForgetsVolumesGone(t *testing.T) {
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: quiet})
	e.all()
	for _, n := range allVolumes {
		e.r.TriggerVolume(n)
	}
	e.r.TriggerVolume("never-was")
	e.waitIdle()
	e.clock.Advance(quiet)
	waitFor(t, "the runtime reads after the triggers", func() bool {
		return len(e.src.counts("VolumeStatusDetail(")) == 8 // all, and the 7 started volumes
	})
	e.waitIdle()
	e.src.set("volume-info-none.xml", "volume-status-none-detail.xml", "")
	e.all()
	if n := len(e.model.VolumeNames()); n != 0 {
		t.Errorf("%d volumes left", n)
	}
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if len(e.r.activity) != 0 || len(e.r.runtimeRead) != 0 {
		t.Errorf("kept: activity %v, runtime read %v", e.r.activity, e.r.runtimeRead)
	}
}

// TestStatusAllDutyCycle: `volume status all` holds each volume's lock in
// turn, so full reads run it at most a fifth of the time; Reload always does.
func TestStatusAllDutyCycle(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnv(t, Options{RemoteBrickStatus: true, QuietPeriod: time.Millisecond, Now: clock})
	e.all()
	if c := e.src.count(statusCall("")); c != 1 {
		t.Fatalf("first full read: volume status all called %d times", c)
	}
	// The call took no time on this clock: pretend it took 10s.
	e.r.mu.Lock()
	e.r.runtimeAllNext = now.Add(40 * time.Second)
	e.r.mu.Unlock()
	advance(10 * time.Second)
	e.all()
	if c := e.src.count(statusCall("")); c != 1 {
		t.Fatalf("a full read 10s after a 10s status read ran it again (%d calls)", c)
	}
	if err := e.r.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	if c := e.src.count(statusCall("")); c != 2 {
		t.Fatalf("Reload did not read the runtime (%d calls)", c)
	}
	advance(time.Minute)
	e.all()
	if c := e.src.count(statusCall("")); c != 3 {
		t.Fatalf("a full read once due did not read the runtime (%d calls)", c)
	}
}

func TestReconcileWait(t *testing.T) {
	const interval = 10 * time.Second
	for _, c := range []struct {
		name  string
		spent time.Duration
		err   error
		want  time.Duration
	}{
		{"cheap", time.Millisecond, nil, interval},
		{"costly: 200 times its CPU", 100 * time.Millisecond, nil, 20 * time.Second},
		{"capped at six intervals", 2 * time.Second, nil, 6 * interval},
		{"failed: retried after one interval", 2 * time.Second, errors.New("no glusterd"), interval},
	} {
		if got := reconcileWait(interval, c.spent, c.err); got != c.want {
			t.Errorf("%s: reconcileWait = %v, want %v", c.name, got, c.want)
		}
	}
}
