package daemon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/objpath"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// harness runs the daemon against node 1 of a real cluster on a private bus
// and records every signal it sends.
type harness struct {
	t       *testing.T
	cluster *testbed.Cluster
	client  *dbus.Conn
	mu      sync.Mutex
	signals []*dbus.Signal
	// restart stops the daemon and starts it again with the same
	// configuration and state directory (harnesses made by start).
	restart func()
}

// newHarness returns a harness that records every signal the daemon sends
// to client.
func newHarness(t *testing.T, c *testbed.Cluster, client *dbus.Conn) *harness {
	t.Helper()
	h := &harness{t: t, cluster: c, client: client}
	if err := client.AddMatchSignal(dbus.WithMatchSender(exporter.BusName)); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *dbus.Signal, 1024)
	client.Signal(ch)
	go func() {
		for s := range ch {
			h.mu.Lock()
			h.signals = append(h.signals, s)
			h.mu.Unlock()
		}
	}()
	return h
}

func start(t *testing.T, nodes int, beforeServe func(c *testbed.Cluster), tune ...func(*daemon.Config)) *harness {
	t.Helper()
	testbed.Require(t)
	c := testbed.Start(t, nodes)
	if beforeServe != nil {
		beforeServe(c)
	}
	addr := testbus.Start(t)
	logOut := io.Writer(io.Discard)
	if testing.Verbose() {
		logOut = os.Stderr
	}
	cfg := daemon.Config{
		Bus:             addr,
		Gluster:         c.Nodes[0].CLI(),
		GlusterdWorkdir: c.Nodes[0].Workdir,
		GlusterdSocket:  c.Nodes[0].Socket,
		StateDir:        t.TempDir(),
		Interval:        time.Second,
		QuietPeriod:     500 * time.Millisecond,
		// Most tests look at every node's bricks, which only `volume
		// status` reads; the tests of the default turn it off.
		RemoteBrickStatus: true,
		CLITimeout:        20 * time.Second,
		EventsPort:        0, // a free port; glusterd's own datagrams go to 55555
		EventsAddrs:       []string{"127.0.0.1", "::1"},
		Logger:            slog.New(slog.NewTextHandler(logOut, nil)),
	}
	for _, f := range tune {
		f(&cfg)
	}
	var cancel context.CancelFunc
	var done chan error
	run := func() {
		var ctx context.Context
		ctx, cancel = context.WithCancel(context.Background())
		done = make(chan error, 1)
		go func() { done <- daemon.Run(ctx, cfg) }()
	}
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}
	run()
	t.Cleanup(func() { stop() })
	client, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	h := newHarness(t, c, client)
	owned := func() {
		h.waitFor("the daemon to own its name", 30*time.Second, func() bool {
			var owner string
			return client.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, exporter.BusName).Store(&owner) == nil
		})
	}
	owned()
	h.restart = func() {
		stop()
		run()
		owned()
	}
	return h
}

// waitFor polls cond until it holds, for at least a minute: a deadline is
// not a speed claim, and on a loaded machine what takes milliseconds alone
// can take seconds.
func (h *harness) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	timeout = max(timeout, time.Minute)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) objects() map[dbus.ObjectPath]map[string]map[string]dbus.Variant {
	var out map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	err := h.client.Object(exporter.BusName, exporter.RootPath).Call("org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Store(&out)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) prop(path dbus.ObjectPath, iface, name string) any {
	objs := h.objects()
	if objs[path] == nil || objs[path][iface] == nil {
		return nil
	}
	v, ok := objs[path][iface][name]
	if !ok {
		return nil
	}
	return v.Value()
}

// signalSeen reports whether a signal matching the predicate arrived after
// index from.
func (h *harness) signalSeen(from int, match func(*dbus.Signal) bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.signals[min(from, len(h.signals)):] {
		if match(s) {
			return true
		}
	}
	return false
}

func (h *harness) mark() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.signals)
}

func volPath(name string) dbus.ObjectPath {
	return exporter.VolumePrefix + dbus.ObjectPath(objpath.Encode(name))
}

func added(path dbus.ObjectPath) func(*dbus.Signal) bool {
	return func(s *dbus.Signal) bool {
		return s.Name == "org.freedesktop.DBus.ObjectManager.InterfacesAdded" && s.Body[0].(dbus.ObjectPath) == path
	}
}

func removed(path dbus.ObjectPath) func(*dbus.Signal) bool {
	return func(s *dbus.Signal) bool {
		return s.Name == "org.freedesktop.DBus.ObjectManager.InterfacesRemoved" && s.Body[0].(dbus.ObjectPath) == path
	}
}

func changed(path dbus.ObjectPath, prop string, value any) func(*dbus.Signal) bool {
	return func(s *dbus.Signal) bool {
		if s.Name != "org.freedesktop.DBus.Properties.PropertiesChanged" || s.Path != path {
			return false
		}
		v, ok := s.Body[1].(map[string]dbus.Variant)[prop]
		return ok && (value == nil || fmt.Sprint(v.Value()) == fmt.Sprint(value))
	}
}

func TestVolumeLifecycleSignals(t *testing.T) {
	h := start(t, 3, func(c *testbed.Cluster) {
		n1 := c.Nodes[0]
		n1.Gluster(t, "volume", "create", "pre-existing", n1.Addr+":"+c.BrickDir(1, "pre"), "force")
	})
	c, n1 := h.cluster, h.cluster.Nodes[0]
	if got := h.prop(volPath("pre-existing"), exporter.VolumeInterface, "Status"); got != "Created" {
		t.Fatalf("pre-existing volume at start: Status = %v", got)
	}

	vol := "gv-1"
	path := volPath(vol)
	m := h.mark()
	bricks := []string{}
	for i := range c.Nodes {
		bricks = append(bricks, c.Nodes[i].Addr+":"+c.BrickDir(i+1, "gv1"))
	}
	n1.Gluster(t, append([]string{"volume", "create", vol, "replica", "3"}, append(bricks, "force")...)...)
	h.waitFor("InterfacesAdded for the new volume", 5*time.Second, func() bool { return h.signalSeen(m, added(path)) })

	m = h.mark()
	n1.Gluster(t, "volume", "start", vol)
	h.waitFor("Status Started", 5*time.Second, func() bool { return h.signalSeen(m, changed(path, "Status", "Started")) })
	h.waitFor("Health up once bricks are read", 20*time.Second, func() bool {
		return h.prop(path, exporter.VolumeInterface, "Health") == "up"
	})

	m = h.mark()
	n1.Gluster(t, "volume", "set", vol, "performance.readdir-ahead", "off")
	h.waitFor("Options change", 5*time.Second, func() bool { return h.signalSeen(m, changed(path, "Options", nil)) })
	opts := h.prop(path, exporter.VolumeInterface, "Options").(map[string]string)
	if opts["performance.readdir-ahead"] != "off" {
		t.Fatalf("options after set: %v", opts)
	}

	// A brick process dies: no hook or event says so; the reconcile sees it.
	brickPath := strings.SplitN(bricks[1], ":", 2)[1]
	pid := c.BrickPID(t, vol, 2, brickPath)
	brickObj := exporter.BrickPrefix + dbus.ObjectPath(objpath.Encode(bricks[1]))
	m = h.mark()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the killed brick offline", 30*time.Second, func() bool { return h.signalSeen(m, changed(brickObj, "Online", false)) })
	h.waitFor("Health degraded", 5*time.Second, func() bool { return h.prop(path, exporter.VolumeInterface, "Health") == "degraded" })

	m = h.mark()
	n1.Gluster(t, "volume", "add-brick", vol, "replica", "3",
		c.Nodes[0].Addr+":"+c.BrickDir(1, "gv1b"), c.Nodes[1].Addr+":"+c.BrickDir(2, "gv1b"), c.Nodes[2].Addr+":"+c.BrickDir(3, "gv1b"), "force")
	h.waitFor("BrickCount 6", 5*time.Second, func() bool { return h.signalSeen(m, changed(path, "BrickCount", uint32(6))) })
	newBrick := exporter.BrickPrefix + dbus.ObjectPath(objpath.Encode(c.Nodes[0].Addr+":"+c.BrickDir(1, "gv1b")))
	if !h.signalSeen(m, added(newBrick)) {
		t.Fatal("no InterfacesAdded for the added brick")
	}

	m = h.mark()
	n1.Gluster(t, "volume", "stop", vol)
	h.waitFor("Status Stopped", 5*time.Second, func() bool { return h.signalSeen(m, changed(path, "Status", "Stopped")) })
	if h.prop(path, exporter.VolumeInterface, "Health") != "stopped" {
		t.Fatal("Health of a stopped volume is not stopped")
	}

	m = h.mark()
	n1.Gluster(t, "volume", "delete", vol)
	h.waitFor("InterfacesRemoved", 5*time.Second, func() bool { return h.signalSeen(m, removed(path)) })
	if h.signalSeen(m, removed(path)) && h.prop(path, exporter.VolumeInterface, "Name") != nil {
		t.Fatal("deleted volume still exported")
	}
}

func TestPeerDisconnect(t *testing.T) {
	h := start(t, 3, nil)
	n3 := h.cluster.Nodes[2]
	uuid := strings.TrimSpace(strings.TrimPrefix(n3.Gluster(t, "system::", "uuid", "get"), "UUID:"))
	path := exporter.PeerPrefix + dbus.ObjectPath(objpath.Encode(uuid))
	if h.prop(path, exporter.PeerInterface, "Connected") != true {
		t.Fatalf("peer %s not exported as connected: %v", uuid, h.objects()[path])
	}
	m := h.mark()
	n3.StopGlusterd(t)
	h.waitFor("peer disconnected", 30*time.Second, func() bool { return h.signalSeen(m, changed(path, "Connected", false)) })
	m = h.mark()
	n3.StartGlusterd(t)
	h.waitFor("peer reconnected", 60*time.Second, func() bool { return h.signalSeen(m, changed(path, "Connected", true)) })
}

// TestAdminCommandsNeverLocked runs admin commands, with the pauses a
// person makes, while the daemon (with its defaults) reconciles every second
// and is told of every change: none may fail on a lock the daemon holds,
// and the daemon must run no command that takes one.
func TestAdminCommandsNeverLocked(t *testing.T) {
	var runs string
	testbed.QuotaLock(t)
	h := start(t, 2, nil, func(cfg *daemon.Config) {
		cfg.RemoteBrickStatus = false
		cfg.GlusterdSocket = "" // every read a gluster run, so that each is seen
		runs = recordGluster(t, cfg)
	})
	c, n1 := h.cluster, h.cluster.Nodes[0]
	vol := "busy"
	n1.Gluster(t, "volume", "create", vol, "replica", "2",
		c.Nodes[0].Addr+":"+c.BrickDir(1, "busy"), c.Nodes[1].Addr+":"+c.BrickDir(2, "busy"), "force")
	n1.Gluster(t, "volume", "start", vol)
	// A volume beside it, on the other node.
	n1.Gluster(t, "volume", "create", "idle", c.Nodes[1].Addr+":"+c.BrickDir(2, "idle"), "force")
	n1.Gluster(t, "volume", "start", "idle")
	// Quota on, with a limit: the daemon reads its limits (lock-free) after
	// each change of the volume, and the admin changes them too.
	n1.Gluster(t, "volume", "quota", vol, "enable")
	n1.Gluster(t, "volume", "quota", vol, "limit-usage", "/", "100MB")
	localBrick := exporter.BrickPrefix + dbus.ObjectPath(objpath.Encode(c.Nodes[0].Addr+":"+c.BrickDir(1, "busy")))
	h.waitFor("this node's brick of the busy volume online", 30*time.Second, func() bool {
		return h.prop(localBrick, exporter.BrickInterface, "State") == "online" &&
			h.prop(volPath("idle"), exporter.VolumeInterface, "Status") == "Started"
	})
	quotaLimits := func() []quotaLimit {
		var out []quotaLimit
		dbus.Store([]any{h.prop(volPath(vol), exporter.VolumeInterface, "QuotaLimits")}, &out)
		return out
	}
	h.waitFor("the busy volume's quota limit on the bus", time.Minute, func() bool { return len(quotaLimits()) == 1 })

	commands := 120
	if s := os.Getenv("GLUSTERBUS_ADMIN_COMMANDS"); s != "" {
		fmt.Sscan(s, &commands)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lastLimit := uint64(100)
	for i := range commands {
		var args []string
		switch i % 4 {
		case 0, 2:
			args = []string{"volume", "set", vol, "performance.readdir-ahead", []string{"on", "off"}[i/2%2]}
		case 1:
			args = []string{"volume", "reset", vol, "performance.readdir-ahead"}
		case 3:
			args = []string{"volume", "status", vol} // an admin's own lock-taking read
		}
		if i%10 == 9 { // every tenth: a quota limit, which the daemon then reads
			lastLimit = uint64(100 + i)
			args = []string{"volume", "quota", vol, "limit-usage", "/", fmt.Sprintf("%dMB", lastLimit)}
		}
		if out, err := n1.RunGluster(args...); err != nil {
			t.Fatalf("admin command %d %v failed: %v\n%s", i, args, err, out)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))) // a person's pause
	}
	// Every read that takes a volume's lock: brick status and tasks, task
	// progress, heal counts from the self-heal daemon, quota, snapshot status.
	for _, locking := range []string{"volume status", "rebalance", "statistics", "quota", "snapshot status"} {
		if found := glusterRuns(t, runs, locking); len(found) != 0 {
			t.Fatalf("the daemon ran %d commands that take a volume's lock, e.g. %s", len(found), found[0])
		}
	}
	// The last limit set shows: the daemon read quota meanwhile, from quotad.
	h.waitFor("the last quota limit on the bus", time.Minute, func() bool {
		l := quotaLimits()
		return len(l) == 1 && l[0].HardLimit == lastLimit<<20
	})
	// The lock-free read that tells this node's bricks, tasks and heal
	// counts ran (snapshot info does not: no volume has a snapshot).
	if len(glusterRuns(t, runs, "get-state")) == 0 {
		t.Error("the daemon never ran get-state")
	}
}

// recordGluster makes the daemon run its gluster command through a
// wrapper that writes each command line to a log first, and returns the
// log's path (see glusterRuns).
func recordGluster(t *testing.T, cfg *daemon.Config) string {
	dir := t.TempDir()
	runs, wrapper := dir+"/runs", dir+"/gluster"
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %s\nexec %s \"$@\"\n", runs, strings.Join(cfg.Gluster, " "))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Gluster = []string{wrapper}
	return runs
}

// glusterRuns returns the command lines in a recordGluster log that
// contain what.
func glusterRuns(t *testing.T, log, what string) []string {
	data, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, what) {
			out = append(out, line)
		}
	}
	return out
}
