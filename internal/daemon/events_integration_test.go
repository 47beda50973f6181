package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// event is one Event signal or GetEvents record.
type event struct {
	Seq    uint64
	Name   string
	Usec   int64
	Node   string
	Object dbus.ObjectPath
	Fields map[string]string
}

func (e event) String() string { return fmt.Sprintf("%d %s/%s", e.Seq, e.Fields["source"], e.Name) }

// holdEventsPort serializes the tests that need glusterd's own datagrams:
// GlusterFS's C code sends them to port 55555 whatever eventsconfig.json says.
func holdEventsPort(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(testbed.LockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(testbed.LockDir, "udp-55555.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

func (h *harness) getEvents(since uint64) []event {
	h.t.Helper()
	var all []event
	for {
		var page []event
		err := h.client.Object(exporter.BusName, exporter.ManagerPath).Call(exporter.ManagerInterface+".GetEvents", 0,
			since, uint32(500), map[string]dbus.Variant{}).Store(&page)
		if err != nil {
			h.t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 500 {
			return all
		}
		since = page[len(page)-1].Seq
	}
}

func (h *harness) lastSeq() uint64 {
	var seq uint64
	if err := h.client.Object(exporter.BusName, exporter.ManagerPath).Call(exporter.ManagerInterface+".LastSequence", 0, map[string]dbus.Variant{}).Store(&seq); err != nil {
		h.t.Fatal(err)
	}
	return seq
}

// eventSignals returns the Event signals received so far with seq > since.
func (h *harness) eventSignals(since uint64) []event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []event
	for _, s := range h.signals {
		if s.Name != exporter.ManagerInterface+".Event" {
			continue
		}
		var e event
		if err := dbus.Store(s.Body, &e.Seq, &e.Name, &e.Usec, &e.Node, &e.Object, &e.Fields); err != nil {
			h.t.Fatalf("Event signal %v: %v", s.Body, err)
		}
		if e.Seq > since {
			out = append(out, e)
		}
	}
	return out
}

// has reports whether evs hold source/name pairs as a subsequence.
func has(evs []event, want ...string) bool {
	i := 0
	for _, e := range evs {
		if i < len(want) && e.Fields["source"]+"/"+e.Name == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestEventsInOrder(t *testing.T) {
	testbed.Require(t)
	holdEventsPort(t)
	h := start(t, 3, func(c *testbed.Cluster) {
		var bricks []string
		for i, n := range c.Nodes {
			bricks = append(bricks, n.Addr+":"+c.BrickDir(i+1, "ev"))
		}
		c.Nodes[0].Gluster(t, append([]string{"volume", "create", "ev", "replica", "3"}, append(bricks, "force")...)...)
		c.Nodes[0].Gluster(t, "volume", "start", "ev")
	}, func(cfg *daemon.Config) {
		cfg.EventsPort = nativeevents.DefaultPort
		cfg.EventsAddrs = nil // glusterd sends to [::1], bricks to their volfile server's address
	})
	c, n1 := h.cluster, h.cluster.Nodes[0]
	h.waitFor("the volume up", 30*time.Second, func() bool { return h.prop(volPath("ev"), exporter.VolumeInterface, "Health") == "up" })
	since := h.lastSeq()

	n1.Gluster(t, "volume", "set", "ev", "performance.readdir-ahead", "off")
	h.waitFor("VOLUME_SET native and diff", 10*time.Second, func() bool {
		return has(h.eventSignals(since), "native/VOLUME_SET") && has(h.eventSignals(since), "diff/VOLUME_SET")
	})
	n1.Gluster(t, "volume", "stop", "ev")
	h.waitFor("VOLUME_STOP", 10*time.Second, func() bool { return has(h.eventSignals(since), "diff/VOLUME_SET", "diff/VOLUME_STOP") })
	n1.Gluster(t, "volume", "start", "ev")
	h.waitFor("VOLUME_START and bricks online", 30*time.Second, func() bool {
		return has(h.eventSignals(since), "diff/VOLUME_STOP", "diff/VOLUME_START", "diff/VOLUME_HEALTH_CHANGED") &&
			h.prop(volPath("ev"), exporter.VolumeInterface, "Health") == "up"
	})
	pid := c.BrickPID(t, "ev", 2, c.BrickDir(2, "ev"))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitFor("BRICK_OFFLINE", 30*time.Second, func() bool { return has(h.eventSignals(since), "diff/VOLUME_START", "diff/BRICK_OFFLINE") })
	c.Nodes[2].StopGlusterd(t)
	h.waitFor("PEER_DISCONNECT", 30*time.Second, func() bool {
		return has(h.eventSignals(since), "diff/BRICK_OFFLINE", "diff/PEER_DISCONNECT")
	})

	// The signals and the journal agree: every event once, in sequence
	// order, with no gap.
	signals := h.eventSignals(since)
	journaled := h.getEvents(since)
	if len(journaled) < len(signals) {
		t.Fatalf("journal has %d events, signals %d", len(journaled), len(signals))
	}
	for i, e := range journaled {
		if e.Seq != since+uint64(i)+1 {
			t.Fatalf("journal gap: event %d has seq %d: %v", i, e.Seq, journaled)
		}
	}
	for i, s := range signals {
		j := journaled[i]
		if s.Seq != j.Seq || s.Name != j.Name || s.Usec != j.Usec || !mapsEqual(s.Fields, j.Fields) || s.Object != j.Object {
			t.Fatalf("signal %d %v differs from journal %v", i, s, j)
		}
	}
	want := []string{"native/VOLUME_SET", "diff/VOLUME_SET", "diff/VOLUME_STOP", "diff/VOLUME_START", "diff/BRICK_OFFLINE", "diff/PEER_DISCONNECT"}
	if !has(journaled, "diff/VOLUME_SET", "diff/VOLUME_STOP", "diff/VOLUME_START", "diff/BRICK_OFFLINE", "diff/PEER_DISCONNECT") {
		t.Fatalf("journal lacks %v in order: %v", want, journaled)
	}
	for _, e := range journaled {
		// Other test clusters on this machine send to port 55555 too: look
		// only at this test's volume.
		if e.Name == "VOLUME_SET" && e.Fields["name"] == "ev" && e.Object != volPath("ev") {
			t.Fatalf("VOLUME_SET without the volume's object: %+v", e)
		}
		if e.Node == "" {
			t.Fatalf("event without node: %+v", e)
		}
	}
	t.Logf("events: %v", journaled)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
