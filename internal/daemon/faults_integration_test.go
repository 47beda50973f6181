package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// runBus starts a dbus-daemon on a fixed socket and returns a stop func.
func runBus(t *testing.T, sock string) func() {
	t.Helper()
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait(); os.Remove(sock) }) }
	t.Cleanup(stop)
	return stop
}

func waitOwner(t *testing.T, addr string, timeout time.Duration) *dbus.Conn {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := dbus.Connect(addr)
		if err == nil {
			var owner string
			if c.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, exporter.BusName).Store(&owner) == nil {
				return c
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no owner of %s on %s after %v", exporter.BusName, addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBusRestart: the bus goes away and comes back; the daemon reconnects,
// takes its name again and serves every object.
func TestBusRestart(t *testing.T) {
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		testbed.Missing(t, "no dbus-daemon: %v", err)
	}
	sock := filepath.Join(t.TempDir(), "bus.sock")
	addr := "unix:path=" + sock
	stop := runBus(t, sock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Bus: addr, Gluster: []string{"false"}, GlusterdWorkdir: t.TempDir(),
			StateDir: t.TempDir(), Interval: time.Hour, CLITimeout: time.Second, EventsPort: -1, Logger: quietLogger()})
	}()
	defer func() { cancel(); <-done }()
	waitOwner(t, addr, 20*time.Second).Close()

	stop()
	runBus(t, sock)
	c := waitOwner(t, addr, 30*time.Second)
	defer c.Close()
	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := c.Object(exporter.BusName, exporter.RootPath).Call("org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Store(&objs); err != nil {
		t.Fatal(err)
	}
	if objs[exporter.ManagerPath] == nil || objs[exporter.GlusterdPath] == nil {
		t.Fatalf("objects after reconnect: %v", objs)
	}
}

// glusterProcs counts gluster CLI processes talking to a node's socket.
func glusterProcs(sock string) int {
	out, _ := exec.Command("pgrep", "-f", "--", "--glusterd-sock="+sock).Output()
	return len(strings.Fields(string(out)))
}

// TestGlusterdFaults: glusterd hangs (the CLI times out, without a pile-up
// of CLI processes), then stops and restarts; the last good state stays on
// the bus throughout and Glusterd tells what is wrong.
func TestGlusterdFaults(t *testing.T) {
	h := start(t, 1, func(c *testbed.Cluster) {
		c.Nodes[0].Gluster(t, "volume", "create", "keep", c.Nodes[0].Addr+":"+c.BrickDir(1, "keep"), "force")
	}, func(cfg *daemon.Config) { cfg.CLITimeout = 3 * time.Second })
	n := h.cluster.Nodes[0]
	pidData, err := os.ReadFile(n.PidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(pidData), &pid)
	gd := exporter.GlusterdPath

	// Hang: SIGSTOP glusterd, then ask for many refreshes at once.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- h.call(exporter.ManagerPath, exporter.ManagerInterface+".RefreshVolume", "keep", map[string]dbus.Variant{}).Err
		}()
	}
	most := 0
	for range 60 {
		most = max(most, glusterProcs(n.Socket))
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil || (errName(err) != exporter.ErrorTimedout && errName(err) != exporter.ErrorFailed) {
			t.Fatalf("refresh against a hung glusterd: %v", err)
		}
	}
	if most > 4 {
		t.Fatalf("%d gluster CLI processes at once against a hung glusterd; want at most 4", most)
	}
	if h.prop(volPath("keep"), exporter.VolumeInterface, "Status") != "Created" {
		t.Fatal("the last good state left the bus while glusterd hung")
	}
	if le, _ := h.prop(gd, exporter.GlusterdInterface, "LastError").(string); le == "" {
		t.Fatal("Glusterd.LastError empty while glusterd hangs")
	}
	syscall.Kill(pid, syscall.SIGCONT)
	stopped = false
	h.waitFor("CLI processes gone", 10*time.Second, func() bool { return glusterProcs(n.Socket) == 0 })
	if err := h.call(exporter.ManagerPath, exporter.ManagerInterface+".Reload", map[string]dbus.Variant{}).Err; err != nil {
		t.Fatalf("Reload after glusterd resumed: %v", err)
	}
	if le := h.prop(gd, exporter.GlusterdInterface, "LastError"); le != "" {
		t.Fatalf("LastError after recovery: %v", le)
	}

	// Stop and restart.
	n.StopGlusterd(t)
	h.waitFor("Running false", 15*time.Second, func() bool { return h.prop(gd, exporter.GlusterdInterface, "Running") == false })
	if h.prop(volPath("keep"), exporter.VolumeInterface, "Status") != "Created" {
		t.Fatal("the last good state left the bus while glusterd was down")
	}
	n.StartGlusterd(t)
	h.waitFor("Running true", 30*time.Second, func() bool { return h.prop(gd, exporter.GlusterdInterface, "Running") == true })
}

// TestJournalDiskFull: the journal's disk fills up; events wait, the
// manager shows why, and once space returns every event is journaled and
// published, in order.
func TestJournalDiskFull(t *testing.T) {
	if os.Getuid() != 0 {
		testbed.Missing(t, "needs root to mount a small tmpfs")
	}
	stateDir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", stateDir).CombinedOutput(); err != nil {
		testbed.Missing(t, "cannot mount a tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", stateDir).Run()
	sock := filepath.Join(t.TempDir(), "bus.sock")
	addr := "unix:path=" + sock
	runBus(t, sock)
	port := freeUDPPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Bus: addr, Gluster: []string{"false"}, GlusterdWorkdir: t.TempDir(),
			StateDir: stateDir, Interval: time.Hour, CLITimeout: time.Second, EventsPort: port,
			EventsAddrs: []string{"127.0.0.1"}, EventsRate: -1, Logger: quietLogger()})
	}()
	defer func() { cancel(); <-done }()
	client := waitOwner(t, addr, 20*time.Second)
	defer client.Close()
	client.AddMatchSignal(dbus.WithMatchMember("Event"))
	sigs := make(chan *dbus.Signal, 10000)
	client.Signal(sigs)

	// Fill the disk.
	filler, err := os.Create(filepath.Join(stateDir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	filler.Close()

	num, _ := nativeevents.Number("CLIENT_CONNECT")
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 2000
	for i := range n {
		fmt.Fprintf(conn, "%d %d client_identifier=x;id=%d;pad=%s", time.Now().Unix(), num, i, strings.Repeat("p", 200))
		if i%100 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	mgr := client.Object(exporter.BusName, exporter.ManagerPath)
	prop := func() string {
		v, err := mgr.GetProperty(exporter.ManagerInterface + ".JournalError")
		if err != nil {
			t.Fatal(err)
		}
		return v.Value().(string)
	}
	deadline := time.Now().Add(20 * time.Second)
	for prop() == "" {
		if time.Now().After(deadline) {
			t.Fatal("JournalError stayed empty with a full disk")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := os.Remove(filepath.Join(stateDir, "filler")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var last uint64
	timeout := time.After(60 * time.Second)
	for len(seen) < n {
		select {
		case s := <-sigs:
			var e event
			if err := dbus.Store(s.Body, &e.Seq, &e.Name, &e.Usec, &e.Node, &e.Object, &e.Fields); err != nil {
				t.Fatal(err)
			}
			if e.Seq != last+1 {
				t.Fatalf("event seq %d after %d", e.Seq, last)
			}
			last = e.Seq
			seen[e.Fields["id"]] = true
		case <-timeout:
			t.Fatalf("only %d of %d events published after space returned (JournalError %q)", len(seen), n, prop())
		}
	}
	if e := prop(); e != "" {
		t.Fatalf("JournalError after recovery: %q", e)
	}
}
