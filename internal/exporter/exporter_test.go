package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/api"
	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

type fixture struct {
	exp    *Exporter
	model  *state.Model
	client *dbus.Conn
	addr   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	addr := testbus.Start(t)
	exp := New(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	conn, err := exp.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	runSignals(t, exp)
	if err := exp.Claim(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	client, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &fixture{exp: exp, model: state.NewModel(exp), client: client, addr: addr}
}

// runSignals runs the exporter's signal writer until the test ends.
func runSignals(t testing.TB, exp *Exporter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { exp.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func volume(name string, online ...bool) *state.Volume {
	v := &state.Volume{Name: name, ID: "0000-" + name, Status: "Started", Type: "Replicate",
		ReplicaCount: uint32(len(online)), BrickCount: uint32(len(online)), DistCount: 1, Transport: "tcp",
		Options: map[string]string{"nfs.disable": "on"}}
	for i, up := range online {
		v.Bricks = append(v.Bricks, state.Brick{Host: fmt.Sprintf("127.1.1.%d", i+1), Path: "/bricks/" + name, Online: up, Pid: -1})
	}
	return v
}

func (f *fixture) managed(t *testing.T) map[dbus.ObjectPath]map[string]map[string]dbus.Variant {
	t.Helper()
	// The reply's body as decoded, not Store()d: Store rebuilds variants and
	// loses the wire signature of struct values.
	call := f.client.Object(BusName, RootPath).Call(objectManagerInterface+".GetManagedObjects", 0)
	if call.Err != nil {
		t.Fatal(call.Err)
	}
	out, ok := call.Body[0].(map[dbus.ObjectPath]map[string]map[string]dbus.Variant)
	if !ok {
		t.Fatalf("GetManagedObjects returned %T", call.Body[0])
	}
	return out
}

func (f *fixture) signals(t *testing.T) chan *dbus.Signal {
	t.Helper()
	if err := f.client.AddMatchSignal(dbus.WithMatchSender(BusName)); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *dbus.Signal, 100)
	f.client.Signal(ch)
	return ch
}

func next(t *testing.T, ch chan *dbus.Signal) *dbus.Signal {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(time.Minute):
		t.Fatal("no signal within a minute")
	}
	return nil
}

func noMore(t *testing.T, ch chan *dbus.Signal) {
	t.Helper()
	select {
	case s := <-ch:
		t.Fatalf("unexpected signal %s %s %v", s.Path, s.Name, s.Body)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestObjectsAndSignals(t *testing.T) {
	f := newFixture(t)
	snap := state.NewSnapshot()
	snap.Volumes["gv-0"] = volume("gv-0", true, true, true)
	snap.Peers["u2"] = &state.Peer{UUID: "u2", Hostname: "127.1.1.2", Hostnames: []string{"127.1.1.2"}, Connected: true, State: "Peer in Cluster"}
	snap.Glusterd = state.Glusterd{Running: true, UUID: "u1", Version: "10.3", OpVersion: 100000}
	f.model.SetAll(snap)

	objs := f.managed(t)
	vol := objs[VolumePrefix+"gv_2d0"][VolumeInterface]
	if vol == nil {
		t.Fatalf("volume gv-0 not exported; objects: %v", objs)
	}
	if vol["Name"].Value() != "gv-0" || vol["Health"].Value() != "up" || vol["OnlineBrickCount"].Value() != uint32(3) {
		t.Fatalf("volume properties: %v", vol)
	}
	bricks := vol["Bricks"].Value().([]dbus.ObjectPath)
	if len(bricks) != 3 || objs[bricks[0]][BrickInterface]["Volume"].Value() != VolumePrefix+"gv_2d0" {
		t.Fatalf("bricks: %v", bricks)
	}
	mgr := objs[ManagerPath][ManagerInterface]
	if got := mgr["Volumes"].Value().([]dbus.ObjectPath); len(got) != 1 || got[0] != VolumePrefix+"gv_2d0" {
		t.Fatalf("manager volumes: %v", got)
	}

	waitSignals(f.exp) // the first read's signals are out before listening
	sigs := f.signals(t)
	// A brick goes down: one PropertiesChanged for the volume, one for the
	// brick, each with only what changed.
	f.model.SetVolume("gv-0", volume("gv-0", true, false, true))
	s := next(t, sigs)
	if changed := s.Body[1].(map[string]dbus.Variant); s.Path != VolumePrefix+"gv_2d0" || s.Name != propertiesInterface+".PropertiesChanged" ||
		len(changed) != 2 || changed["Health"].Value() != "degraded" || changed["OnlineBrickCount"].Value() != uint32(2) {
		t.Fatalf("volume change %s %s %v", s.Path, s.Name, s.Body)
	}
	s = next(t, sigs)
	if changed := s.Body[1].(map[string]dbus.Variant); s.Path != bricks[1] || len(changed) != 2 || changed["Online"].Value() != false || changed["State"].Value() != "offline" {
		t.Fatalf("brick change %s %v", s.Path, s.Body)
	}
	// The same state again: nothing.
	f.model.SetVolume("gv-0", volume("gv-0", true, false, true))
	noMore(t, sigs)

	// A new volume: InterfacesAdded for it and its bricks, then the manager.
	f.model.SetVolume("a_b", volume("a_b", true))
	s = next(t, sigs)
	if s.Name != objectManagerInterface+".InterfacesAdded" || s.Body[0].(dbus.ObjectPath) != VolumePrefix+"a_5fb" {
		t.Fatalf("added: %s %v", s.Name, s.Body)
	}
	next(t, sigs) // its brick
	// The manager's list of volumes changes by name only (invalidates).
	managerVolumes := func(want ...dbus.ObjectPath) {
		t.Helper()
		s := next(t, sigs)
		if s.Path != ManagerPath || s.Name != propertiesInterface+".PropertiesChanged" ||
			len(s.Body[1].(map[string]dbus.Variant)) != 0 || !slices.Equal(s.Body[2].([]string), []string{"Volumes"}) {
			t.Fatalf("manager change expected, Volumes invalidated: %s %s %v", s.Path, s.Name, s.Body)
		}
		var got []dbus.ObjectPath
		if err := f.client.Object(BusName, ManagerPath).StoreProperty(ManagerInterface+".Volumes", &got); err != nil || !slices.Equal(got, want) {
			t.Fatalf("Volumes = %v, %v; want %v", got, err, want)
		}
	}
	managerVolumes(VolumePrefix+"a_5fb", VolumePrefix+"gv_2d0")
	// Deleted: manager first, then InterfacesRemoved.
	f.model.SetVolume("a_b", nil)
	managerVolumes(VolumePrefix + "gv_2d0")
	s = next(t, sigs)
	if s.Name != objectManagerInterface+".InterfacesRemoved" || s.Body[0].(dbus.ObjectPath) != VolumePrefix+"a_5fb" {
		t.Fatalf("removed: %s %v", s.Name, s.Body)
	}
	next(t, sigs)
	noMore(t, sigs)

	// LastRefresh changes silently.
	g := snap.Glusterd
	g.LastRefresh = time.Now()
	f.model.SetGlusterd(g)
	noMore(t, sigs)
	var last uint64
	if err := f.client.Object(BusName, GlusterdPath).StoreProperty(GlusterdInterface+".LastRefresh", &last); err != nil || last == 0 {
		t.Fatalf("LastRefresh = %d, %v", last, err)
	}
}

// TestMatchesContract checks every exported object against api/: the same
// property names with the declared types.
func TestMatchesContract(t *testing.T) {
	f := newFixture(t)
	snap := state.NewSnapshot()
	snap.Volumes["v"] = volume("v", true, false)
	snap.Volumes["v"].Tasks = []state.Task{{ID: "t1", Type: "Rebalance", Status: "completed", Figures: map[string]string{"files": "3"}}}
	snap.Volumes["v"].HealInfoTime = time.Unix(1, 0)
	snap.Volumes["v"].Options = map[string]string{"nfs.disable": "on", "features.quota": "on"}
	snap.Volumes["v"].QuotaLimits = []state.QuotaLimit{{Path: "/a", HardLimit: 10, SoftLimit: 8, Used: 9, Available: 1, SoftExceeded: true}}
	snap.Peers["u2"] = &state.Peer{UUID: "u2"}
	snap.Snapshots["s1"] = &state.VolumeSnapshot{Name: "s1", ID: "u1", OriginVolume: "v", Status: "Started"}
	snap.GeoReps = map[string]*state.GeoRepSession{state.GeoRepKey("v", "geo@sec::sv"): {PrimaryVolume: "v",
		Secondary: "geo@sec::sv", SecondaryHost: "sec", SecondaryVolume: "sv", SecondaryUser: "geo",
		Workers: []state.GeoRepWorker{{PrimaryNode: "n1", PrimaryBrick: "/b", Status: "Active", Entry: -1}}}}
	f.model.SetAll(snap)
	ifaces := api.MustInterfaces()
	// Values are sent with api/'s signatures; each Go value must have that
	// signature of its own, or it would be encoded wrongly.
	for _, o := range snap.Objects() {
		decl := ifaces[Interface(o.Ref.Kind)]
		for _, p := range o.Props {
			want := ""
			for _, d := range decl.Properties {
				if d.Name == p.Name {
					want = d.Type
				}
			}
			if got := dbus.SignatureOf(f.exp.toDBus(p.Value)).String(); got != want {
				t.Errorf("%v %s: the model's value has type %s, api declares %q", o.Ref, p.Name, got, want)
			}
		}
	}
	seen := map[string]bool{}
	for path, byIface := range f.managed(t) {
		for name, props := range byIface {
			seen[name] = true
			decl, ok := ifaces[name]
			if !ok {
				t.Fatalf("%s exports undeclared interface %s", path, name)
			}
			if len(props) != len(decl.Properties) {
				t.Errorf("%s %s: %d properties, api declares %d", path, name, len(props), len(decl.Properties))
			}
			for _, p := range decl.Properties {
				v, ok := props[p.Name]
				if !ok {
					t.Errorf("%s: property %s.%s missing", path, name, p.Name)
					continue
				}
				if sig := v.Signature().String(); sig != p.Type {
					t.Errorf("%s: %s.%s has type %s, api declares %s", path, name, p.Name, sig, p.Type)
				}
			}
		}
	}
	for _, name := range []string{ManagerInterface, GlusterdInterface, VolumeInterface, BrickInterface, PeerInterface, SnapshotInterface, GeoRepInterface} {
		if !seen[name] {
			t.Errorf("no object exports %s", name)
		}
	}
}

func TestIntrospectionTree(t *testing.T) {
	gdbus, err := exec.LookPath("gdbus")
	if err != nil {
		testbed.Missing(t, "no gdbus to walk the tree with: %v", err)
	}
	f := newFixture(t)
	snap := state.NewSnapshot()
	snap.Volumes["gv0"] = volume("gv0", true)
	f.model.SetAll(snap)
	for path, want := range map[dbus.ObjectPath][]string{
		"/":                     {`<node name="org">`},
		RootPath:                {`<node name="Manager">`, `<node name="glusterfs">`, objectManagerInterface},
		GlusterPath:             {`<node name="volume">`, `<node name="brick">`, `<node name="daemons">`},
		GlusterPath + "/volume": {`<node name="gv0">`},
		VolumePrefix + "gv0":    {`<interface name="` + VolumeInterface + `">`, `<property name="Health" type="s" access="read">`},
	} {
		var xml string
		if err := f.client.Object(BusName, path).Call(introspectInterface+".Introspect", 0).Store(&xml); err != nil {
			t.Fatalf("introspect %s: %v", path, err)
		}
		for _, w := range want {
			if !strings.Contains(xml, w) {
				t.Errorf("introspection of %s lacks %q:\n%s", path, w, xml)
			}
		}
	}
	// A real client walks the whole tree.
	out, err := exec.Command(gdbus, "introspect", "--address", f.addr, "--dest", BusName, "--object-path", "/", "--recurse").CombinedOutput()
	if err != nil {
		t.Fatalf("gdbus introspect: %v\n%s", err, out)
	}
	for _, w := range []string{"node /org/storaged/Storaged/glusterfs/volume/gv0", "node /org/storaged/Storaged/glusterfs/brick/127_2e1_2e1_2e1_3a_2fbricks_2fgv0", "node /org/storaged/Storaged/Manager"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("gdbus introspect --recurse lacks %q:\n%s", w, out)
		}
	}
	// Removing the last volume removes the empty intermediate node.
	f.model.SetVolume("gv0", nil)
	err = f.client.Object(BusName, GlusterPath+"/volume").Call(introspectInterface+".Introspect", 0).Err
	if err == nil {
		t.Fatal("empty volume node still exists")
	}
}

func TestMethodsAndErrors(t *testing.T) {
	f := newFixture(t)
	var (
		mu     sync.Mutex
		got    []any
		sender dbus.Sender
	)
	f.exp.Handle(ManagerInterface, "RefreshVolume", &Method{
		In: []any{"", map[string]dbus.Variant{}},
		Handle: func(c *Call) ([]any, error) {
			mu.Lock()
			got, sender = c.Args, c.Sender
			mu.Unlock()
			if c.Args[0] == "missing" {
				return nil, Errorf(ErrorNotFound, "no volume %q", c.Args[0])
			}
			if c.Args[0] == "slow" {
				return nil, fmt.Errorf("gluster: %w", context.DeadlineExceeded)
			}
			if c.Args[0] == "broken" {
				return nil, errors.New("gluster said no")
			}
			return nil, nil
		},
	})
	f.model.SetAll(state.NewSnapshot())
	mgr := f.client.Object(BusName, ManagerPath)
	if err := mgr.Call(ManagerInterface+".RefreshVolume", 0, "gv0", map[string]dbus.Variant{}).Err; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	gotArgs, gotSender := got, sender
	mu.Unlock()
	if gotArgs[0] != "gv0" || string(gotSender) != f.client.Names()[0] {
		t.Fatalf("handler saw %v from %s", gotArgs, gotSender)
	}
	for arg, name := range map[string]string{"missing": ErrorNotFound, "slow": ErrorTimedout, "broken": ErrorFailed} {
		err := mgr.Call(ManagerInterface+".RefreshVolume", 0, arg, map[string]dbus.Variant{}).Err
		var de dbus.Error
		if !errors.As(err, &de) || de.Name != name {
			t.Errorf("%s: error %v, want %s", arg, err, name)
		}
	}
	// Wrong argument types are refused, not a crash.
	if err := mgr.Call(ManagerInterface+".RefreshVolume", 0, uint32(7)).Err; err == nil {
		t.Fatal("a call with wrong arguments succeeded")
	}
	// Properties are read-only.
	if err := mgr.Call(propertiesInterface+".Set", 0, ManagerInterface, "Volumes", dbus.MakeVariant([]dbus.ObjectPath{})).Err; err == nil {
		t.Fatal("Set succeeded")
	}
}

// TestConcurrentExportAndIntrospect churns objects while clients introspect
// and list them: the crash godbus's default registry has must not happen.
func TestConcurrentExportAndIntrospect(t *testing.T) {
	f := newFixture(t)
	f.model.SetAll(state.NewSnapshot())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_ = f.client.Object(BusName, GlusterPath+"/volume").Call(introspectInterface+".Introspect", 0).Err
				_ = f.client.Object(BusName, RootPath).Call(objectManagerInterface+".GetManagedObjects", 0).Err
			}
		}()
	}
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("v%d", i%20)
		if i%2 == 0 {
			f.model.SetVolume(name, volume(name, true, true))
		} else {
			f.model.SetVolume(name, nil)
		}
	}
	wg.Wait()
}

// TestUnhandledChecksArguments: a method implemented with other arguments
// than api/ declares counts as unhandled, so the daemon's test of every
// method catches a handler that lags behind the contract.
func TestUnhandledChecksArguments(t *testing.T) {
	exp := New(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	noop := func(*Call) ([]any, error) { return nil, nil }
	exp.Handle(ManagerInterface, "LastSequence", &Method{Handle: noop})
	exp.Handle(ManagerInterface, "GetEvents", &Method{In: []any{uint64(0), uint32(0), map[string]dbus.Variant{}}, Handle: noop})
	u := exp.Unhandled()
	has := func(s string) bool { return slices.Contains(u, s) }
	if !has(ManagerInterface+".LastSequence()") || has(ManagerInterface+".GetEvents") ||
		slices.ContainsFunc(u, func(s string) bool { return strings.HasPrefix(s, ManagerInterface+".GetEvents") }) {
		t.Fatalf("Unhandled = %v", u)
	}
	exp.Handle(ManagerInterface, "LastSequence", &Method{In: []any{map[string]dbus.Variant{}}, Handle: noop})
	if slices.ContainsFunc(exp.Unhandled(), func(s string) bool { return strings.HasPrefix(s, ManagerInterface+".LastSequence") }) {
		t.Fatalf("LastSequence(a{sv}) still unhandled: %v", exp.Unhandled())
	}
}

// TestBricksFollowTheirVolume: bricks are kept by the model's volume they
// were read from. When the volume changes and its bricks do not (no change
// is reported for them), their objects follow the new volume, so the old
// one is let go, and they show what they showed.
func TestBricksFollowTheirVolume(t *testing.T) {
	exp := newTestExporter()
	m := state.NewModel(exp)
	m.SetAll(benchSnapshot(3))
	brick := exp.paths[state.Ref{Kind: state.KindBrick, Key: benchVolume(1).Bricks[2].Name()}]
	before := exp.layoutProps(brick)

	released := make(chan struct{})
	runtime.AddCleanup(m.SharedVolume("vol00001"), func(ch chan struct{}) { close(ch) }, released)
	v := benchVolume(1)
	v.Options["nfs.disable"] = "off"
	changes := m.SetVolume(v.Name, v)
	if len(changes) != 1 || changes[0].Ref.Kind != state.KindVolume {
		t.Fatalf("changes %v, want the volume's only", changes)
	}
	changes = nil
	for deadline := time.Now().Add(30 * time.Second); ; {
		runtime.GC()
		select {
		case <-released:
		case <-time.After(10 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
			t.Fatal("the volume replaced is still held")
		}
		break
	}
	if after := exp.layoutProps(brick); !reflect.DeepEqual(after, before) {
		t.Fatalf("the brick shows %v, showed %v", after, before)
	}
}

// layoutProps returns the properties of the object at path.
func (e *Exporter) layoutProps(path dbus.ObjectPath) map[string]dbus.Variant {
	e.mu.RLock()
	defer e.mu.RUnlock()
	o := e.objects[path]
	return o.layout.props(e.valuesOf(o))
}
