// Package bus connects to a D-Bus message bus named the way the command
// line names it.
package bus

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// Connect returns a private connection to "system", "session" or any D-Bus
// address (e.g. unix:path=/run/x.sock).
func Connect(bus string, opts ...dbus.ConnOption) (*dbus.Conn, error) {
	var (
		conn *dbus.Conn
		err  error
	)
	switch bus {
	case "system":
		conn, err = dbus.ConnectSystemBus(opts...)
	case "session":
		conn, err = dbus.ConnectSessionBus(opts...)
	default:
		conn, err = dbus.Connect(bus, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to the %s bus: %w", bus, err)
	}
	return conn, nil
}
