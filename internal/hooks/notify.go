package hooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// The daemon's names (those of package exporter; repeated here so the hook
// command needs nothing but a bus connection).
const (
	BusName          = "org.storaged.Storaged"
	ManagerPath      = dbus.ObjectPath("/org/storaged/Storaged/Manager")
	ManagerInterface = "org.storaged.Storaged.Manager.GlusterFS"
)

// DefaultTimeout bounds Notify when ctx has no deadline.
const DefaultTimeout = 30 * time.Second

// ErrDaemonNotRunning is returned (wrapped) by Notify when no process owns
// the daemon's bus name.
var ErrDaemonNotRunning = errors.New("the glusterbus daemon is not running")

// Notify asks the daemon to refresh: RefreshVolume(r.Volume, {}) when
// r.Volume is set, Reload({}) otherwise. It waits for the daemon's answer
// until ctx is done, or DefaultTimeout when ctx has no deadline. The call
// does not start the daemon through D-Bus activation: when the name has no
// owner the error satisfies errors.Is(err, ErrDaemonNotRunning).
func Notify(ctx context.Context, conn *dbus.Conn, r Request) error {
	if conn == nil {
		return errors.New("hooks: no bus connection")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	obj := conn.Object(BusName, ManagerPath)
	opts := map[string]dbus.Variant{}
	var call *dbus.Call
	if r.Volume != "" {
		call = obj.CallWithContext(ctx, ManagerInterface+".RefreshVolume", dbus.FlagNoAutoStart, r.Volume, opts)
	} else {
		call = obj.CallWithContext(ctx, ManagerInterface+".Reload", dbus.FlagNoAutoStart, opts)
	}
	if call.Err == nil {
		return nil
	}
	what := "Reload"
	if r.Volume != "" {
		what = fmt.Sprintf("RefreshVolume(%q)", r.Volume)
	}
	switch errorName(call.Err) {
	case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
		return fmt.Errorf("hooks: %s: %w: %w", what, ErrDaemonNotRunning, call.Err)
	}
	return fmt.Errorf("hooks: %s: %w", what, call.Err)
}

// errorName is the D-Bus error name of err, or "".
func errorName(err error) string {
	var v dbus.Error
	if errors.As(err, &v) {
		return v.Name
	}
	var p *dbus.Error
	if errors.As(err, &p) && p != nil {
		return p.Name
	}
	return ""
}
