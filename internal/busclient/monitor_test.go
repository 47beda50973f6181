package busclient

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/busapi"
	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// startMonitor runs Monitor until the test ends and checks it returns nil.
func startMonitor(t *testing.T, conn *dbus.Conn) *testbus.Buffer {
	t.Helper()
	out := &testbus.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Monitor(ctx, conn, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Monitor: %v", err)
		}
	})
	return out
}

// expect waits until the output after *from holds each of want, in order,
// and moves *from past the last one.
func expect(t *testing.T, out *testbus.Buffer, from *int, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		text := out.String()
		pos, missing := *from, ""
		for _, w := range want {
			i := strings.Index(text[pos:], w)
			if i < 0 {
				missing = w
				break
			}
			pos += i + len(w)
		}
		if missing == "" {
			*from = pos
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after offset %d in monitor output:\n%s", missing, *from, text)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMonitor(t *testing.T) {
	addr := testbus.Start(t)
	snap := state.NewSnapshot()
	snap.Volumes["gv0"] = volume("gv0", "Started", true)
	d := startDaemon(t, addr, snap)
	out := startMonitor(t, connect(t, addr))
	var at int
	expect(t, out, &at, "Monitoring org.storaged.Storaged (owner :", ", 4 objects)\n")

	brick := "brick/127_2e1_2e1_2e1_3a_2fbricks_2fgv1"
	d.model.SetVolume("gv1", volume("gv1", "Created", true))
	expect(t, out, &at,
		" Added volume/gv1 (org.storaged.Storaged.GlusterFS.Volume) Name=gv1 Status=Created Type=Replicate Health=stopped\n",
		" Added "+brick+" (org.storaged.Storaged.GlusterFS.Brick) Name=127.1.1.1:/bricks/gv1 State=online\n",
		" /org/storaged/Storaged/Manager: Volumes: [volume/gv0] -> [volume/gv0 volume/gv1]\n")

	d.model.SetVolume("gv1", volume("gv1", "Started", true))
	expect(t, out, &at, " volume/gv1: Health: stopped -> up\n", " volume/gv1: Status: Created -> Started\n")

	d.model.SetVolume("gv1", volume("gv1", "Started", false))
	expect(t, out, &at,
		" volume/gv1: Health: up -> down\n", " volume/gv1: OnlineBrickCount: 1 -> 0\n",
		" "+brick+": Online: true -> false\n", " "+brick+": Pid: 1234 -> -1\n")

	d.model.SetPeers(map[string]*state.Peer{"u2": {UUID: "u2", Hostname: "h2", Hostnames: []string{"h2", "10.0.0.2"}, State: "Peer in Cluster"}})
	expect(t, out, &at,
		` Added peer/u2 (org.storaged.Storaged.GlusterFS.Peer) Hostname=h2 Connected=false State="Peer in Cluster"`+"\n",
		" /org/storaged/Storaged/Manager: Peers: [] -> [peer/u2]\n")

	d.model.SetVolume("gv1", nil)
	expect(t, out, &at,
		" /org/storaged/Storaged/Manager: Volumes: [volume/gv0 volume/gv1] -> [volume/gv0]\n",
		" Removed volume/gv1 (org.storaged.Storaged.GlusterFS.Volume)\n",
		" Removed "+brick+" (org.storaged.Storaged.GlusterFS.Brick)\n")

	d.exp.Emit(busapi.ManagerPath, busapi.ManagerInterface+".Event", uint64(7), "VOLUME_SET", int64(1700000000000000),
		"u1", busapi.VolumePrefix+"gv0", map[string]string{"source": "native", "options": "nfs.disable=off"})
	expect(t, out, &at, ` /org/storaged/Storaged/Manager: Event 7 VOLUME_SET 1700000000000000 u1 volume/gv0 {options="nfs.disable=off" source=native}`+"\n")

	// Each change is printed once.
	if n := strings.Count(out.String(), "Added volume/gv1 "); n != 1 {
		t.Fatalf("gv1 added %d times:\n%s", n, out.String())
	}
}

// TestMonitorDaemonComesAndGoes starts the monitor before the daemon, then
// restarts the daemon with another state.
func TestMonitorDaemonComesAndGoes(t *testing.T) {
	addr := testbus.Start(t)
	out := startMonitor(t, connect(t, addr))
	var at int
	expect(t, out, &at, " org.storaged.Storaged has no owner: waiting for glusterbus serve\n")

	d := startDaemon(t, addr, state.NewSnapshot())
	expect(t, out, &at, " org.storaged.Storaged has a new owner :")
	d.model.SetVolume("gv0", volume("gv0", "Started", true))
	// The list of volumes is announced by name only: the monitor reads it,
	// which must be done before the daemon goes.
	expect(t, out, &at, " Added volume/gv0 (org.storaged.Storaged.GlusterFS.Volume) Name=gv0 Status=Started",
		" /org/storaged/Storaged/Manager: Volumes: [] -> [volume/gv0]\n")

	d.conn.Close()
	expect(t, out, &at, " org.storaged.Storaged lost its owner :", " (glusterbus stopped)\n")

	// While it was away gv0 stopped and gv1 appeared; on return the
	// monitor tells the difference.
	snap := state.NewSnapshot()
	snap.Volumes["gv0"] = volume("gv0", "Stopped", true)
	snap.Volumes["gv1"] = volume("gv1", "Created")
	d = startDaemon(t, addr, snap)
	expect(t, out, &at,
		" org.storaged.Storaged has a new owner :", " (glusterbus started), re-read 5 objects\n",
		" /org/storaged/Storaged/Manager: Volumes: [volume/gv0] -> [volume/gv0 volume/gv1]\n",
		" volume/gv0: Health: up -> stopped\n", " volume/gv0: Status: Started -> Stopped\n",
		" Added volume/gv1 (org.storaged.Storaged.GlusterFS.Volume) Name=gv1 Status=Created Type=Replicate Health=stopped\n")

	// It follows the new daemon.
	d.model.SetVolume("gv1", nil)
	expect(t, out, &at, " Removed volume/gv1 (org.storaged.Storaged.GlusterFS.Volume)\n")
	if n := strings.Count(out.String(), "Added volume/gv0 "); n != 1 {
		t.Fatalf("gv0 added %d times:\n%s", n, out.String())
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{"Started", "Started"},
		{"", `""`},
		{"Peer in Cluster", `"Peer in Cluster"`},
		{uint32(3), "3"},
		{true, "true"},
		{[]string{"a", "b c"}, `[a "b c"]`},
		{[]dbus.ObjectPath{busapi.VolumePrefix + "gv0", busapi.ManagerPath}, "[volume/gv0 /org/storaged/Storaged/Manager]"},
		{map[string]string{"b": "2", "a": "1"}, "{a=1 b=2}"},
		{dbus.MakeVariant(uint64(5)), "5"},
		{[]any{uint64(1), "x"}, "[1 x]"},
	} {
		if got := format(c.v); got != c.want {
			t.Errorf("format(%#v) = %s, want %s", c.v, got, c.want)
		}
	}
}
