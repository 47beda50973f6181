package daemon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// TestOddVolumeNames: names that differ only in '-' and '_', or start with
// a digit, or are as long as gluster allows, each get their own object with
// their own name; a name gluster refuses changes nothing.
func TestOddVolumeNames(t *testing.T) {
	names := []string{"a_b", "a-b", "a_2db", "0lead", "_x", strings.Repeat("n", 64)}
	h := start(t, 1, func(c *testbed.Cluster) {
		n := c.Nodes[0]
		for i, name := range names {
			n.Gluster(t, "volume", "create", name, n.Addr+":"+c.BrickDir(1, "odd"+string(rune('a'+i))), "force")
		}
	})
	for _, name := range names {
		if got := h.prop(volPath(name), exporter.VolumeInterface, "Name"); got != name {
			t.Errorf("volume %q: object %s has Name %v", name, volPath(name), got)
		}
	}
	n := h.cluster.Nodes[0]
	if out, err := n.RunGluster("volume", "create", "bad/name", n.Addr+":"+h.cluster.BrickDir(1, "bad"), "force"); err == nil {
		t.Fatalf("gluster accepted a volume name with '/': %s", out)
	}
	time.Sleep(500 * time.Millisecond)
	if got := len(h.objects()); got != 2+len(names)*2 {
		t.Fatalf("%d objects after a refused create; want %d", got, 2+len(names)*2)
	}
}
