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
	"reflect"
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
	pid := n.GlusterdPID(t)
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
	// glusterd works off what queued while it hung, and a loaded machine may
	// make a read outlast the short CLI timeout of this test: recovery is
	// that a Reload succeeds again, not that the first one does.
	h.waitFor("a Reload to succeed after glusterd resumed", 2*time.Minute, func() bool {
		err := h.call(exporter.ManagerPath, exporter.ManagerInterface+".Reload", map[string]dbus.Variant{}).Err
		if err != nil {
			t.Logf("Reload after glusterd resumed: %v", err)
		}
		return err == nil
	})
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

	filler := fillDisk(t, stateDir)

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
	if err := os.Remove(filler); err != nil {
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

// TestJournalDiskFullUnderLoad: with the journal's disk full, native events
// overflow the queue while the cluster keeps changing. State changes are
// queued under the model's lock and the journal's error is shown on the
// manager, and neither may wait for the other: once space returns, every
// accepted event is journaled and signalled in order, no state change is
// lost, and the daemon still answers.
func TestJournalDiskFullUnderLoad(t *testing.T) {
	stateDir := t.TempDir()
	port := freeUDPPort(t)
	h := start(t, 1, func(c *testbed.Cluster) {
		n1 := c.Nodes[0]
		n1.Gluster(t, "volume", "create", "df", n1.Addr+":"+c.BrickDir(1, "df"), "force")
	}, func(cfg *daemon.Config) {
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", stateDir).CombinedOutput(); err != nil {
			testbed.Missing(t, "cannot mount a tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", stateDir).Run() })
		cfg.StateDir = stateDir
		cfg.EventQueue = 64
		cfg.EventsPort = port
		cfg.EventsAddrs = []string{"127.0.0.1"}
		cfg.EventsRate = -1
	})
	n1 := h.cluster.Nodes[0]
	h.waitFor("the volume", 30*time.Second, func() bool { return h.prop(volPath("df"), exporter.VolumeInterface, "Status") == "Created" })
	since := h.lastSeq()
	journalError := func() string { return h.prop(exporter.ManagerPath, exporter.ManagerInterface, "JournalError").(string) }

	filler := fillDisk(t, stateDir)

	num, _ := nativeevents.Number("CLIENT_CONNECT")
	udp, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for i := range 2000 { // far beyond the queue
		fmt.Fprintf(udp, "%d %d client_identifier=x;id=%d;pad=%s", time.Now().Unix(), num, i, strings.Repeat("p", 200))
		if i%100 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	h.waitFor("JournalError with a full disk", 20*time.Second, func() bool { return journalError() != "" })
	// State changes while the queue is full of native events.
	for i := range 3 {
		n1.Gluster(t, "volume", "set", "df", "user.disk-full", fmt.Sprint(i))
		h.waitFor("the option on the bus", 20*time.Second, func() bool {
			opts, _ := h.prop(volPath("df"), exporter.VolumeInterface, "Options").(map[string]string)
			return opts["user.disk-full"] == fmt.Sprint(i)
		})
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	h.waitFor("JournalError cleared", 60*time.Second, func() bool { return journalError() == "" })

	// The daemon still answers, and journals and signals what comes now.
	n1.Gluster(t, "volume", "set", "df", "user.disk-full", "after")
	h.waitFor("the change after recovery signalled", 30*time.Second, func() bool {
		for _, e := range h.eventSignals(since) {
			if e.Name == "VOLUME_SET" && e.Fields["option.user.disk-full"] == "after" {
				return true
			}
		}
		return false
	})
	last := h.lastSeq()
	h.waitFor("every journaled event signalled", 30*time.Second, func() bool { return len(h.eventSignals(since)) >= int(last-since) })
	signals, journaled := h.eventSignals(since), h.getEvents(since)
	if len(journaled) < int(last-since) || len(signals) < int(last-since) {
		t.Fatalf("%d events journaled, %d signalled, LastSequence %d after %d", len(journaled), len(signals), last, since)
	}
	prevID, values := -1, []string{}
	for i, s := range signals[:last-since] {
		j := journaled[i]
		if s.Seq != since+uint64(i)+1 || j.Seq != s.Seq || s.Name != j.Name || !mapsEqual(s.Fields, j.Fields) {
			t.Fatalf("signal %d is %v, journal has %v, want seq %d", i, s, j, since+uint64(i)+1)
		}
		switch s.Name {
		case "CLIENT_CONNECT":
			var id int
			fmt.Sscan(s.Fields["id"], &id)
			if id <= prevID {
				t.Fatalf("native event id %d after %d", id, prevID)
			}
			prevID = id
		case "VOLUME_SET":
			values = append(values, s.Fields["option.user.disk-full"])
		}
	}
	if prevID < 0 {
		t.Fatal("no native event was journaled")
	}
	if !reflect.DeepEqual(values, []string{"0", "1", "2", "after"}) {
		t.Fatalf("state changes journaled: VOLUME_SET %v", values)
	}
}

// fillDisk writes a file in dir until its file system is full and returns
// the file's path; removing it gives the space back.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}
