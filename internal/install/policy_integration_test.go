package install

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/api"
	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// TestBusPolicyOnASystemBus runs the real daemon on a bus configured like
// Debian's system bus, with the installed policy as its only service
// policy, and calls every method as root, as a member of the managing group
// and as nobody: reads and signals are open to all, changes to root and the
// group only.
func TestBusPolicyOnASystemBus(t *testing.T) {
	if os.Geteuid() != 0 {
		testbed.Missing(t, "the bus policy test runs as root (it starts clients as other users)")
	}
	for _, tool := range []string{"dbus-daemon", "gdbus", "setpriv", "groupadd", "groupdel", "useradd", "userdel"} {
		if _, err := exec.LookPath(tool); err != nil {
			testbed.Missing(t, "%s is needed: %v", tool, err)
		}
	}
	systemConf, err := os.ReadFile("/usr/share/dbus-1/system.conf")
	if err != nil {
		testbed.Missing(t, "the system bus configuration is needed: %v", err)
	}

	group, member := testbed.Accounts(t, "gbtest")

	dir := t.TempDir()
	// Other users reach the bus socket.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(dir, "root")
	exe := filepath.Join(dir, "glusterbus")
	if err := os.WriteFile(exe, []byte("not run\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Install(Options{Root: root, Group: group, Executable: exe}); err != nil {
		t.Fatal(err)
	}
	policyDir := filepath.Join(root, filepath.Dir(LayoutFor(DefaultPrefix).BusPolicy))
	if entries, _ := os.ReadDir(policyDir); len(entries) != 1 {
		t.Fatalf("%s should hold our policy only: %v", policyDir, entries)
	}
	addr := startSystemLikeBus(t, dir, systemConf, policyDir)

	// The daemon, as root, with a gluster that answers from captured output
	// and the installed configuration (which names the group).
	glusterState := filepath.Join(dir, "gluster")
	gluster := fakeGluster(t, glusterState)
	setVolumes(t, glusterState, "none")
	logs := &testbus.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			Bus:             addr,
			Gluster:         []string{gluster},
			GlusterdWorkdir: t.TempDir(),
			StateDir:        t.TempDir(),
			Interval:        time.Hour,
			EventsPort:      -1,
			ConfigPath:      filepath.Join(root, LayoutFor(DefaultPrefix).Config),
			Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the daemon did not stop")
		}
	})
	waitForOwner(t, addr, done)

	nobody := client{"nobody", []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}}
	admin := client{"group member", []string{"setpriv", "--reuid=" + member, "--regid=" + member, "--init-groups"}}
	superuser := client{"root", nil}
	everyone := []client{nobody, admin, superuser}

	// Signals reach nobody: volumes appear, root reloads, nobody's monitor
	// sees the new objects, the manager's changed Volumes and the events.
	mon := nobody.monitor(t, addr)
	setVolumes(t, glusterState, "all")
	if out, err := superuser.call(addr, BusName, managerPath, mgrIface+".Reload", noOpts); err != nil {
		t.Fatalf("root may not Reload: %v\n%s", err, out)
	}
	for _, sig := range []string{
		"org.freedesktop.DBus.ObjectManager.InterfacesAdded",
		managerPath + ": org.freedesktop.DBus.Properties.PropertiesChanged",
		managerPath + ": " + mgrIface + ".Event",
	} {
		if !mon.waitFor(sig, 20*time.Second) {
			t.Errorf("nobody's monitor saw no %s:\n%s", sig, mon.output())
		}
	}

	objs := managedObjects(t, addr)
	brick := firstBrick(t, objs, volumePath)
	reads := readCalls(t, objs, brick)
	for _, c := range reads {
		for _, who := range everyone {
			if out, err := who.call(addr, BusName, c.path, c.method, c.args...); err != nil {
				t.Errorf("%s may not call %s on %s: %v\n%s", who.name, c.method, c.path, err, out)
			}
		}
	}
	for _, who := range everyone {
		checkIntrospectable(t, who, addr, objs)
	}

	for _, c := range changeCalls {
		// nobody: the bus refuses, or else the daemon does.
		out, err := nobody.call(addr, BusName, c.path, c.method, c.args...)
		if err == nil || !(deniedByBus(out) || strings.Contains(out, "org.storaged.Storaged.Error.NotAuthorized")) {
			t.Errorf("nobody calling %s: want AccessDenied from the bus or NotAuthorized, got %v\n%s", c.method, err, out)
		}
		// The group member and root pass the bus and the daemon's own
		// check: the reads succeed, the others get as far as the gluster
		// CLI, whose failure comes back as Failed with its own message.
		for _, who := range []client{admin, superuser} {
			out, err := who.call(addr, BusName, c.path, c.method, c.args...)
			switch {
			case c.glusterSays == "" && err != nil:
				t.Errorf("%s may not call %s: %v\n%s", who.name, c.method, err, out)
			case c.glusterSays != "" && (err == nil || !strings.Contains(out, "org.storaged.Storaged.Error.Failed") || !strings.Contains(out, c.glusterSays)):
				t.Errorf("%s calling %s: want Failed with gluster's message %q, got %v\n%s", who.name, c.method, c.glusterSays, err, out)
			}
		}
	}
	for _, m := range []call{
		{path: managerPath, method: "org.freedesktop.DBus.Properties.Set", args: []string{mgrIface, "Volumes", "<@ao []>"}},
		{path: managerPath, method: "org.example.NotOurs.Method"},
	} {
		if out, err := nobody.call(addr, BusName, m.path, m.method, m.args...); err == nil || !deniedByBus(out) {
			t.Errorf("nobody calling %s: want AccessDenied from the bus, got %v\n%s", m.method, err, out)
		}
	}
	for _, who := range []client{nobody, admin} {
		out, err := who.call(addr, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.RequestName", BusName, "uint32 4")
		if err == nil || !strings.Contains(out, "org.freedesktop.DBus.Error.AccessDenied") {
			t.Errorf("%s asking for %s: want AccessDenied, got %v\n%s", who.name, BusName, err, out)
		}
	}
}

const (
	managerPath = "/org/storaged/Storaged/Manager"
	mgrIface    = "org.storaged.Storaged.Manager.GlusterFS"
	volumePath  = "/org/storaged/Storaged/glusterfs/volume/rep3"
	volIface    = "org.storaged.Storaged.GlusterFS.Volume"
	noOpts      = "@a{sv} {}"
)

type call struct {
	path, method string
	args         []string
	// glusterSays is the fake gluster's complaint the daemon must pass on
	// for a method that runs the gluster CLI; "" for one that succeeds.
	glusterSays string
}

// changeCalls are every method that changes anything, with what the fake
// gluster answers each.
var changeCalls = []call{
	{managerPath, mgrIface + ".Reload", []string{noOpts}, ""},
	{managerPath, mgrIface + ".RefreshVolume", []string{"rep3", noOpts}, ""},
	{managerPath, mgrIface + ".VolumeCreate", []string{"gv9", "['h:/b1']", noOpts}, "fake gluster cannot volume create gv9 h:/b1"},
	{volumePath, volIface + ".Start", []string{noOpts}, "fake gluster cannot volume start rep3"},
	{volumePath, volIface + ".Stop", []string{noOpts}, "fake gluster cannot volume stop rep3"},
	{volumePath, volIface + ".Delete", []string{noOpts}, "fake gluster cannot volume delete rep3"},
	{volumePath, volIface + ".SetOption", []string{"k", "v", noOpts}, "fake gluster cannot volume set rep3 k v"},
	{volumePath, volIface + ".ResetOption", []string{"k", noOpts}, "fake gluster cannot volume reset rep3 k"},
	{volumePath, volIface + ".AddBrick", []string{"['h:/b2']", noOpts}, "fake gluster cannot volume add-brick rep3 h:/b2"},
}

// readCalls are the calls open to everyone: the object tree, every
// property of each kind of object, the journal, Ping.
func readCalls(t *testing.T, objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant, brick dbus.ObjectPath) []call {
	t.Helper()
	var peer dbus.ObjectPath
	for p, ifaces := range objs {
		if _, ok := ifaces["org.storaged.Storaged.GlusterFS.Peer"]; ok {
			peer = p
			break
		}
	}
	if peer == "" {
		t.Fatalf("no peer object in %v", objs)
	}
	reads := []call{
		{path: "/org/storaged/Storaged", method: "org.freedesktop.DBus.ObjectManager.GetManagedObjects"},
		{path: managerPath, method: mgrIface + ".GetEvents", args: []string{"uint64 0", "uint32 10", noOpts}},
		{path: managerPath, method: mgrIface + ".LastSequence", args: inArgsOf(t, mgrIface, "LastSequence")},
		{path: managerPath, method: "org.freedesktop.DBus.Peer.Ping"},
	}
	for _, o := range []struct {
		path        dbus.ObjectPath
		iface, prop string
	}{
		{managerPath, mgrIface, "Volumes"},
		{"/org/storaged/Storaged/glusterfs/daemons/glusterd", "org.storaged.Storaged.GlusterFS.Glusterd", "Running"},
		{volumePath, volIface, "Status"},
		{brick, "org.storaged.Storaged.GlusterFS.Brick", "Online"},
		{peer, "org.storaged.Storaged.GlusterFS.Peer", "Connected"},
	} {
		reads = append(reads,
			call{path: string(o.path), method: "org.freedesktop.DBus.Properties.Get", args: []string{o.iface, o.prop}},
			call{path: string(o.path), method: "org.freedesktop.DBus.Properties.GetAll", args: []string{o.iface}})
	}
	return reads
}

// inArgsOf gives empty values for a method's input arguments as api/
// declares them now: only options (a{sv}) are expected of reads.
func inArgsOf(t *testing.T, iface, method string) []string {
	t.Helper()
	for _, m := range api.MustInterfaces()[iface].Methods {
		if m.Name != method {
			continue
		}
		var args []string
		for _, a := range m.Args {
			if a.Direction != "in" {
				continue
			}
			if a.Type != "a{sv}" {
				t.Fatalf("%s.%s: no test value for an argument of type %s", iface, method, a.Type)
			}
			args = append(args, noOpts)
		}
		return args
	}
	t.Fatalf("api/ declares no %s.%s", iface, method)
	return nil
}

// managedObjects reads the object tree as root.
func managedObjects(t *testing.T, addr string) map[dbus.ObjectPath]map[string]map[string]dbus.Variant {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := conn.Object(BusName, "/org/storaged/Storaged").Call("org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Store(&objs); err != nil {
		t.Fatal(err)
	}
	return objs
}

func firstBrick(t *testing.T, objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant, volume dbus.ObjectPath) dbus.ObjectPath {
	t.Helper()
	bricks, _ := objs[volume][volIface]["Bricks"].Value().([]dbus.ObjectPath)
	if len(bricks) == 0 {
		t.Fatalf("%s has no bricks: %v", volume, objs[volume])
	}
	return bricks[0]
}

// checkIntrospectable walks the tree from / as who, which calls Introspect
// on every node, and checks that every object and every node above it was
// reached.
func checkIntrospectable(t *testing.T, who client, addr string, objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append(append([]string{}, who.setpriv...), "gdbus", "introspect", "--address", addr,
		"--dest", BusName, "--object-path", "/", "--recurse")
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Errorf("%s cannot introspect the tree: %v\n%s", who.name, err, out)
		return
	}
	nodes := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "node" {
			nodes[f[1]] = true
		}
	}
	for p := range objs {
		for q := string(p); q != "/"; q = filepath.Dir(q) {
			if !nodes[q] {
				t.Errorf("%s's walk of the tree did not reach %s", who.name, q)
			}
		}
	}
}

// startSystemLikeBus runs dbus-daemon with Debian's system bus
// configuration, listening in dir, and reading service policies from
// policyDir only: no host policies, no activation.
func startSystemLikeBus(t *testing.T, dir string, systemConf []byte, policyDir string) string {
	t.Helper()
	sock := filepath.Join(dir, "system_bus_socket")
	conf := string(systemConf)
	for _, r := range []struct {
		re, with string
		required bool
	}{
		{`<listen>[^<]*</listen>`, "<listen>unix:path=" + sock + "</listen>", true},
		{`<pidfile>[^<]*</pidfile>`, "<pidfile>" + filepath.Join(dir, "bus.pid") + "</pidfile>", true},
		{`\s*<user>[^<]*</user>`, "", false},
		{`\s*<standard_system_servicedirs/>`, "", false},
		{`\s*<servicehelper>[^<]*</servicehelper>`, "", false},
		{`\s*<include ignore_missing="yes">[^<]*</include>`, "", false},
		{`\s*<includedir>[^<]*</includedir>`, "", false},
		{`</busconfig>\s*$`, "  <includedir>" + policyDir + "</includedir>\n</busconfig>\n", true},
	} {
		re := regexp.MustCompile(r.re)
		if r.required && !re.MatchString(conf) {
			t.Fatalf("the system bus configuration has no %s", r.re)
		}
		conf = re.ReplaceAllLiteralString(conf, r.with)
	}
	file := filepath.Join(dir, "system.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return testbus.StartConfig(t, file)
}

// fakeGluster writes a gluster command that answers from the captured
// outputs of internal/gluster/testdata, with the volumes of state.
func fakeGluster(t *testing.T, state string) string {
	t.Helper()
	data, err := filepath.Abs("../gluster/testdata")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(state, "gluster")
	err = os.WriteFile(script, []byte(`#!/bin/sh
d='`+data+`'
s='`+state+`'
case "$*" in
--version*) cat "$d/version.txt" ;;
"volume info"*) cat "$s/volume-info.xml" ;;
"volume status"*) cat "$s/volume-status.xml" ;;
"peer status"*) cat "$d/peer-status.xml" ;;
"pool list"*) cat "$d/pool-list.xml" ;;
"volume get all cluster.op-version"*) cat "$d/op-version.xml" ;;
*) echo "fake gluster cannot $*" >&2; exit 1 ;;
esac
`), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	return script
}

// setVolumes makes the fake gluster report the captured cluster "none"
// (no volume) or "all".
func setVolumes(t *testing.T, state, which string) {
	t.Helper()
	for src, dst := range map[string]string{
		"volume-info-" + which + ".xml":          "volume-info.xml",
		"volume-status-" + which + "-detail.xml": "volume-status.xml",
	} {
		b, err := os.ReadFile(filepath.Join("../gluster/testdata", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(state, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func waitForOwner(t *testing.T, addr string, done <-chan error) {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var has bool
		if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, BusName).Store(&has); err != nil {
			t.Fatal(err)
		}
		if has {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the daemon stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nobody owns %s after 30s", BusName)
		}
	}
}

// client runs gdbus as some user.
type client struct {
	name    string
	setpriv []string // the command prefix that becomes the user; nil for root
}

func (c client) call(addr, dest, objPath, method string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append(append([]string{}, c.setpriv...), "gdbus", "call", "--address", addr,
		"--dest", dest, "--object-path", objPath, "--method", method)
	argv = append(argv, args...)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// deniedByBus says the output is the bus's own refusal of a message.
func deniedByBus(out string) bool {
	return strings.Contains(out, "org.freedesktop.DBus.Error.AccessDenied") && strings.Contains(out, "Rejected send message")
}

type monitor struct {
	out  *testbus.Buffer
	seen chan struct{}
}

// monitor starts gdbus monitor on the daemon's name and waits until it
// watches.
func (c client) monitor(t *testing.T, addr string) *monitor {
	t.Helper()
	argv := append(append([]string{}, c.setpriv...), "gdbus", "monitor", "--address", addr, "--dest", BusName)
	cmd := exec.Command(argv[0], argv[1:]...)
	m := &monitor{out: &testbus.Buffer{}}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		pw.Close()
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		var once sync.Once
		for sc.Scan() {
			m.out.Write([]byte(sc.Text() + "\n"))
			if strings.Contains(sc.Text(), "is owned by") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("gdbus monitor did not start:\n%s", m.out.String())
	}
	return m
}

func (m *monitor) waitFor(s string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(m.out.String(), s) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func (m *monitor) output() string { return m.out.String() }
