package daemon

import (
	"context"
	"os"

	"github.com/godbus/dbus/v5"
)

// glusterdUnitState asks systemd, where it runs, for glusterd.service's
// LoadState and ActiveState; elsewhere both are "".
func glusterdUnitState(ctx context.Context) (load, active string) {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return "", ""
	}
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return "", ""
	}
	defer conn.Close()
	sd := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	var unit dbus.ObjectPath
	if err := sd.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.LoadUnit", 0, "glusterd.service").Store(&unit); err != nil {
		return "", ""
	}
	u := conn.Object("org.freedesktop.systemd1", unit)
	var l, a string
	_ = u.StoreProperty("org.freedesktop.systemd1.Unit.LoadState", &l)
	_ = u.StoreProperty("org.freedesktop.systemd1.Unit.ActiveState", &a)
	return l, a
}
