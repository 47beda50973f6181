package bus

import "testing"

func TestUnixPath(t *testing.T) {
	for _, c := range []struct {
		addr, path string
		ok         bool
	}{
		{"unix:path=/run/dbus/system_bus_socket", "/run/dbus/system_bus_socket", true},
		{"unix:path=/tmp/a%2cb/bus.sock,guid=0123", "/tmp/a,b/bus.sock", true},
		{"unix:guid=0123,abstract=/tmp/dbus-x", "@/tmp/dbus-x", true},
		{"tcp:host=localhost,port=1234", "", false},
		{"unix:runtime=yes", "", false},
	} {
		path, ok := unixPath(c.addr)
		if path != c.path || ok != c.ok {
			t.Errorf("unixPath(%q) = %q, %v; want %q, %v", c.addr, path, ok, c.path, c.ok)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/x")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/y")
	for in, want := range map[string]string{"system": "unix:path=/x", "session": "unix:path=/y", "unix:path=/z": "unix:path=/z"} {
		if got, err := resolve(in); got != want || err != nil {
			t.Errorf("resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if got, err := resolve("session"); got != "" || err != nil {
		t.Errorf("resolve(session) without an address = %q, %v; want godbus to find it", got, err)
	}
}
