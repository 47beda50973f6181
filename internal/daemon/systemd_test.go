package daemon

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/testbus"
)

// systemdOnBus answers, on a private bus under systemd's name, the calls
// systemdUnit makes, and records who made them. While hang is set,
// property reads get no answer.
type systemdOnBus struct {
	mu      sync.Mutex
	senders []dbus.Sender
	hang    chan struct{}
}

func (s *systemdOnBus) LoadUnit(sender dbus.Sender, name string) (dbus.ObjectPath, *dbus.Error) {
	s.mu.Lock()
	s.senders = append(s.senders, sender)
	s.mu.Unlock()
	return "/org/freedesktop/systemd1/unit/glusterd_2eservice", nil
}

func (s *systemdOnBus) Get(iface, prop string) (dbus.Variant, *dbus.Error) {
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	if hang != nil {
		<-hang
	}
	return dbus.MakeVariant(map[string]string{"LoadState": "loaded", "ActiveState": "active"}[prop]), nil
}

func (s *systemdOnBus) callers() []dbus.Sender {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dbus.Sender(nil), s.senders...)
}

func startSystemdOnBus(t *testing.T, addr string) *systemdOnBus {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &systemdOnBus{}
	if err := conn.Export(s, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(s, "/org/freedesktop/systemd1/unit/glusterd_2eservice", "org.freedesktop.DBus.Properties"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("taking systemd's name: %v %v", reply, err)
	}
	return s
}

// TestSystemdUnitState: reads share one connection, a systemd that does not
// answer costs at most the timeout, and the next read connects again.
func TestSystemdUnitState(t *testing.T) {
	addr := testbus.Start(t)
	sd := startSystemdOnBus(t, addr)
	dials := 0
	u := &systemdUnit{name: "glusterd.service", timeout: 500 * time.Millisecond, dial: func() (*dbus.Conn, error) {
		dials++
		return dbus.Connect(addr)
	}}
	t.Cleanup(func() {
		if u.conn != nil {
			u.conn.Close()
		}
	})
	ctx := context.Background()
	for i := range 3 {
		if load, active := u.state(ctx); load != "loaded" || active != "active" {
			t.Fatalf("read %d: %q %q", i, load, active)
		}
	}
	if got := sd.callers(); dials != 1 || len(got) != 3 || got[0] != got[1] || got[1] != got[2] {
		t.Fatalf("3 reads made %d connections, calls came from %v; want one connection", dials, got)
	}

	hang := make(chan struct{})
	defer close(hang)
	sd.mu.Lock()
	sd.hang = hang
	sd.mu.Unlock()
	// systemd hangs to the end of the test: a read that did not keep its
	// timeout would never return.
	read := make(chan [2]string, 1)
	go func() {
		load, active := u.state(ctx)
		read <- [2]string{load, active}
	}()
	select {
	case got := <-read:
		if got != [2]string{"", ""} {
			t.Errorf("a hung systemd answered %q", got)
		}
	case <-time.After(time.Minute):
		t.Fatalf("a read from a hung systemd still waiting after a minute; the timeout is %v", u.timeout)
	}

	sd.mu.Lock()
	sd.hang = nil
	sd.mu.Unlock()
	if load, active := u.state(ctx); load != "loaded" || active != "active" {
		t.Fatalf("after systemd answered again: %q %q", load, active)
	}
	if got := sd.callers(); dials != 2 || got[len(got)-1] == got[0] {
		t.Errorf("after a failed read: %d connections made, last call from %s; want a new connection", dials, got[len(got)-1])
	}
}
