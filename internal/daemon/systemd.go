package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// systemdTimeout bounds one read of a unit's state: a systemd that does not
// answer must not hold up the refresh that asked.
const systemdTimeout = 5 * time.Second

// glusterdUnit is glusterd.service as systemd, where it runs, sees it.
var glusterdUnit = &systemdUnit{name: "glusterd.service", timeout: systemdTimeout, dial: dialSystemd}

// glusterdUnitState asks systemd, where it runs, for glusterd.service's
// LoadState and ActiveState; elsewhere, or when systemd does not answer,
// both are "".
func glusterdUnitState(ctx context.Context) (load, active string) {
	return glusterdUnit.state(ctx)
}

var errNoSystemd = errors.New("systemd does not run here")

func dialSystemd() (*dbus.Conn, error) {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return nil, errNoSystemd
	}
	return dbus.ConnectSystemBus()
}

// systemdUnit reads one unit's state over one bus connection, kept between
// reads and made again after any error.
type systemdUnit struct {
	name    string
	timeout time.Duration
	dial    func() (*dbus.Conn, error)

	mu   sync.Mutex
	conn *dbus.Conn
}

func (u *systemdUnit) state(ctx context.Context) (load, active string) {
	conn, err := u.connection()
	if err != nil {
		return "", ""
	}
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	load, active, err = u.read(ctx, conn)
	if err != nil {
		u.drop(conn)
		return "", ""
	}
	return load, active
}

func (u *systemdUnit) connection() (*dbus.Conn, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn == nil {
		conn, err := u.dial()
		if err != nil {
			return nil, err
		}
		u.conn = conn
	}
	return u.conn, nil
}

// drop closes a connection that failed, unless another read already
// replaced it.
func (u *systemdUnit) drop(conn *dbus.Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn == conn {
		u.conn = nil
	}
	conn.Close()
}

func (u *systemdUnit) read(ctx context.Context, conn *dbus.Conn) (load, active string, err error) {
	sd := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	var unit dbus.ObjectPath
	if err := sd.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.LoadUnit", 0, u.name).Store(&unit); err != nil {
		return "", "", err
	}
	obj := conn.Object("org.freedesktop.systemd1", unit)
	get := func(prop string) (string, error) {
		var v dbus.Variant
		if err := obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, "org.freedesktop.systemd1.Unit", prop).Store(&v); err != nil {
			return "", err
		}
		s, ok := v.Value().(string)
		if !ok {
			return "", fmt.Errorf("%s.%s is %s, not a string", u.name, prop, v.Signature())
		}
		return s, nil
	}
	if load, err = get("LoadState"); err != nil {
		return "", "", err
	}
	if active, err = get("ActiveState"); err != nil {
		return "", "", err
	}
	return load, active, nil
}
