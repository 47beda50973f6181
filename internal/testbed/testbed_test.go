package testbed

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestAvailable(t *testing.T) {
	if err := Available(); err != nil {
		t.Logf("integration tests unavailable: %v", err)
	}
}

func TestCluster(t *testing.T) {
	c := Start(t, 3)
	if len(c.Nodes) != 3 || c.Net < 1 || c.Net > 250 {
		t.Fatalf("cluster %+v", c)
	}
	for _, n := range c.Nodes {
		if !strings.HasPrefix(n.Addr, "127.1.") {
			t.Errorf("node %d address %s", n.Index, n.Addr)
		}
	}
	n1 := c.Nodes[0]
	out := n1.Gluster(t, "pool", "list")
	for _, n := range c.Nodes[1:] {
		if !strings.Contains(out, n.Addr) {
			t.Errorf("pool list lacks %s:\n%s", n.Addr, out)
		}
	}

	b1, b2 := c.BrickDir(1, "tb-b1"), c.BrickDir(2, "tb-b2")
	n1.Gluster(t, "volume", "create", "tb", "replica", "2", c.Nodes[0].Addr+":"+b1, c.Nodes[1].Addr+":"+b2, "force")
	n1.Gluster(t, "volume", "start", "tb")
	pid := c.BrickPID(t, "tb", 2, b2)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("brick pid %d: %v", pid, err)
	}

	c.Nodes[2].StopGlusterd(t)
	if _, err := c.Nodes[2].RunGluster("peer", "status"); err == nil {
		t.Error("stopped glusterd still answers")
	}
	c.Nodes[2].StartGlusterd(t)
	c.Nodes[2].Gluster(t, "volume", "info", "tb")

	// Cleanup must leave no process of the cluster behind.
	dir := c.Dir
	c.stop()
	if s := c.strays(); len(s) > 0 {
		t.Errorf("processes left after stop: %v", s)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s not removed: %v", dir, err)
	}
}

func TestConcurrentClustersGetDistinctNets(t *testing.T) {
	Require(t)
	a, err := newCluster(1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.stop()
	b, err := newCluster(1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.stop()
	if a.Net == b.Net || a.Dir == b.Dir {
		t.Fatalf("clusters share net %d / dir %s", a.Net, a.Dir)
	}
}

func TestLogTail(t *testing.T) {
	n := &Node{LogDir: t.TempDir()}
	if got := n.logTail(); got != "" {
		t.Errorf("tail of no logs = %q", got)
	}
	var log strings.Builder
	for i := 1; i <= 50; i++ {
		log.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	if err := os.WriteFile(filepath.Join(n.LogDir, "glusterd.log"), []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := n.logTail()
	if !strings.Contains(got, "glusterd.log") || !strings.HasSuffix(got, "line 50\n") ||
		!strings.Contains(got, "\nline 21\n") || strings.Contains(got, "line 20\n") {
		t.Errorf("tail = %q", got)
	}
}
