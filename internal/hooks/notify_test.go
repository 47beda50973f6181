package hooks

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/bus"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// manager stands in for the daemon's manager object and records the calls.
type manager struct {
	mu    sync.Mutex
	calls []string
	block chan struct{} // when set, Reload waits for it to be closed
}

func (m *manager) record(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, s)
}

func (m *manager) Reload(opts map[string]dbus.Variant) *dbus.Error {
	m.mu.Lock()
	block := m.block
	m.mu.Unlock()
	if block != nil {
		<-block
	}
	m.record("Reload")
	return nil
}

func (m *manager) RefreshVolume(name string, opts map[string]dbus.Variant) *dbus.Error {
	if name == "missing" {
		return dbus.NewError("org.storaged.Storaged.Error.NotFound", []any{"no volume missing"})
	}
	m.record("RefreshVolume " + name)
	return nil
}

func (m *manager) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func connect(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := bus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// serve exports a manager under the daemon's name on the bus at addr.
func serve(t *testing.T, addr string) *manager {
	t.Helper()
	conn := connect(t, addr)
	m := &manager{}
	if err := conn.Export(m, ManagerPath, ManagerInterface); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v, %v", reply, err)
	}
	return m
}

func TestNotify(t *testing.T) {
	addr := testbus.Start(t)
	client := connect(t, addr)
	ctx := context.Background()

	err := Notify(ctx, client, Request{Op: "create", Volume: "gv0"})
	if !errors.Is(err, ErrDaemonNotRunning) {
		t.Fatalf("without a daemon: %v, want ErrDaemonNotRunning", err)
	}
	t.Logf("without a daemon: %v (%s)", err, errorName(err))
	if err := Notify(ctx, client, Request{Op: "set"}); !errors.Is(err, ErrDaemonNotRunning) {
		t.Fatalf("without a daemon: %v, want ErrDaemonNotRunning", err)
	}

	m := serve(t, addr)
	for _, r := range []Request{{"create", "gv0"}, {"set", ""}, {"delete", "my-vol_2"}} {
		if err := Notify(ctx, client, r); err != nil {
			t.Fatalf("Notify(%+v): %v", r, err)
		}
	}
	want := []string{"RefreshVolume gv0", "Reload", "RefreshVolume my-vol_2"}
	if got := m.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}

	// The daemon's own errors come back as they are, not as "not running".
	err = Notify(ctx, client, Request{Op: "delete", Volume: "missing"})
	if err == nil || errors.Is(err, ErrDaemonNotRunning) || errorName(err) != "org.storaged.Storaged.Error.NotFound" {
		t.Fatalf("refreshing a missing volume: %v", err)
	}

	// A daemon that does not answer in time.
	block := make(chan struct{})
	defer close(block)
	m.mu.Lock()
	m.block = block
	m.mu.Unlock()
	// The daemon stays stuck to the end of the test: a Notify that did not
	// keep its deadline would never return.
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	notified := make(chan error, 1)
	go func() { notified <- Notify(tctx, client, Request{Op: "set"}) }()
	select {
	case err = <-notified:
	case <-time.After(time.Minute):
		t.Fatal("Notify to a stuck daemon still waiting a minute past its deadline")
	}
	if err == nil || errors.Is(err, ErrDaemonNotRunning) {
		t.Fatalf("with a stuck daemon: %v", err)
	}

	if err := Notify(ctx, nil, Request{Op: "set"}); err == nil {
		t.Fatal("Notify without a connection succeeded")
	}
}
