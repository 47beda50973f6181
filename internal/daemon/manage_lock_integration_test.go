package daemon_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/exporter"
)

// readFile returns the file's content, or fails the test.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// statusRunning says whether a `volume status VOL` CLI process talks to the
// glusterd at sock (VOL "all" for every volume).
func statusRunning(sock, vol string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmd, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))
		if strings.Contains(args, "--glusterd-sock="+sock+" ") && strings.Contains(args, " volume status "+vol+" ") {
			return true
		}
	}
	return false
}

// TestManagementMethodWaitsForStatus calls SetOption over D-Bus while the
// daemon's own `volume status` of the volume holds the volume's lock (held
// long here: the other node's glusterd is stopped, and the status waits for
// it). The call must wait for the status to end instead of failing with
// "Another transaction is in progress".
func TestManagementMethodWaitsForStatus(t *testing.T) {
	h := start(t, 2, nil)
	c, n1, n2 := h.cluster, h.cluster.Nodes[0], h.cluster.Nodes[1]
	vol := "admin"
	n1.Gluster(t, "volume", "create", vol, "replica", "2",
		c.Nodes[0].Addr+":"+c.BrickDir(1, vol), c.Nodes[1].Addr+":"+c.BrickDir(2, vol), "force")
	n1.Gluster(t, "volume", "start", vol)
	path := volPath(vol)
	h.waitFor("the volume up", 30*time.Second, func() bool { return h.prop(path, exporter.VolumeInterface, "Health") == "up" })
	// Another started volume, kept busy, makes the reconcile read each quiet
	// volume's status by itself: `volume status all` lists the volumes
	// before it takes any volume's lock.
	n1.Gluster(t, "volume", "create", "other", c.Nodes[0].Addr+":"+c.BrickDir(1, "other"), "force")
	n1.Gluster(t, "volume", "start", "other")
	h.waitFor("the other volume", 30*time.Second, func() bool { return h.prop(volPath("other"), exporter.VolumeInterface, "Status") == "Started" })
	stopPinging := make(chan struct{})
	pinged := make(chan struct{})
	firstPing := make(chan struct{})
	defer func() { close(stopPinging); <-pinged }()
	go func() {
		defer close(pinged)
		for i := 0; ; i++ {
			select {
			case <-stopPinging:
				return
			case <-time.After(100 * time.Millisecond):
				h.call(exporter.ManagerPath, exporter.ManagerInterface+".RefreshVolume", "other", map[string]dbus.Variant{})
				if i == 0 {
					close(firstPing)
				}
			}
		}
	}()
	<-firstPing
	h.waitFor("a `volume status all` begun before the pings to end", 60*time.Second, func() bool { return !statusRunning(n1.Socket, "all") })

	glusterdLog := filepath.Join(n1.LogDir, "glusterd.log")
	statusRequest := []byte("Received status volume req for volume " + vol)
	requestsBefore := bytes.Count(readFile(t, glusterdLog), statusRequest)
	pid := n2.GlusterdPID(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	h.waitFor("the daemon's volume status", 60*time.Second, func() bool { return statusRunning(n1.Socket, vol) })
	// glusterd logs the request, then takes the volume's lock in the same
	// handler and waits for the stopped node.
	h.waitFor("glusterd to take the status request", 60*time.Second, func() bool {
		return bytes.Count(readFile(t, glusterdLog), statusRequest) > requestsBefore
	})

	done := make(chan error, 1)
	go func() {
		done <- h.call(path, exporter.VolumeInterface+".SetOption", "performance.readdir-ahead", "off", map[string]dbus.Variant{}).Err
	}()
	select {
	case err := <-done:
		t.Fatalf("SetOption returned (%v) while the daemon's volume status held the volume's lock", err)
	case <-time.After(time.Second):
	}
	syscall.Kill(pid, syscall.SIGCONT)
	stopped = false
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SetOption after the daemon's volume status: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("SetOption did not return")
	}
	if got := h.prop(path, exporter.VolumeInterface, "Options").(map[string]string)["performance.readdir-ahead"]; got != "off" {
		t.Fatalf("after SetOption: performance.readdir-ahead %q", got)
	}
}
