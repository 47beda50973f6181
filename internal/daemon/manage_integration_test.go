package daemon_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

func (h *harness) call(path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	return h.client.Object(exporter.BusName, path).Call(method, 0, args...)
}

func errName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	if err != nil {
		return "not a D-Bus error: " + err.Error()
	}
	return ""
}

// TestManagementMethods drives a volume's whole life through the D-Bus
// methods; each call returns only once the bus shows its result.
func TestManagementMethods(t *testing.T) {
	h := start(t, 3, nil)
	c := h.cluster
	none := map[string]dbus.Variant{}
	var bricks []string
	for i, n := range c.Nodes {
		bricks = append(bricks, n.Addr+":"+c.BrickDir(i+1, "m"))
	}
	var path dbus.ObjectPath
	err := h.call(exporter.ManagerPath, exporter.ManagerInterface+".VolumeCreate", "m-1", bricks,
		map[string]dbus.Variant{"replica": dbus.MakeVariant(uint32(3)), "force": dbus.MakeVariant(true)}).Store(&path)
	if err != nil {
		t.Fatal(err)
	}
	if path != volPath("m-1") || h.prop(path, exporter.VolumeInterface, "Status") != "Created" ||
		h.prop(path, exporter.VolumeInterface, "ReplicaCount") != uint32(3) {
		t.Fatalf("after VolumeCreate: %s %v", path, h.objects()[path])
	}
	vol := exporter.VolumeInterface
	steps := []struct {
		method string
		args   []any
		check  func() bool
	}{
		{"Start", []any{none}, func() bool { return h.prop(path, vol, "Status") == "Started" }},
		{"SetOption", []any{"performance.readdir-ahead", "off", none}, func() bool {
			return h.prop(path, vol, "Options").(map[string]string)["performance.readdir-ahead"] == "off"
		}},
		{"ResetOption", []any{"performance.readdir-ahead", none}, func() bool {
			_, set := h.prop(path, vol, "Options").(map[string]string)["performance.readdir-ahead"]
			return !set
		}},
		{"AddBrick", []any{[]string{c.Nodes[0].Addr + ":" + c.BrickDir(1, "m2"), c.Nodes[1].Addr + ":" + c.BrickDir(2, "m2"), c.Nodes[2].Addr + ":" + c.BrickDir(3, "m2")},
			map[string]dbus.Variant{"force": dbus.MakeVariant(true)}}, func() bool { return h.prop(path, vol, "BrickCount") == uint32(6) }},
		{"Stop", []any{none}, func() bool { return h.prop(path, vol, "Status") == "Stopped" }},
		{"Delete", []any{none}, func() bool { return h.prop(path, vol, "Name") == nil }},
	}
	for _, s := range steps {
		if err := h.call(path, vol+"."+s.method, s.args...).Err; err != nil {
			t.Fatalf("%s: %v", s.method, err)
		}
		if !s.check() {
			t.Fatalf("%s returned before the bus showed its result: %v", s.method, h.objects()[path])
		}
	}

	// Errors: gluster's own message as Failed, bad arguments as InvalidArgument.
	err = h.call(exporter.ManagerPath, exporter.ManagerInterface+".VolumeCreate", "m-2", []string{c.Nodes[0].Addr + ":/nonexistent/dir/b"}, none).Err
	if errName(err) != exporter.ErrorFailed || !strings.Contains(err.Error(), "volume create") {
		t.Fatalf("failing create: %v", err)
	}
	for _, bad := range []struct {
		name   string
		bricks []string
		opts   map[string]dbus.Variant
	}{
		{"-x", bricks, none},
		{"", bricks, none},
		{"ok", []string{"no-path"}, none},
		{"ok", []string{"--mode=script:/x"}, none},
		{"ok", bricks, map[string]dbus.Variant{"replica": dbus.MakeVariant("three")}},
		{"ok", bricks, map[string]dbus.Variant{"transport": dbus.MakeVariant("carrier-pigeon")}},
		{"a b", bricks, none},
	} {
		err := h.call(exporter.ManagerPath, exporter.ManagerInterface+".VolumeCreate", bad.name, bad.bricks, bad.opts).Err
		if errName(err) != exporter.ErrorInvalidArgument {
			t.Errorf("VolumeCreate(%q, %v, %v): %v", bad.name, bad.bricks, bad.opts, err)
		}
	}
	if err := h.call(exporter.ManagerPath, exporter.ManagerInterface+".RefreshVolume", "never-existed", none).Err; errName(err) != exporter.ErrorNotFound {
		t.Fatalf("RefreshVolume of an unknown volume: %v", err)
	}
}

// TestEveryMethodImplemented: every method api/ declares has a handler.
func TestEveryMethodImplemented(t *testing.T) {
	if u := daemonUnhandled(t); len(u) != 0 {
		t.Fatalf("declared in api/ but not implemented: %v", u)
	}
}

// TestUnprivilegedCallerRefused: on a bus with no policy of its own, the
// daemon itself refuses changing methods to a user who is neither root nor
// in the managing group, and serves reads to everyone.
func TestUnprivilegedCallerRefused(t *testing.T) {
	setpriv, gdbus := testbed.NobodyTools(t)
	addr := testbus.StartOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Bus: addr, Gluster: []string{"false"}, GlusterdWorkdir: t.TempDir(),
			StateDir: t.TempDir(), Interval: time.Hour, CLITimeout: time.Second, EventsPort: -1, Logger: quietLogger()})
	}()
	defer func() { cancel(); <-done }()
	asNobody := func(args ...string) (string, error) {
		cmd := exec.Command(setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", gdbus, "call", "--address", addr,
			"--dest", exporter.BusName}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := asNobody("--object-path", string(exporter.ManagerPath), "--method", exporter.ManagerInterface+".LastSequence", "{}")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nobody cannot read: %v %s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, read := range [][]string{
		{"--object-path", string(exporter.RootPath), "--method", "org.freedesktop.DBus.ObjectManager.GetManagedObjects"},
		{"--object-path", string(exporter.ManagerPath), "--method", "org.freedesktop.DBus.Properties.GetAll", exporter.ManagerInterface},
		{"--object-path", string(exporter.ManagerPath), "--method", exporter.ManagerInterface + ".GetEvents", "0", "10", "{}"},
		{"--object-path", "/", "--method", "org.freedesktop.DBus.Introspectable.Introspect"},
	} {
		if out, err := asNobody(read...); err != nil {
			t.Errorf("nobody refused a read %v: %v %s", read, err, out)
		}
	}
	for _, change := range [][]string{
		{"--object-path", string(exporter.ManagerPath), "--method", exporter.ManagerInterface + ".Reload", "{}"},
		{"--object-path", string(exporter.ManagerPath), "--method", exporter.ManagerInterface + ".RefreshVolume", "gv0", "{}"},
		{"--object-path", string(exporter.ManagerPath), "--method", exporter.ManagerInterface + ".VolumeCreate", "gv0", "['h:/b']", "{}"},
	} {
		out, err := asNobody(change...)
		if err == nil || !strings.Contains(out, exporter.ErrorNotAuthorized) {
			t.Errorf("nobody was not refused %v: %v %s", change, err, out)
		}
	}
}

func daemonUnhandled(t *testing.T) []string { return daemon.Unhandled(t) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
