package exporter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// benchVolume is a started replica 3 volume with its bricks' runtime and
// the options glusterd sets at creation.
func benchVolume(i int) *state.Volume {
	name := fmt.Sprintf("vol%05d", i)
	v := &state.Volume{Name: name, ID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), Status: "Started",
		Type: "Replicate", Transport: "tcp", BrickCount: 3, DistCount: 1, ReplicaCount: 3,
		Options: map[string]string{
			"cluster.granular-entry-heal":   "on",
			"storage.fips-mode-rchecksum":   "on",
			"transport.address-family":      "inet",
			"nfs.disable":                   "on",
			"performance.client-io-threads": "off",
		}}
	for n := 1; n <= 3; n++ {
		v.Bricks = append(v.Bricks, state.Brick{
			Host: fmt.Sprintf("127.1.1.%d", n), Path: fmt.Sprintf("/srv/n%d/bricks/%s", n, name),
			HostUUID: fmt.Sprintf("%08x-0000-4000-8000-00000000000%d", n, n),
			Online:   true, Pid: int64(10000 + 3*i + n), Port: uint32(49152 + (3*i+n)%16000),
			SizeTotal: 270553174016, SizeFree: 257782624256, InodesTotal: 16777216, InodesFree: 16359439,
			Device: "/dev/vda", FsName: "ext4", MountOptions: "rw,relatime,discard",
		})
	}
	return v
}

func benchSnapshot(n int) *state.Snapshot {
	s := state.NewSnapshot()
	for i := range n {
		v := benchVolume(i)
		s.Volumes[v.Name] = v
	}
	s.Glusterd = state.Glusterd{Running: true, UUID: "00000001-0000-4000-8000-000000000001", OpVersion: 100000, Version: "10.3"}
	return s
}

// fullChanges are the changes of a first full read of n volumes: every
// object added.
func fullChanges(n int) []state.Change {
	return state.NewModel().SetAll(benchSnapshot(n))
}

func removals(added []state.Change) []state.Change {
	out := make([]state.Change, len(added))
	for i, c := range added {
		out[i] = state.Change{Type: state.Removed, Ref: c.Ref, Old: c.Props}
	}
	return out
}

func benchExporter(b *testing.B, onBus bool) (*Exporter, string) {
	b.Helper()
	exp := New(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !onBus {
		return exp, ""
	}
	addr := testbus.Start(b)
	conn, err := exp.Dial(context.Background(), addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	runSignals(b, exp)
	if err := exp.Claim(context.Background(), conn); err != nil {
		b.Fatal(err)
	}
	return exp, addr
}

// BenchmarkApply applies the first full read of 5 000 volumes x 3 bricks
// (20 002 objects), without a bus and on a real private bus (one
// InterfacesAdded per object), and one volume's change in that tree.
func BenchmarkApply(b *testing.B) {
	const n = 5000
	added := fullChanges(n)
	removed := removals(added)
	for _, onBus := range []bool{false, true} {
		name := "full-snapshot/no-bus"
		if onBus {
			name = "full-snapshot/bus"
		}
		b.Run(fmt.Sprintf("%s/%d-volumes", name, n), func(b *testing.B) {
			exp, _ := benchExporter(b, onBus)
			b.ReportAllocs()
			for b.Loop() {
				exp.Apply(added)
				waitSignals(exp) // until they are on the bus
				b.StopTimer()
				exp.Apply(removed)
				waitSignals(exp)
				b.StartTimer()
			}
			b.ReportMetric(float64(len(added)), "objects")
		})
	}
	// The daemon's first read: a new exporter's maps grow from nothing.
	b.Run(fmt.Sprintf("first-read/no-bus/%d-volumes", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			exp, _ := benchExporter(b, false)
			b.StartTimer()
			exp.Apply(added)
		}
	})
	b.Run(fmt.Sprintf("option-set/bus/%d-volumes", n), func(b *testing.B) {
		exp, _ := benchExporter(b, true)
		m := state.NewModel(exp)
		m.SetAll(benchSnapshot(n))
		waitSignals(exp)
		vols := [2]*state.Volume{benchVolume(n / 2), benchVolume(n / 2)}
		vols[1].Options["performance.readdir-ahead"] = "off"
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			m.SetVolume(vols[i%2].Name, vols[i%2])
			waitSignals(exp)
		}
	})
	// The model's lock is held only for this part: the signals are queued,
	// and written after it.
	b.Run(fmt.Sprintf("option-set/under-model-lock/%d-volumes", n), func(b *testing.B) {
		exp, _ := benchExporter(b, true)
		m := state.NewModel(exp)
		m.SetAll(benchSnapshot(n))
		waitSignals(exp)
		vols := [2]*state.Volume{benchVolume(n / 2), benchVolume(n / 2)}
		vols[1].Options["performance.readdir-ahead"] = "off"
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			m.SetVolume(vols[i%2].Name, vols[i%2])
			b.StopTimer()
			waitSignals(exp)
			b.StartTimer()
		}
	})
	// A volume created, then deleted: the manager's list of volumes
	// changes, and goes out by name only.
	b.Run(fmt.Sprintf("create-delete/under-model-lock/%d-volumes", n), func(b *testing.B) {
		exp, _ := benchExporter(b, true)
		m := state.NewModel(exp)
		m.SetAll(benchSnapshot(n))
		waitSignals(exp)
		v := benchVolume(n)
		b.ReportAllocs()
		for b.Loop() {
			m.SetVolume(v.Name, v)
			m.SetVolume(v.Name, nil)
			b.StopTimer()
			waitSignals(exp)
			b.StartTimer()
		}
	})
}

// BenchmarkGetManagedObjects calls GetManagedObjects from a client over a
// real private bus, with 5 000 volumes x 3 bricks exported.
func BenchmarkGetManagedObjects(b *testing.B) {
	const n = 5000
	exp, addr := benchExporter(b, true)
	added := fullChanges(n)
	exp.Apply(added)
	waitSignals(exp) // the reply would wait behind the first read's signals
	client, err := dbus.Connect(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	obj := client.Object(BusName, RootPath)
	b.ReportAllocs()
	for b.Loop() {
		var out map[dbus.ObjectPath]map[string]map[string]dbus.Variant
		if err := obj.Call(objectManagerInterface+".GetManagedObjects", 0).Store(&out); err != nil {
			b.Fatal(err)
		}
		if len(out) != len(added) {
			b.Fatalf("%d objects, want %d", len(out), len(added))
		}
	}
	b.ReportMetric(float64(len(added)), "objects")
}

// BenchmarkGetManagedObjectsRaw is BenchmarkGetManagedObjects with a client
// that reads the reply as bytes without decoding it: the exporter's work
// and the bus's relaying of the reply, as a client in C sees them.
func BenchmarkGetManagedObjectsRaw(b *testing.B) {
	const n = 5000
	exp, addr := benchExporter(b, true)
	exp.Apply(fullChanges(n))
	waitSignals(exp)
	client, err := testbus.DialRaw(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	size := 0
	b.ReportAllocs()
	for b.Loop() {
		if size, err = client.Call(BusName, string(RootPath), objectManagerInterface, "GetManagedObjects"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size), "reply-bytes")
}

// BenchmarkGetManagedObjectsServer is the exporter's part of a
// GetManagedObjects call at 5 000 volumes x 3 bricks, without a bus: the
// reply's pieces under the tree's lock, and its header.
func BenchmarkGetManagedObjectsServer(b *testing.B) {
	const n = 5000
	exp, _ := benchExporter(b, false)
	exp.Apply(fullChanges(n))
	if _, _, err := exp.managedBody(); err != nil { // the first call encodes every entry
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		exp.mu.RLock()
		pieces, size, err := exp.managedBody()
		exp.mu.RUnlock()
		if err != nil {
			b.Fatal(err)
		}
		if pieces[0], err = appendReplyHeader(nil, 2, 1, ":1.1", managedObjectsSignature, size); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(exp.managed)), "objects")
}

// BenchmarkGetManagedObjectsServerCold is BenchmarkGetManagedObjectsServer
// for the first call after the entries were let go: every entry encoded,
// the volumes' and bricks' values asked of the model's data.
func BenchmarkGetManagedObjectsServerCold(b *testing.B) {
	const n = 5000
	exp, _ := benchExporter(b, false)
	exp.Apply(fullChanges(n))
	b.ReportAllocs()
	for b.Loop() {
		exp.mu.Lock()
		for _, o := range exp.managed {
			exp.markStale(o)
		}
		exp.mu.Unlock()
		exp.mu.RLock()
		_, _, err := exp.managedBody()
		exp.mu.RUnlock()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(exp.managed)), "objects")
}
