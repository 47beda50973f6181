package exporter

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// Dial connects to a bus: "system", "session", or any D-Bus address such as
// unix:path=/run/x.sock. The exporter serves its objects on the connection.
func (e *Exporter) Dial(bus string) (*dbus.Conn, error) {
	opts := []dbus.ConnOption{dbus.WithHandler(e)}
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

// Claim sets conn as the connection signals go out on and takes the
// well-known name.
func (e *Exporter) Claim(conn *dbus.Conn) error {
	e.SetConn(conn)
	reply, err := conn.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("requesting bus name %s: %w", BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner && reply != dbus.RequestNameReplyAlreadyOwner {
		return fmt.Errorf("bus name %s is owned by another process (another glusterbus, or storaged/udisks with its GlusterFS module?)", BusName)
	}
	return nil
}
