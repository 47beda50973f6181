package main

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/busapi"
	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/hooks"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// TestHooksAlone: with only the installed hook scripts to tell it (no
// inotify, no native events, no reconcile), the daemon follows create, set
// and delete made with the gluster CLI.
func TestHooksAlone(t *testing.T) {
	testbed.Require(t)
	bin := filepath.Join(t.TempDir(), "glusterbus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building glusterbus: %v\n%s", err, out)
	}
	c := testbed.Start(t, 1)
	n := c.Nodes[0]
	addr := testbus.Start(t)
	if _, err := hooks.Install(hooks.Options{Workdir: n.Workdir, Binary: bin, Bus: addr}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Bus: addr, Gluster: n.CLI(), GlusterdWorkdir: n.Workdir, StateDir: t.TempDir(),
			Interval: time.Hour, QuietPeriod: 200 * time.Millisecond, CLITimeout: 20 * time.Second, EventsPort: -1, NoWatch: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	defer func() { cancel(); <-done }()
	client, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	prop := func(name string) any {
		v, err := client.Object(busapi.BusName, busapi.VolumePrefix+"hk").GetProperty(busapi.VolumeInterface + "." + name)
		if err != nil {
			return nil
		}
		return v.Value()
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("the daemon", func() bool {
		var owner string
		return client.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, busapi.BusName).Store(&owner) == nil
	})
	n.Gluster(t, "volume", "create", "hk", n.Addr+":"+c.BrickDir(1, "hk"), "force")
	wait("the created volume", func() bool { return prop("Status") == "Created" })
	n.Gluster(t, "volume", "set", "hk", "performance.readdir-ahead", "off")
	wait("the option", func() bool {
		opts, _ := prop("Options").(map[string]string)
		return opts["performance.readdir-ahead"] == "off"
	})
	n.Gluster(t, "volume", "delete", "hk")
	wait("the deletion", func() bool { return prop("Name") == nil })
}
