package daemon

import (
	"os"
	"path/filepath"
	"testing"

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
