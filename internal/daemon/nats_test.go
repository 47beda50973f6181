package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/glusterbus/glusterbus/internal/natsstream"
	"github.com/glusterbus/glusterbus/internal/state"
)

func TestNATSClusterIDIsKept(t *testing.T) {
	dir := t.TempDir()
	peers := map[string]state.Peer{"p1": {UUID: "b-uuid"}, "p2": {UUID: "c-uuid"}}
	id, err := natsClusterID("", dir, "d-uuid", peers)
	if err != nil || id != "b-uuid" {
		t.Fatalf("derived %q, %v; want the lowest UUID b-uuid", id, err)
	}
	// A node with a lower UUID joins: the id stays.
	peers["p3"] = state.Peer{UUID: "a-uuid"}
	if id, err := natsClusterID("", dir, "d-uuid", peers); err != nil || id != "b-uuid" {
		t.Errorf("after a change of members: %q, %v; want b-uuid kept", id, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, clusterIDFile)); string(b) != "b-uuid\n" {
		t.Errorf("stored %q", b)
	}
	if id, _ := natsClusterID("given", dir, "d-uuid", peers); id != "given" {
		t.Errorf("a given id was not used: %q", id)
	}
}

func TestClusterStreamState(t *testing.T) {
	ok := natsstream.Status{Ready: true, Cursor: 7, Published: 2, Duplicates: 3}
	failing := natsstream.Status{Ready: true, LastError: "publishing: no response"}
	for _, c := range []struct {
		connected, everReady bool
		st                   natsstream.Status
		connErr              string
		want                 state.ClusterStreamState
	}{
		{false, false, natsstream.Status{}, "", state.ClusterStreamState{State: "connecting", LastError: "no NATS server answers"}},
		{true, false, natsstream.Status{}, "", state.ClusterStreamState{State: "connecting"}},
		{true, true, ok, "", state.ClusterStreamState{State: "connected", Cursor: 7, Published: 5}},
		{true, true, failing, "", state.ClusterStreamState{State: "failing", LastError: failing.LastError}},
		{false, true, ok, "connection refused", state.ClusterStreamState{State: "disconnected", Cursor: 7, Published: 5, LastError: "connection refused"}},
	} {
		if got := clusterStreamState(c.connected, c.everReady, c.st, c.connErr); got != c.want {
			t.Errorf("clusterStreamState(%v, %v, %+v, %q) = %+v, want %+v", c.connected, c.everReady, c.st, c.connErr, got, c.want)
		}
	}
}

func TestPeerRoutes(t *testing.T) {
	peers := map[string]state.Peer{
		"u3": {Hostname: "node3"},
		"u2": {Hostname: "127.1.1.2"},
		"u4": {}, // no address known yet
	}
	got := peerRoutes(peers, "0.0.0.0:6333")
	if want := []string{"127.1.1.2:6333", "node3:6333"}; !slices.Equal(got, want) {
		t.Errorf("peerRoutes = %v, want %v", got, want)
	}
}

// TestFollowPeers: an embedded server whose pool gains a peer routes to
// that peer's server, through a reload, without restarting.
func TestFollowPeers(t *testing.T) {
	// Three loopback addresses with one free port, as three nodes with the
	// same cluster port.
	var addrs []string
	var port string
	for try := 0; len(addrs) < 3 && try < 20; try++ {
		addrs, port = nil, "0"
		subnet := 200 + try
		for i := 1; i <= 3; i++ {
			l, err := net.Listen("tcp", net.JoinHostPort(fmt.Sprintf("127.78.%d.%d", subnet, i), port))
			if err != nil {
				break
			}
			_, port, _ = strings.Cut(l.Addr().String(), ":")
			l.Close()
			addrs = append(addrs, fmt.Sprintf("127.78.%d.%d", subnet, i))
		}
	}
	if len(addrs) < 3 {
		t.Fatal("no three loopback addresses with a free port in common")
	}
	start := func(i int, routes ...string) (*server.Server, natsstream.EmbeddedConfig) {
		ec := natsstream.EmbeddedConfig{ServerName: fmt.Sprint("n", i), StoreDir: filepath.Join(t.TempDir(), "js"),
			ClientListen: addrs[i] + ":-1", ClusterListen: addrs[i] + ":" + port, ClusterName: "follow", Routes: routes}
		s, err := natsstream.StartEmbedded(ec)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		return s, ec
	}
	// Nodes 0 and 1 are a pool; node 2 knows only node 1 at first.
	s0, _ := start(0, addrs[1]+":"+port)
	start(1, addrs[0]+":"+port)
	s2, ec2 := start(2, addrs[1]+":"+port)
	// A configured route is one the server dials from its configuration,
	// not one it learnt from another server.
	routed := func(s *server.Server, to string) bool {
		rz, err := s.Routez(nil)
		if err != nil {
			return false
		}
		for _, r := range rz.Routes {
			if r.IP == to && r.IsConfigured {
				return true
			}
		}
		return false
	}
	if routed(s2, addrs[0]) {
		t.Fatal("node 2 has a configured route to node 0 before it joined")
	}
	model := state.NewModel()
	model.SetPeers(map[string]*state.Peer{"u1": {UUID: "u1", Hostname: addrs[1]}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		followPeers(ctx, s2, ec2, model, 50*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	defer func() { cancel(); <-done }()

	model.SetPeers(map[string]*state.Peer{"u0": {UUID: "u0", Hostname: addrs[0]}, "u1": {UUID: "u1", Hostname: addrs[1]}})
	deadline := time.Now().Add(60 * time.Second)
	for !routed(s2, addrs[0]) {
		if time.Now().After(deadline) {
			t.Fatal("node 2's server did not dial node 0's after node 0 joined its pool")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s0.NumRoutes() == 0 {
		t.Error("node 0's server has no route")
	}
}
