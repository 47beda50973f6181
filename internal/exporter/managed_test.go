package exporter

import (
	"fmt"
	"maps"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

type managedObjects = map[dbus.ObjectPath]map[string]map[string]dbus.Variant

// TestGetManagedObjectsOnBus: on a real bus, every object of the reply has
// exactly the properties its own Properties.GetAll returns, and every
// object is in it.
func TestGetManagedObjectsOnBus(t *testing.T) {
	f := newFixture(t)
	snap := benchSnapshot(30)
	snap.Service.Webhooks = []state.WebhookState{{URL: "https://hook", State: "retrying", Failed: 2, LastError: "503"}}
	snap.Volumes["vol00002"].Tasks = []state.Task{{ID: "t1", Type: "Rebalance", Status: "completed", Figures: map[string]string{"files": "3"}}}
	snap.Peers["u2"] = &state.Peer{UUID: "u2", Hostname: "n2", Hostnames: []string{"n2", "10.0.0.2"}, Connected: true}
	snap.Snapshots["s1"] = &state.VolumeSnapshot{Name: "s1", ID: "u1", OriginVolume: "vol00001", Status: "Started"}
	addQuotaAndGeoRep(snap)
	f.model.SetAll(snap)
	got := f.managed(t)
	if want := len(snap.Objects()); len(got) != want {
		t.Fatalf("%d objects, want %d", len(got), want)
	}
	for path, byIface := range got {
		if len(byIface) != 1 {
			t.Fatalf("%s: %d interfaces", path, len(byIface))
		}
		for iface, props := range byIface {
			// The body as decoded: Store would rebuild the variants.
			call := f.client.Object(BusName, path).Call(propertiesInterface+".GetAll", 0, iface)
			if call.Err != nil {
				t.Fatal(call.Err)
			}
			if all := call.Body[0]; !reflect.DeepEqual(props, all) {
				t.Errorf("%s: GetManagedObjects has\n%v\nGetAll has\n%v", path, props, all)
			}
		}
	}
}

// replyCounter counts, on a client connection, the GetManagedObjects calls
// it sends and the replies (or errors) each gets.
type replyCounter struct {
	mu      sync.Mutex
	calls   map[uint32]bool
	replies map[uint32]int
}

func (c *replyCounter) out(msg *dbus.Message) {
	if msg.Type == dbus.TypeMethodCall && msg.Headers[dbus.FieldMember].Value() == "GetManagedObjects" {
		c.mu.Lock()
		c.calls[msg.Serial()] = true
		c.mu.Unlock()
	}
}

func (c *replyCounter) in(msg *dbus.Message) {
	if s, ok := msg.Headers[dbus.FieldReplySerial].Value().(uint32); ok {
		c.mu.Lock()
		if c.calls[s] {
			c.replies[s]++
		}
		c.mu.Unlock()
	}
}

// TestGetManagedObjectsOneReply: each call gets one reply, and a call that
// asks for none gets none.
func TestGetManagedObjectsOneReply(t *testing.T) {
	f := newFixture(t)
	f.model.SetAll(benchSnapshot(20))
	counter := &replyCounter{calls: map[uint32]bool{}, replies: map[uint32]int{}}
	client, err := dbus.Connect(f.addr, dbus.WithIncomingInterceptor(counter.in), dbus.WithOutgoingInterceptor(counter.out))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	root := client.Object(BusName, RootPath)
	for i := range 20 {
		if i%5 == 4 {
			call := root.Call(objectManagerInterface+".GetManagedObjects", dbus.FlagNoReplyExpected)
			if call.Err != nil {
				t.Fatal(call.Err)
			}
			continue
		}
		var out managedObjects
		// Half without an interface: the method is found by its name.
		method := objectManagerInterface + ".GetManagedObjects"
		if i%2 == 1 {
			method = "GetManagedObjects"
		}
		if err := root.Call(method, 0).Store(&out); err != nil {
			t.Fatal(err)
		}
		if len(out) != 2+20*4 {
			t.Fatalf("%d objects", len(out))
		}
	}
	// A reply godbus might send besides would be on its way by now; the
	// exporter answers calls in order through one queue, so a last call's
	// reply comes after it would.
	if err := root.Call(objectManagerInterface+".GetManagedObjects", 0).Err; err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if len(counter.calls) != 21 {
		t.Fatalf("%d calls seen", len(counter.calls))
	}
	for serial := range counter.calls {
		if n := counter.replies[serial]; n > 1 {
			t.Errorf("call %d: %d replies", serial, n)
		}
	}
	replied := 0
	for _, n := range counter.replies {
		replied += n
	}
	if replied != 17 {
		t.Errorf("%d replies to 21 calls, 4 of which wanted none; want 17", replied)
	}
}

// TestGetManagedObjectsOrder: a client that applies the signals it gets to
// the objects of a first reply has, at each later reply, exactly what the
// reply holds: the reply follows the signals of every change it shows and
// precedes those of every change it does not.
func TestGetManagedObjectsOrder(t *testing.T) {
	f := newFixture(t)
	f.model.SetAll(benchSnapshot(10))
	waitSignals(f.exp)

	var mu sync.Mutex
	var log []*dbus.Message
	client, err := dbus.Connect(f.addr, dbus.WithIncomingInterceptor(func(msg *dbus.Message) {
		mu.Lock()
		log = append(log, msg)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.AddMatchSignal(dbus.WithMatchSender(BusName)); err != nil {
		t.Fatal(err)
	}
	root := client.Object(BusName, RootPath)
	first := root.Call(objectManagerInterface+".GetManagedObjects", 0)
	if first.Err != nil {
		t.Fatal(first.Err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			v := benchVolume(100 + i)
			f.model.SetVolume(v.Name, v)
			if i%3 == 2 {
				f.model.SetVolume(benchVolume(100+i-2).Name, nil)
			}
			changed := benchVolume(i % 10)
			changed.Bricks[0].Online = i%2 == 0
			changed.Options["diagnostics.latency"] = fmt.Sprint(i)
			f.model.SetVolume(changed.Name, changed)
			time.Sleep(time.Millisecond) // for calls to come in between
		}
	}()
	calls := 0
	for running := true; running; calls++ {
		select {
		case <-done:
			running = false
		default:
		}
		if err := root.Call(objectManagerInterface+".GetManagedObjects", 0).Err; err != nil {
			t.Fatal(err)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	var objects managedObjects
	// Properties announced as invalidated: a client gets them anew, here
	// from the next reply.
	type invalid struct {
		path       dbus.ObjectPath
		iface, key string
	}
	invalidated := map[invalid]bool{}
	replies := 0
	for _, msg := range log {
		member, _ := msg.Headers[dbus.FieldMember].Value().(string)
		switch {
		case msg.Type == dbus.TypeMethodReply && len(msg.Body) == 1:
			got, ok := msg.Body[0].(managedObjects)
			if !ok {
				continue
			}
			for p := range invalidated {
				if _, had := objects[p.path][p.iface][p.key]; had {
					t.Fatalf("%s %s stayed after it was invalidated", p.path, p.key)
				}
				if v, ok := got[p.path][p.iface][p.key]; ok {
					props := maps.Clone(objects[p.path][p.iface])
					props[p.key] = v
					objects[p.path] = map[string]map[string]dbus.Variant{p.iface: props}
				}
			}
			clear(invalidated)
			if objects != nil && !reflect.DeepEqual(got, objects) {
				t.Fatalf("reply %d differs from the first reply and the signals since", replies)
			}
			if objects == nil {
				objects = maps.Clone(got)
			}
			replies++
		case objects == nil || msg.Type != dbus.TypeSignal:
		case member == "InterfacesAdded":
			objects[msg.Body[0].(dbus.ObjectPath)] = msg.Body[1].(map[string]map[string]dbus.Variant)
		case member == "InterfacesRemoved":
			delete(objects, msg.Body[0].(dbus.ObjectPath))
		case member == "PropertiesChanged":
			path := msg.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
			iface := msg.Body[0].(string)
			props := maps.Clone(objects[path][iface])
			maps.Copy(props, msg.Body[1].(map[string]dbus.Variant))
			for _, key := range msg.Body[2].([]string) {
				delete(props, key)
				invalidated[invalid{path, iface, key}] = true
			}
			objects[path] = map[string]map[string]dbus.Variant{iface: props}
		}
	}
	if replies != calls+1 {
		t.Fatalf("%d replies seen, %d calls made", replies, calls+1)
	}
	t.Logf("%d replies checked", replies)
}

// TestGetManagedObjectsWithoutEncodedReplies: on a connection the exporter
// cannot write encoded messages to, godbus sends the reply.
func TestGetManagedObjectsWithoutEncodedReplies(t *testing.T) {
	addr := testbus.Start(t)
	exp := newTestExporter()
	conn, err := dbus.Connect(addr, dbus.WithHandler(exp))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.RequestName(BusName, dbus.NameFlagDoNotQueue); err != nil {
		t.Fatal(err)
	}
	state.NewModel(exp).SetAll(benchSnapshot(5))
	client, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var out managedObjects
	if err := client.Object(BusName, RootPath).Call(objectManagerInterface+".GetManagedObjects", 0).Store(&out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 2+5*4 {
		t.Fatalf("%d objects", len(out))
	}
}

// TestEncodedEntriesLetGoWhenIdle: without calls for a while the encoded
// entries are let go, and the next call encodes them again to the same
// reply, changes made meanwhile included.
func TestEncodedEntriesLetGoWhenIdle(t *testing.T) {
	f := newFixture(t)
	// Kept for an hour at first, so that a loaded machine cannot let them
	// go before they are counted.
	f.exp.wireMu.Lock()
	f.exp.encodedIdle = time.Hour
	f.exp.wireMu.Unlock()
	f.model.SetAll(benchSnapshot(20))
	first := f.managed(t)
	encoded := func() int {
		f.exp.mu.RLock()
		defer f.exp.mu.RUnlock()
		f.exp.wireMu.Lock()
		defer f.exp.wireMu.Unlock()
		n := 0
		for _, o := range f.exp.managed {
			if o.wire != nil {
				n++
			}
		}
		return n
	}
	if n := encoded(); n != len(first) {
		t.Fatalf("%d of %d entries encoded after a call", n, len(first))
	}
	// Then a short idle time, and the release looks again now.
	f.exp.wireMu.Lock()
	f.exp.encodedIdle = 100 * time.Millisecond
	release := f.exp.release
	f.exp.wireMu.Unlock()
	release.Reset(0)
	deadline := time.Now().Add(time.Minute)
	for encoded() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries still encoded long after the last call", encoded())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if again := f.managed(t); !reflect.DeepEqual(again, first) {
		t.Fatalf("the reply after the entries were let go differs:\n%v\nwant\n%v", again, first)
	}
	v := benchVolume(3)
	v.Options["user.x"] = "y"
	f.model.SetVolume(v.Name, v)
	for encoded() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("entries still encoded long after the last call")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := f.managed(t)
	if opts := got[VolumePrefix+dbus.ObjectPath(v.Name)][VolumeInterface]["Options"].Value().(map[string]string); opts["user.x"] != "y" {
		t.Fatalf("a change made while the entries were let go is missing: %v", opts)
	}
}

// TestManyStaleBeforeALargeEncoding: the first call on a large tree, and the
// first after its entries were let go, is told apart from a call that
// encodes few entries (before the former the heap is collected).
func TestManyStaleBeforeALargeEncoding(t *testing.T) {
	exp := newTestExporter()
	exp.Apply(fullChanges(largeReply/4 + 1)) // 4 objects a volume, and 2 more
	if !exp.manyStale() {
		t.Fatal("the first call on a large tree is not told apart")
	}
	exp.mu.RLock()
	_, _, err := exp.managedBody()
	exp.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if exp.manyStale() {
		t.Fatal("a call after nothing changed is to encode many entries")
	}
	exp.wireMu.Lock()
	exp.encodedIdle = time.Nanosecond
	exp.wireMu.Unlock()
	exp.releaseIdleEntries()
	if !exp.manyStale() {
		t.Fatal("the call after the entries were let go is not told apart")
	}
}
