package busclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// daemon is the daemon's side of the bus: an exporter showing a model.
type daemon struct {
	exp   *exporter.Exporter
	model *state.Model
	conn  *dbus.Conn
}

// startDaemon exports snap on the bus at addr and then takes the bus name.
func startDaemon(t *testing.T, addr string, snap *state.Snapshot) *daemon {
	t.Helper()
	exp := exporter.New(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	conn, err := exp.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	signalled := make(chan struct{})
	go func() { exp.Run(ctx); close(signalled) }()
	t.Cleanup(func() { cancel(); <-signalled })
	model := state.NewModel(exp)
	model.SetAll(snap)
	if err := exp.Claim(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	return &daemon{exp: exp, model: model, conn: conn.Conn}
}

func connect(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

const gib = 1 << 30

func volume(name, status string, online ...bool) *state.Volume {
	v := &state.Volume{Name: name, ID: "id-" + name, Status: status, Type: "Replicate", Transport: "tcp",
		BrickCount: uint32(len(online)), DistCount: 1, ReplicaCount: uint32(len(online)),
		Options: map[string]string{"nfs.disable": "on"}}
	for i, up := range online {
		b := state.Brick{Host: fmt.Sprintf("127.1.1.%d", i+1), Path: "/bricks/" + name, HostUUID: fmt.Sprintf("u%d", i+1), Pid: -1}
		if up {
			b.Online, b.Pid, b.Port = true, int64(1234+i), uint32(49152+i)
			b.SizeTotal, b.SizeFree = 40*gib, 123*gib/10
		}
		v.Bricks = append(v.Bricks, b)
	}
	return v
}

func snapshot() *state.Snapshot {
	s := state.NewSnapshot()
	s.Glusterd = state.Glusterd{Running: true, UUID: "u1", Version: "10.3", OpVersion: 100000, ActiveState: "active"}
	s.Volumes["gv1"] = volume("gv1", "Created", false, false)
	s.Volumes["gv0"] = volume("gv0", "Started", true, false, true)
	s.Peers["u3"] = &state.Peer{UUID: "u3", Hostname: "127.1.1.3", Hostnames: []string{"127.1.1.3"}, Connected: true, State: "Peer in Cluster"}
	s.Peers["u2"] = &state.Peer{UUID: "u2", Hostname: "127.1.1.2", Hostnames: []string{"127.1.1.2"}, State: "Peer in Cluster"}
	return s
}

func TestReadStatus(t *testing.T) {
	addr := testbus.Start(t)
	startDaemon(t, addr, snapshot())
	st, err := ReadStatus(context.Background(), connect(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	if st.Glusterd["Version"] != "10.3" || st.Glusterd["OpVersion"] != uint32(100000) || st.Glusterd["Running"] != true {
		t.Fatalf("glusterd: %v", st.Glusterd)
	}
	if len(st.Volumes) != 2 || st.Volumes[0].Name != "gv0" || st.Volumes[1].Name != "gv1" {
		t.Fatalf("volumes: %+v", st.Volumes)
	}
	gv0 := st.Volumes[0]
	if gv0.Object != string(exporter.VolumePrefix)+"gv0" || gv0.ID != "id-gv0" || gv0.Health != "degraded" ||
		gv0.OnlineBrickCount != 2 || gv0.Options["nfs.disable"] != "on" || len(gv0.Bricks) != 3 {
		t.Fatalf("gv0: %+v", gv0)
	}
	for i, b := range gv0.Bricks {
		if want := fmt.Sprintf("127.1.1.%d:/bricks/gv0", i+1); b.Name != want || b.Volume != gv0.Object {
			t.Fatalf("brick %d: %+v, want %s of %s", i, b, want, gv0.Object)
		}
	}
	if b := gv0.Bricks[0]; !b.Online || b.Pid != 1234 || b.Port != 49152 || b.SizeTotal != 40*gib || b.HostUUID != "u1" {
		t.Fatalf("brick 0: %+v", b)
	}
	if len(st.Peers) != 2 || st.Peers[0].UUID != "u2" || st.Peers[1].UUID != "u3" || !st.Peers[1].Connected {
		t.Fatalf("peers: %+v", st.Peers)
	}
}

func TestWriteText(t *testing.T) {
	addr := testbus.Start(t)
	startDaemon(t, addr, snapshot())
	st, err := ReadStatus(context.Background(), connect(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := st.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	want := `glusterd  10.3  op-version 100000  uuid u1  running  service active
volume gv0  Started  Replicate 1 x 3  health degraded  bricks 2/3 online
  brick 127.1.1.1:/bricks/gv0  online  pid 1234  port 49152  free 12.3 GiB of 40.0 GiB
  brick 127.1.1.2:/bricks/gv0  offline
  brick 127.1.1.3:/bricks/gv0  online  pid 1236  port 49154  free 12.3 GiB of 40.0 GiB
  option nfs.disable on
volume gv1  Created  Replicate 1 x 2  health stopped  bricks 0/2 online
  brick 127.1.1.1:/bricks/gv1  offline
  brick 127.1.1.2:/bricks/gv1  offline
  option nfs.disable on
peer 127.1.1.2  disconnected  Peer in Cluster  (uuid u2)
peer 127.1.1.3  connected  Peer in Cluster  (uuid u3)
`
	if buf.String() != want {
		t.Fatalf("text:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	addr := testbus.Start(t)
	startDaemon(t, addr, snapshot())
	st, err := ReadStatus(context.Background(), connect(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := st.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"Glusterd"`, `"Volumes"`, `"Peers"`, `"Object"`, `"Id"`, `"HostUuid"`, `"Uuid"`, `"OpVersion": 100000`} {
		if !strings.Contains(buf.String(), key) {
			t.Errorf("JSON lacks %s:\n%s", key, buf.String())
		}
	}
	var back Status
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Volumes, st.Volumes) || !reflect.DeepEqual(back.Peers, st.Peers) {
		t.Fatalf("round trip changed volumes or peers:\n%+v\n%+v", back, st)
	}
	if back.Glusterd["Uuid"] != "u1" || back.Glusterd["Running"] != true || back.Glusterd["OpVersion"] != float64(100000) {
		t.Fatalf("round trip glusterd: %v", back.Glusterd)
	}

	// An empty daemon gives empty lists, not nulls.
	empty := &Status{Glusterd: map[string]any{}, Volumes: []VolumeStatus{}, Peers: []PeerStatus{}}
	buf.Reset()
	if err := empty.WriteJSON(&buf); err != nil || strings.Contains(buf.String(), "null") {
		t.Fatalf("empty status: %s %v", buf.String(), err)
	}
}

func TestNoDaemon(t *testing.T) {
	conn := connect(t, testbus.Start(t))
	_, err := ReadStatus(context.Background(), conn)
	if !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "is glusterbus serve running on this bus?") {
		t.Fatalf("error %v, want ErrNoDaemon", err)
	}
}

func TestIEC(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 40 * gib: "40.0 GiB", 1 << 62: "4.0 EiB"} {
		if got := iec(n); got != want {
			t.Errorf("iec(%d) = %s, want %s", n, got, want)
		}
	}
}
