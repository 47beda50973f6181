package daemon_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/objpath"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// lockFreeReads are the CLI commands whose answers glusterd's socket gives.
var lockFreeReads = []string{"volume info", "peer status", "pool list", "volume get", "system:: getwd", "system:: uuid", "get-state"}

// TestLockFreeReadsSkipTheCLI runs the daemon with its defaults (no volume
// lock taken: this node's bricks come from get-state) and a gluster command
// that records its runs, starts it, changes a started replica volume's
// options 40 times and checks that the CLI never ran: every read went over
// glusterd's socket, get-state, glusterd's working directory and release
// included.
func TestLockFreeReadsSkipTheCLI(t *testing.T) {
	var runs string
	h := start(t, 2, func(c *testbed.Cluster) {
		n1, n2 := c.Nodes[0], c.Nodes[1]
		n1.Gluster(t, "volume", "create", "sv", "replica", "2",
			n1.Addr+":"+c.BrickDir(1, "sv"), n2.Addr+":"+c.BrickDir(2, "sv"), "force")
		n1.Gluster(t, "volume", "start", "sv")
	}, func(cfg *daemon.Config) {
		runs = recordGluster(t, cfg)
		cfg.GlusterdWorkdir = ""      // asked of glusterd
		cfg.RemoteBrickStatus = false // the default
	})
	c, n1, path := h.cluster, h.cluster.Nodes[0], volPath("sv")
	// This node's brick of sv, read with get-state, is online on the bus.
	localBrick := exporter.BrickPrefix + dbus.ObjectPath(objpath.Encode(n1.Addr+":"+c.BrickDir(1, "sv")))
	h.waitFor("this node's brick online", 30*time.Second, func() bool {
		return h.prop(localBrick, exporter.BrickInterface, "State") == "online"
	})
	for i := range 40 {
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
	if len(data) > 0 {
		t.Errorf("the CLI ran %d times, want none:\n%s", strings.Count(string(data), "\n"), data)
	}
}
