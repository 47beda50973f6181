package exporter

import (
	"fmt"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/bus"
)

// Dial connects to a bus ("system", "session" or a D-Bus address) and
// serves the exporter's objects on the connection.
func (e *Exporter) Dial(address string) (*dbus.Conn, error) {
	return bus.Connect(address, dbus.WithHandler(e))
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
