// Package busapi names what the D-Bus contract in api/ is made of (the bus
// name, object paths, interfaces and error names), for the daemon that
// serves it and the clients that call it alike.
package busapi

import "github.com/godbus/dbus/v5"

// Bus names, paths and interfaces of the contract in api/.
const (
	BusName     = "org.storaged.Storaged"
	RootPath    = dbus.ObjectPath("/org/storaged/Storaged")
	ManagerPath = RootPath + "/Manager"
	GlusterPath = RootPath + "/glusterfs"

	GlusterdPath   = GlusterPath + "/daemons/glusterd"
	VolumePrefix   = GlusterPath + "/volume/"
	BrickPrefix    = GlusterPath + "/brick/"
	PeerPrefix     = GlusterPath + "/peer/"
	SnapshotPrefix = GlusterPath + "/snapshot/"

	ManagerInterface  = "org.storaged.Storaged.Manager.GlusterFS"
	GlusterdInterface = "org.storaged.Storaged.GlusterFS.Glusterd"
	VolumeInterface   = "org.storaged.Storaged.GlusterFS.Volume"
	BrickInterface    = "org.storaged.Storaged.GlusterFS.Brick"
	PeerInterface     = "org.storaged.Storaged.GlusterFS.Peer"
	SnapshotInterface = "org.storaged.Storaged.GlusterFS.Snapshot"

	// Geo-replication sessions: GeoRepPrefix + the session's path element
	// (see exporter.Path).
	GeoRepPrefix    = GlusterPath + "/georep/"
	GeoRepInterface = "org.storaged.Storaged.GlusterFS.GeoReplication"
)

// Error names, as UDisks2 names its errors.
const (
	ErrorFailed          = "org.storaged.Storaged.Error.Failed"
	ErrorNotFound        = "org.storaged.Storaged.Error.NotFound"
	ErrorTimedout        = "org.storaged.Storaged.Error.Timedout"
	ErrorNotAuthorized   = "org.storaged.Storaged.Error.NotAuthorized"
	ErrorInvalidArgument = "org.storaged.Storaged.Error.InvalidArgument"
)
