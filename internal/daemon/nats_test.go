package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

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
