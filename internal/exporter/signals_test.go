package exporter

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// waitUntil polls cond until it holds; the deadline is generous and only
// catches a hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSignals returns once every queued signal is written.
func waitSignals(exp *Exporter) {
	for exp.signalsWaiting() > 0 {
		time.Sleep(20 * time.Microsecond)
	}
}

// bigVolume is a volume whose signals are large, so that a few hundred of
// them fill a socket's buffer.
func bigVolume(i int) *state.Volume {
	v := volume(fmt.Sprintf("vol%04d", i), true, true, true)
	for k := range 40 {
		v.Options[fmt.Sprintf("user.option-%02d", k)] = strings.Repeat("x", 40)
	}
	return v
}

// TestStuckBusNeverBlocksTheModel stops the dbus-daemon (SIGSTOP): the
// model's updates still return, the stalled write is cut after the write
// timeout, and once the bus runs again a new connection serves the objects
// exactly as the model has them.
func TestStuckBusNeverBlocksTheModel(t *testing.T) {
	addr, pid := testbus.StartProcess(t)
	logs := &testbus.Buffer{}
	exp := New(context.Background(), slog.New(slog.NewTextHandler(logs, nil)))
	exp.SetSignalLimits(DefaultSignalQueue, 500*time.Millisecond)
	conn, err := exp.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Cut)
	runSignals(t, exp)
	if err := exp.Claim(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	model := state.NewModel(exp)
	model.SetAll(state.NewSnapshot())

	thaw := testbus.Freeze(t, pid)
	const volumes = 2000
	updated := make(chan struct{})
	go func() {
		defer close(updated)
		for i := range volumes {
			model.SetVolume(fmt.Sprintf("vol%04d", i), bigVolume(i))
		}
	}()
	waitUntil(t, "the model's updates to return while the bus is stopped", func() bool {
		select {
		case <-updated:
			return true
		default:
			return false
		}
	})
	waitUntil(t, "the stalled connection to be cut", func() bool { return !conn.Connected() })
	if !strings.Contains(logs.String(), "has not taken a signal") {
		t.Errorf("the cut is not logged:\n%s", logs)
	}
	// Removed while disconnected: a client must not see it afterwards.
	model.SetVolume("vol0000", nil)
	thaw()

	// What the daemon's bus keeper does: connect again and take the name.
	again, err := exp.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(again.Cut)
	waitUntil(t, "the name taken again", func() bool { return exp.Claim(context.Background(), again) == nil })
	client, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	f := &fixture{client: client}
	objs := f.managed(t)
	var vols int
	for path := range objs {
		if _, ok := VolumeName(path); ok {
			vols++
		}
	}
	if vols != volumes-1 || objs[Path(state.Ref{Kind: state.KindVolume, Key: "vol0000"})] != nil {
		t.Fatalf("after the bus came back the client sees %d volumes (vol0000 present: %v), want %d",
			vols, objs[Path(state.Ref{Kind: state.KindVolume, Key: "vol0000"})] != nil, volumes-1)
	}
	name := objs[Path(state.Ref{Kind: state.KindVolume, Key: "vol1999"})][VolumeInterface]["Name"]
	if name.Value() != "vol1999" {
		t.Fatalf("the last volume's Name is %v", name)
	}
}

// TestSignalQueueOverflow: with nobody writing, signals past the limit drop
// the queue and cut the connection instead of growing without bound.
func TestSignalQueueOverflow(t *testing.T) {
	addr := testbus.Start(t)
	logs := &testbus.Buffer{}
	exp := New(context.Background(), slog.New(slog.NewTextHandler(logs, nil)))
	exp.SetSignalLimits(5, DefaultWriteTimeout)
	conn, err := exp.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Cut)
	if err := exp.Claim(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	model := state.NewModel(exp) // no Run: nothing is written
	for i := range 3 {
		model.SetVolume(fmt.Sprintf("v%d", i), volume(fmt.Sprintf("v%d", i), true))
	}
	waitUntil(t, "the connection cut", func() bool { return !conn.Connected() })
	if !strings.Contains(logs.String(), "the queue is full") {
		t.Errorf("the overflow is not logged:\n%s", logs)
	}
	if n := exp.signalsWaiting(); n != 0 {
		t.Errorf("%d signals still queued after the overflow", n)
	}
	model.SetVolume("v9", volume("v9", true)) // disconnected: dropped, not queued
	if n := exp.signalsWaiting(); n != 0 {
		t.Errorf("%d signals queued while disconnected", n)
	}
}

// TestReplyFollowsSignals: a method that changes the model answers after
// the change's signals are out, so a client that caches properties from
// signals has them when the reply comes.
func TestReplyFollowsSignals(t *testing.T) {
	f := newFixture(t)
	f.model.SetAll(state.NewSnapshot())
	f.exp.Handle(ManagerInterface, "RefreshVolume", &Method{
		In: []any{"", map[string]dbus.Variant{}},
		Handle: func(c *Call) ([]any, error) {
			for i := range 50 {
				name := fmt.Sprintf("%s-%d", c.Args[0], i)
				f.model.SetVolume(name, volume(name, true, true, true))
			}
			return nil, nil
		},
	})
	waitSignals(f.exp)
	if err := f.client.AddMatchSignal(dbus.WithMatchSender(BusName)); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 1<<14) // never full: godbus keeps the order only then
	f.client.Signal(sigs)
	mgr := f.client.Object(BusName, ManagerPath)
	for round := range 5 {
		if err := mgr.Call(ManagerInterface+".RefreshVolume", 0, fmt.Sprint("v", round), map[string]dbus.Variant{}).Err; err != nil {
			t.Fatal(err)
		}
		var added int
		for more := true; more; {
			select {
			case s := <-sigs:
				if s.Name != objectManagerInterface+".InterfacesAdded" {
					continue
				}
				p := string(s.Body[0].(dbus.ObjectPath))
				if strings.HasPrefix(p, string(VolumePrefix)) || strings.HasPrefix(p, string(BrickPrefix)) {
					added++
				}
			default:
				more = false
			}
		}
		// Each volume: itself and its three bricks.
		if added != 50*4 {
			t.Fatalf("round %d: %d InterfacesAdded had arrived with the reply, want %d", round, added, 50*4)
		}
	}
}
