package authz_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/authz"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// nobodyGroup is the primary group of the user nobody (65534) on Debian.
const nobodyGroup = "nogroup"

// TestGroupWithoutPolkit: on a bus where polkit neither runs nor can be
// started, a member of the managing group may act and others may not.
// It is the baseline for TestPolkitQuestionFailingDenies.
func TestGroupWithoutPolkit(t *testing.T) {
	addr := testbus.StartOpen(t)
	conn, caller := connectWithCallerAsNobody(t, addr)
	if err := authz.New(conn, nobodyGroup).Check(context.Background(), caller, false); err != nil {
		t.Fatalf("member of the managing group refused: %v", err)
	}
	err := authz.New(conn, "root").Check(context.Background(), caller, false)
	if !errors.Is(err, authz.ErrNotAuthorized) {
		t.Fatalf("caller outside the managing group: %v; want not authorized", err)
	}
}

// TestPolkitQuestionFailingDenies: when the bus fails the call that asks
// whether polkit runs, the caller is denied with an error that says so,
// even though the group check (TestGroupWithoutPolkit) would allow it.
func TestPolkitQuestionFailingDenies(t *testing.T) {
	for _, member := range []string{"NameHasOwner", "ListActivatableNames"} {
		t.Run(member, func(t *testing.T) {
			addr := testbus.StartOpenExcept(t, member)
			conn, caller := connectWithCallerAsNobody(t, addr)
			err := authz.New(conn, nobodyGroup).Check(context.Background(), caller, false)
			if !errors.Is(err, authz.ErrNotAuthorized) {
				t.Fatalf("bus failed %s and the caller got %v; want not authorized", member, err)
			}
			if !strings.Contains(err.Error(), "cannot tell whether polkit runs") || !strings.Contains(err.Error(), member) {
				t.Fatalf("error does not say why: %v", err)
			}
		})
	}
}

// connectWithCallerAsNobody connects to the bus at addr, for the checker,
// and starts a client connected as the user nobody, whose unique name it
// returns: the caller whose rights are checked.
func connectWithCallerAsNobody(t *testing.T, addr string) (*dbus.Conn, string) {
	t.Helper()
	setpriv, gdbus := testbed.NobodyTools(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// gdbus monitor stays connected until killed.
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		gdbus, "monitor", "--address", addr, "--dest", "org.example.Nobody")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		var names []string
		if err := conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			var uid uint32
			if strings.HasPrefix(name, ":") &&
				conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, name).Store(&uid) == nil && uid == 65534 {
				return conn, name
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the client as nobody did not connect within 30s")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
}
