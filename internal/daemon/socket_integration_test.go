package daemon_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// lockFreeReads are the CLI commands whose answers glusterd's socket gives.
var lockFreeReads = []string{"volume info", "peer status", "pool list", "volume get", "system:: getwd", "system:: uuid"}

// TestLockFreeReadsSkipTheCLI runs the daemon with a gluster command that
// records its runs, starts it, changes a volume's options ten times and
// checks that no lock-free read ran the CLI: they all went over glusterd's
// socket, glusterd's working directory included.
func TestLockFreeReadsSkipTheCLI(t *testing.T) {
	var runs string
	h := start(t, 2, func(c *testbed.Cluster) {
		n1, n2 := c.Nodes[0], c.Nodes[1]
		n1.Gluster(t, "volume", "create", "sv", "replica", "2",
			n1.Addr+":"+c.BrickDir(1, "sv"), n2.Addr+":"+c.BrickDir(2, "sv"), "force")
	}, func(cfg *daemon.Config) {
		runs = recordGluster(t, cfg)
		cfg.GlusterdWorkdir = "" // asked of glusterd
	})
	n1, path := h.cluster.Nodes[0], volPath("sv")
	for i := range 10 {
		n1.Gluster(t, "volume", "set", "sv", "user.step", strconv.Itoa(i))
		h.waitFor("option "+strconv.Itoa(i)+" on the bus", 30*time.Second, func() bool {
			opts, _ := h.prop(path, exporter.VolumeInterface, "Options").(map[string]string)
			return opts["user.step"] == strconv.Itoa(i)
		})
	}
	data, _ := os.ReadFile(runs)
	for line := range strings.Lines(string(data)) {
		for _, read := range lockFreeReads {
			if strings.HasPrefix(line, read) {
				t.Errorf("a lock-free read ran the CLI: %s", strings.TrimSpace(line))
			}
		}
	}
	t.Logf("the CLI runs there were:\n%s", data)
}
