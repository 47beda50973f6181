package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Mount mounts a volume through FUSE (`mount -t glusterfs`) from the given
// node (1-based) and returns the mount point; it is unmounted when the test
// ends, before the cluster stops. It fails the test where no FUSE mount can
// be made (see Missing).
func (c *Cluster) Mount(t testing.TB, node int, volume string) string {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		Missing(t, "needs /dev/fuse to mount a volume: %v", err)
	}
	n := c.Nodes[node-1]
	dir := filepath.Join(c.Dir, "mnt-"+volume)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(n.LogDir, "mnt-"+volume+".log")
	out, err := exec.Command("mount", "-t", "glusterfs", "-o", "log-file="+log,
		n.Addr+":/"+volume, dir).CombinedOutput()
	if err != nil {
		Missing(t, "cannot mount %s with FUSE: %v %s", volume, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			exec.Command("umount", "-l", dir).Run()
			t.Logf("testbed: umount %s: %v %s", dir, err, out)
		}
	})
	// The mount returns before the client has connected to the bricks.
	deadline := time.Now().Add(startTimeout)
	for {
		if _, err := os.ReadDir(dir); err == nil {
			return dir
		} else if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("testbed: mount of %s not usable after %v: %w", volume, startTimeout, err))
		}
		time.Sleep(pollInterval)
	}
}
