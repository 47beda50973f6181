//go:build capture

// Regenerate the files in testdata/ from the gluster of this machine, on a
// loopback cluster of three nodes (needs root and glusterfs-server):
//
//	go test -tags capture -run TestCapture -v ./internal/gluster/
package gluster_test

import (
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

func TestCapture(t *testing.T) {
	c := testbed.Start(t, 3)
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]

	// save runs a gluster command on node n and writes its standard output
	// to testdata/name; failing commands are kept too. (In 10.3 every
	// error-*.xml command exits with status 0: the failure is only in
	// <opRet>.)
	save := func(n *testbed.Node, name string, args ...string) string {
		t.Helper()
		out, err := n.RunGluster(args...)
		if err != nil {
			t.Logf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}
	brick := func(node int, name string) string {
		return c.Nodes[node-1].Addr + ":" + c.BrickDir(node, name)
	}
	create := func(vol string, args ...string) {
		t.Helper()
		n1.Gluster(t, append(append([]string{"volume", "create", vol}, args...), "force")...)
	}

	out, err := osexec.Command("gluster", "--version").Output()
	if err != nil {
		t.Fatalf("gluster --version: %v", err)
	}
	if err := os.WriteFile("testdata/version.txt", out, 0o644); err != nil {
		t.Fatal(err)
	}
	save(n1, "uuid-get.txt", "system::", "uuid", "get")
	save(n1, "getwd.txt", "system::", "getwd")
	save(n1, "op-version.xml", "volume", "get", "all", "cluster.op-version", "--xml")
	save(n1, "error-volume-info-missing.xml", "volume", "info", "missing", "--xml")
	save(n1, "volume-info-none.xml", "volume", "info", "all", "--xml")
	save(n1, "volume-status-none-detail.xml", "volume", "status", "all", "detail", "--xml")

	create("dist", brick(1, "dist"), brick(2, "dist"), brick(3, "dist"))
	create("rep3", "replica", "3", brick(1, "rep3"), brick(2, "rep3"), brick(3, "rep3"))
	create("arb", "replica", "3", "arbiter", "1", brick(1, "arb"), brick(2, "arb"), brick(3, "arb"))
	create("disp", "disperse", "3", "redundancy", "1", brick(1, "disp"), brick(2, "disp"), brick(3, "disp"))
	create("distrep", "replica", "3",
		brick(1, "distrep-a"), brick(2, "distrep-a"), brick(3, "distrep-a"),
		brick(1, "distrep-b"), brick(2, "distrep-b"), brick(3, "distrep-b"))
	create("distdisp", "disperse", "3", "redundancy", "1",
		brick(1, "distdisp-a"), brick(2, "distdisp-a"), brick(3, "distdisp-a"),
		brick(1, "distdisp-b"), brick(2, "distdisp-b"), brick(3, "distdisp-b"))
	create("created", "replica", "3", brick(1, "created"), brick(2, "created"), brick(3, "created"))
	create("stopped", brick(1, "stopped"), brick(2, "stopped"))
	create("opts", brick(1, "opts"))
	for _, v := range []string{"dist", "rep3", "arb", "disp", "distrep", "distdisp", "stopped", "opts"} {
		n1.Gluster(t, "volume", "start", v)
	}
	n1.Gluster(t, "volume", "stop", "stopped")
	n1.Gluster(t, "volume", "set", "opts", "performance.cache-size", "64MB")
	n1.Gluster(t, "volume", "set", "opts", "auth.allow", "127.*")
	n1.Gluster(t, "volume", "set", "opts", "diagnostics.brick-log-level", "WARNING")
	n1.Gluster(t, "volume", "set", "opts", "user.note", "hello world")

	save(n1, "volume-info-all.xml", "volume", "info", "all", "--xml")
	save(n1, "volume-info-arb.xml", "volume", "info", "arb", "--xml")
	save(n1, "volume-status-all-detail.xml", "volume", "status", "all", "detail", "--xml")
	save(n1, "volume-status-distrep-detail.xml", "volume", "status", "distrep", "detail", "--xml")
	save(n1, "error-volume-status-stopped-detail.xml", "volume", "status", "stopped", "detail", "--xml")
	save(n1, "error-volume-status-created-detail.xml", "volume", "status", "created", "detail", "--xml")
	save(n1, "error-volume-status-missing-detail.xml", "volume", "status", "missing", "detail", "--xml")
	save(n1, "peer-status.xml", "peer", "status", "--xml")
	save(n1, "pool-list.xml", "pool", "list", "--xml")

	// Node 3's glusterd stopped: a disconnected peer, its bricks left out.
	n3.StopGlusterd(t)
	waitFor(t, "node 3 disconnected", func() bool {
		out, _ := n1.RunGluster("peer", "status", "--xml")
		return strings.Contains(out, "<connected>0</connected>")
	})
	save(n1, "peer-status-node3-down.xml", "peer", "status", "--xml")
	save(n1, "pool-list-node3-down.xml", "pool", "list", "--xml")
	save(n1, "volume-status-all-detail-node3-down.xml", "volume", "status", "all", "detail", "--xml")
	save(n2, "volume-info-rep3-node3-down.xml", "volume", "info", "rep3", "--xml")
	n3.StartGlusterd(t)

	// A killed brick shows offline. This comes last: the killed process
	// can stay a zombie for a while, and glusterd does not start a brick
	// again while its pid is still there.
	pid := c.BrickPID(t, "rep3", 2, c.BrickDir(2, "rep3"))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "brick offline", func() bool {
		out, _ := n1.RunGluster("volume", "status", "rep3", "detail", "--xml")
		return strings.Count(out, "<status>0</status>") == 1
	})
	save(n1, "volume-status-rep3-brick-killed-detail.xml", "volume", "status", "rep3", "detail", "--xml")
}
