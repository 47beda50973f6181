package exporter

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/bus"
)

// HandshakeTimeout bounds connecting to the bus and taking the name: a bus
// that does not answer within it is tried again later.
const HandshakeTimeout = 30 * time.Second

// Dial connects to a bus ("system", "session" or a D-Bus address) and
// serves the exporter's objects on the connection; it gives up when ctx
// ends.
func (e *Exporter) Dial(ctx context.Context, address string) (*bus.Conn, error) {
	return bus.Dial(ctx, address, HandshakeTimeout, dbus.WithHandler(e))
}

// Claim sets conn as the connection signals go out on and takes the
// well-known name, giving up after HandshakeTimeout or when ctx ends.
func (e *Exporter) Claim(ctx context.Context, conn *bus.Conn) error {
	e.SetConn(conn)
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	var reply uint32
	err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.RequestName", 0, BusName, uint32(dbus.NameFlagDoNotQueue)).Store(&reply)
	if err != nil {
		return fmt.Errorf("requesting bus name %s: %w", BusName, err)
	}
	if r := dbus.RequestNameReply(reply); r != dbus.RequestNameReplyPrimaryOwner && r != dbus.RequestNameReplyAlreadyOwner {
		return fmt.Errorf("bus name %s is owned by another process (another glusterbus, or storaged/udisks with its GlusterFS module?)", BusName)
	}
	return nil
}
